"""The activations beyond the first seven (issue 14): ReLU6 / ReLU(max_value, threshold, negative_slope), ELU, SELU,
softplus, swish (silu), GELU, hard_swish (hard_silu), softsign. Each on 1,000 random inputs after a Dense
(io_parallel) and after a Conv2D (io_stream), at ap_fixed<20,8>: csim == reference bit for bit, and the reference
within the derived error bound of Keras (nn2fpga.testing.error_bound: the measured deviation of tables and casts
plus each function's largest slope times the incoming error)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

import nn2fpga  # noqa: E402
from nn2fpga.testing import assert_csim_matches_reference, error_bound  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.csim]
L = keras.layers
CASES = {
    "relu6": (lambda: L.Activation("relu6"), "relu_clip"),
    "relu_clip": (lambda: L.ReLU(max_value=3.5, threshold=0.5, negative_slope=0.25), "relu_clip"),
    "relu_threshold": (lambda: L.ReLU(threshold=0.75), "relu_clip"),
    "elu_layer": (lambda: L.ELU(alpha=0.7), "elu"),
    "elu": (lambda: L.Activation("elu"), "elu"),
    "selu": (lambda: L.Activation("selu"), "selu"),
    "softplus": (lambda: L.Activation("softplus"), "softplus"),
    "silu": (lambda: L.Activation("silu"), "swish"),
    "gelu": (lambda: L.Activation("gelu"), "gelu"),
    "hard_swish": (lambda: L.Activation("hard_swish"), "hard_swish"),
    "hard_silu": (lambda: L.Activation("hard_silu"), "hard_swish"),
    "softsign": (lambda: L.Activation("softsign"), "softsign"),
}
PRECISION = {"Model": {"Precision": "ap_fixed<20,8>"}}


def _check(model, config: dict, x: np.ndarray, fn: str) -> None:
    project = nn2fpga.convert(model, config=config)
    assert [lay.fn for lay in project.graph.layers() if lay.kind == "Activation"] == [fn]
    assert_csim_matches_reference(project, x)
    ours, theirs = project.predict(x, backend="reference"), model.predict(x, verbose=0)
    bound = error_bound(project.graph, x)
    assert np.all(np.abs(ours - theirs) <= bound + 1e-6), float(np.max(np.abs(ours - theirs) - bound))
    assert np.mean(bound) < 0.05  # and the bound says something


@pytest.mark.parametrize("case", sorted(CASES))
def test_after_a_dense_io_parallel(case: str) -> None:
    make, fn = CASES[case]
    keras.utils.set_random_seed(1)
    i = keras.Input((16,), name="x")
    model = keras.Model(i, make()(L.Dense(12, name="d")(i)))
    _check(model, PRECISION, np.random.default_rng(0).normal(scale=2, size=(1000, 16)), fn)


@pytest.mark.parametrize("case", sorted(CASES))
def test_after_a_conv_io_stream(case: str) -> None:
    make, fn = CASES[case]
    keras.utils.set_random_seed(2)
    i = keras.Input((6, 6, 3), name="x")
    model = keras.Model(i, make()(L.Conv2D(4, 3, name="c")(i)))
    x = np.random.default_rng(1).normal(scale=2, size=(1000, 6, 6, 3))
    _check(model, {**PRECISION, "IOType": "io_stream"}, x, fn)
