"""CNNs in io_parallel (flat channels-last arrays): csim == reference bit for bit, reference ~ Keras;
reuse factors on convolutions; the default IOType of a convolutional model follows its largest map."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

from small_cnns import branches, depthwise, pools, strided, three_way_add  # noqa: E402 - same architectures

import nn2fpga  # noqa: E402
from nn2fpga.passes.hardware import PARALLEL_FEATURE_MAP_LIMIT  # noqa: E402
from nn2fpga.testing import assert_close_to_keras, assert_csim_matches_reference  # noqa: E402

pytestmark = [pytest.mark.keras]
L = keras.layers
PARALLEL = {"IOType": "io_parallel", "Model": {"Precision": "ap_fixed<18,8>"}}


def _io_type(project) -> str:
    return json.loads((project.path / "report.json").read_text())["io_type"]


# architecture
@pytest.mark.csim
@pytest.mark.parametrize("build", [strided, depthwise, pools, branches, three_way_add], ids=lambda f: f.__name__)
def test_small_cnns_parallel(build, tmp_path) -> None:
    keras.utils.set_random_seed(3)
    i = keras.Input((12, 10, 3))
    model = keras.Model(i, build(i))
    x = np.random.default_rng(0).normal(size=(20, 12, 10, 3))
    project = nn2fpga.convert(model, config=PARALLEL, output_dir=tmp_path / "p")
    assert _io_type(project) == "io_parallel"
    assert_csim_matches_reference(project, x)
    assert_close_to_keras(project, model, x)


@pytest.mark.csim
def test_conv_reuse_factors(tmp_path) -> None:
    """ReuseFactor > 1 (Latency and Resource, Conv2D and DepthwiseConv2D) folds each layer into PE x SIMD
    = rows * columns / reuse_factor multipliers, given also as PE / SIMD, and leaves the bits unchanged."""
    keras.utils.set_random_seed(4)
    i = keras.Input((8, 8, 3))
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="c1")(i)  # 27 rows x 4 columns
    x = L.DepthwiseConv2D(3, name="dw")(x)  # 9 taps x 4 channels
    x = L.Conv2D(6, 2, strides=2, name="c2")(x)  # 16 rows x 6 columns
    model = keras.Model(i, L.Dense(3, name="fc")(L.Flatten()(x)))
    config = {
        **PARALLEL,
        "LayerName": {
            "c1": {"ReuseFactor": 9},
            "dw": {"ReuseFactor": 3, "Strategy": "Resource"},
            "c2": {"PE": 3, "SIMD": 2, "Strategy": "Resource"},
        },
    }
    project = nn2fpga.convert(model, config=config, output_dir=tmp_path / "rf")
    params = (project.path / "firmware" / "parameters.h").read_text()
    for name, rf, pe, simd in [("c1", 9, 4, 3), ("dw", 3, 4, 3), ("c2", 16, 3, 2)]:
        body = re.search(rf"struct config_{name} \{{(.*?)\}};", params, re.S).group(1)
        for key, value in (("reuse_factor", rf), ("pe", pe), ("simd", simd), ("multiplier_limit", pe * simd)):
            assert f" {key} = {value};" in body, (key, body)
    report = {lay["name"]: lay for lay in json.loads((project.path / "report.json").read_text())["layers"]}
    assert [report[n]["multipliers"] for n in ("c1", "dw", "c2")] == [12, 12, 6]
    top = (project.path / "firmware" / f"{project.name}.cpp").read_text()
    assert "#pragma HLS DATAFLOW" in top and "PIPELINE" not in top  # folded loops stay loops
    assert "ARRAY_RESHAPE variable = c1_w cyclic factor = 3 dim = 1" in top
    assert "ARRAY_PARTITION variable = c2_w cyclic factor = 3 dim = 2" in top
    x = np.random.default_rng(1).normal(size=(16, 8, 8, 3))
    assert_csim_matches_reference(project, x)
    assert_close_to_keras(project, model, x)


def _cnn(side: int, chan: int):
    i = keras.Input((side, side, chan))
    x = L.Conv2D(chan, 1, name="conv")(i)
    return keras.Model(i, L.Dense(2)(L.GlobalAveragePooling2D()(x)))


def test_default_io_type_follows_largest_feature_map(tmp_path) -> None:
    """Without IOType a CNN whose every map holds <= PARALLEL_FEATURE_MAP_LIMIT values is io_parallel,
    a larger one io_stream; an explicit IOType always wins (the lint refuses io_parallel maps beyond the limit:
    every value is a register)."""
    assert PARALLEL_FEATURE_MAP_LIMIT == 16 * 16 * 16
    cases = [
        (_cnn(16, 16), {}, "io_parallel"),  # 4096 values: at the limit
        (_cnn(16, 17), {}, "io_stream"),  # 4352 values
        (_cnn(16, 17), {"IOType": "io_parallel"}, "io_parallel"),
        (_cnn(4, 3), {"IOType": "io_stream"}, "io_stream"),
    ]
    for k, (model, config, expected) in enumerate(cases):
        project = nn2fpga.convert(model, config=config, output_dir=tmp_path / f"p{k}", lint=k != 2)
        assert _io_type(project) == expected, (k, config)
