"""LayerNormalization (issue 14) by the fixed-point algorithm of docs/arithmetic.md: after a Dense, a Conv1D and a
Conv2D, both IO types, 1,000 random inputs at ap_fixed<20,8>: csim == reference bit for bit, the reference
within the (first-order) error bound of Keras, and the bound small."""

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
INIT = {"gamma_initializer": keras.initializers.RandomUniform(0.5, 1.5, seed=1),
        "beta_initializer": keras.initializers.RandomUniform(-0.5, 0.5, seed=2)}  # fmt: skip
MODELS = {
    "dense": ((16,), lambda i: L.LayerNormalization(name="ln", **INIT)(L.Dense(12)(i))),
    "conv1d": ((10, 4), lambda i: L.Flatten()(L.LayerNormalization(name="ln", **INIT)(L.Conv1D(6, 3)(i)))),
    "conv2d": ((6, 6, 3), lambda i: L.Flatten()(L.LayerNormalization(name="ln", **INIT)(L.Conv2D(8, 3)(i)))),
}


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
@pytest.mark.parametrize("case", sorted(MODELS))
def test_layernorm(case: str, io_type: str) -> None:
    shape, body = MODELS[case]
    keras.utils.set_random_seed(3)
    i = keras.Input(shape, name="x")
    model = keras.Model(i, body(i))
    x = np.random.default_rng(0).normal(size=(1000, *shape))
    project = nn2fpga.convert(model, config={"Model": {"Precision": "ap_fixed<20,8>"}, "IOType": io_type})
    assert project.graph["ln"].kind == "LayerNorm"
    assert_csim_matches_reference(project, x)
    ours, theirs = project.predict(x, backend="reference"), model.predict(x, verbose=0)
    bound = error_bound(project.graph, x)
    assert np.all(np.abs(ours - theirs) <= bound + 1e-6), float(np.max(np.abs(ours - theirs) - bound))
    assert np.mean(bound) < 0.1 and np.mean(np.abs(ours - theirs)) < 0.02


def test_rms_scaling_is_refused() -> None:
    i = keras.Input((8,), name="x")
    model = keras.Model(i, L.LayerNormalization(rms_scaling=True, name="ln")(i))
    with pytest.raises(ModelError, match=r"'ln' \(LayerNormalization\): rms_scaling=True is not supported"):
        nn2fpga.convert(model)
