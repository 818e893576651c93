"""TableSize (hls4ml's table_size): the entries of each table a layer reads. Any power of two from 64 to 65536, per
model, layer kind or layer; csim == reference bit for bit at every size, the reference within the derived bound
of Keras, and the bound shrinks as the tables grow. Layers that read no table refuse it."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

import nn2fpga  # noqa: E402
from nn2fpga.ir.errors import ConfigError  # noqa: E402
from nn2fpga.testing import assert_close_to_keras, assert_csim_matches_reference  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.csim]


def _model():
    keras.utils.set_random_seed(4)
    i = keras.Input((12,), name="x")
    h = keras.layers.Dense(8, activation="swish", name="d")(i)
    h = keras.layers.LayerNormalization(name="norm")(keras.layers.Dense(8, activation="tanh", name="e")(h))
    return keras.Model(i, keras.layers.Dense(4, activation="softmax", name="o")(h))


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_every_size_is_bit_exact_and_larger_tables_are_closer(io_type: str) -> None:
    model, x = _model(), np.random.default_rng(5).normal(size=(1000, 12))
    means = []
    for size in (64, 1024, 16384):
        config = {"IOType": io_type, "Model": {"Precision": "ap_fixed<24,8>", "TableSize": size}}
        project = nn2fpga.convert(model, config)
        tables = {layer.name: layer.table_size for layer in project.graph.layers() if hasattr(layer, "table_size")}
        assert set(tables.values()) == {size} and {"d_silu", "e_tanh", "norm", "o_softmax"} <= set(tables)
        assert_csim_matches_reference(project, x)
        means.append(float(np.mean(assert_close_to_keras(project, model, x))))
    assert means[0] > means[1] > means[2], means


def test_per_layer_and_written_back(tmp_path) -> None:
    model = _model()
    config = {"Model": {"TableSize": 256}, "LayerName": {"d_silu": {"TableSize": 4096}}}
    project = nn2fpga.convert(model, config, output_dir=tmp_path / "prj")
    tables = {layer.name: layer.table_size for layer in project.graph.layers() if hasattr(layer, "table_size")}
    assert tables["d_silu"] == 4096 and tables["o_softmax"] == tables["norm"] == 256
    again = nn2fpga.convert(model, str(tmp_path / "prj" / "nn2fpga.yml"))  # the written config: the same sizes
    assert {layer.name: layer.table_size for layer in again.graph.layers() if hasattr(layer, "table_size")} == tables


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"LayerType": {"Dense": {"TableSize": 512}}}, "LayerType.Dense.TableSize: Dense reads no table"),
        ({"LayerName": {"d": {"TableSize": 512}}}, "LayerName.d.TableSize: .* reads no table"),
        ({"Model": {"TableSize": 1000}}, "Model.TableSize: expected a power of two from 64 to 65536, got 1000"),
        ({"Model": {"TableSize": 32}}, "Model.TableSize: expected a power of two"),
    ],
)
def test_bad_table_sizes_are_named(config: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        nn2fpga.convert(_model(), config)
