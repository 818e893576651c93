"""Keras Rescaling and Normalization (issue 14) as a per-channel BatchNorm layer of their own, at the model
input (images in [0, 255] and features of any scale, as physicists feed them) and inside, both IO types,
1,000 random inputs: csim == reference bit for bit, the reference within the derived error bound of Keras."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

import nn2fpga  # noqa: E402
from nn2fpga.ir.errors import ModelError  # noqa: E402
from nn2fpga.testing import assert_csim_matches_reference, error_bound  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.csim]
L = keras.layers
RNG = np.random.default_rng(0)
PRECISION = {"Precision": {"result": "ap_fixed<20,10>", "scale": "ap_fixed<20,4>", "bias": "ap_fixed<20,8>"}}


def _normalization(data: np.ndarray):
    layer = L.Normalization(name="norm")
    layer.adapt(data)
    return layer


def _check(model, x: np.ndarray, io_type: str, kinds: list[str]) -> None:
    project = nn2fpga.convert(model, config={"Model": PRECISION, "IOType": io_type})
    assert [layer.kind for layer in project.graph.layers()] == kinds
    assert_csim_matches_reference(project, x)
    ours, theirs = project.predict(x, backend="reference"), model.predict(x, verbose=0)
    bound = error_bound(project.graph, x)
    assert np.all(np.abs(ours - theirs) <= bound + 1e-6), float(np.max(np.abs(ours - theirs) - bound))
    assert np.mean(bound) < 0.05


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_rescaled_images(io_type: str) -> None:
    keras.utils.set_random_seed(1)
    i = keras.Input((6, 6, 3), name="x")
    scaled = L.Rescaling(1 / 127.5, offset=-1.0, name="scale")(i)
    model = keras.Model(i, L.GlobalAveragePooling2D()(L.Conv2D(4, 3, padding="same", name="c")(scaled)))
    x = RNG.integers(0, 256, size=(1000, 6, 6, 3)).astype(np.float64)
    _check(model, x, io_type, ["Input", "BatchNorm", "Conv2D", "GlobalPool2D"])


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_normalized_features(io_type: str) -> None:
    keras.utils.set_random_seed(2)
    data = RNG.normal(loc=[0.0, 5.0, -3.0, 40.0], scale=[1.0, 0.5, 2.0, 20.0], size=(1000, 4))
    i = keras.Input((4,), name="x")
    hidden = L.Dense(8, activation="relu", name="d")(_normalization(data)(i))
    model = keras.Model(i, L.Rescaling([0.5] * 8, name="half")(hidden))
    _check(model, data, io_type, ["Input", "BatchNorm", "Dense", "BatchNorm"])


def test_inverted_normalization_is_refused() -> None:
    i = keras.Input((4,), name="x")
    model = keras.Model(i, L.Normalization(mean=0.0, variance=1.0, invert=True, name="n")(i))
    with pytest.raises(ModelError, match=r"'n' \(Normalization\): Normalization\(invert=True\) is not supported"):
        nn2fpga.convert(model)
