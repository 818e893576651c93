"""The float64 interpreter (nn2fpga.ir.interpret) against direct loop definitions of each spatial kind."""

from __future__ import annotations

import numpy as np
import pytest

from nn2fpga.ir.interpret import FLOAT_OPS, float_execute
from nn2fpga.ir.kinds import LAYER_KINDS
from nn2fpga.ir.layers import Activation, Add, Conv2D, Dense, DepthwiseConv2D, Pool2D


def test_every_layer_kind_has_a_float_meaning() -> None:
    # calibration, profiling and the CPU head all run FLOAT_OPS: a kind missing here fails in each of them
    assert {kind.__name__ for kind in LAYER_KINDS} == set(FLOAT_OPS)


def _padded(x: np.ndarray, padding: tuple[int, int, int, int], fill: float) -> np.ndarray:
    top, bottom, left, right = padding
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=fill)


def _loop_conv(x: np.ndarray, w: np.ndarray, strides, padding, depthwise: bool) -> np.ndarray:
    """out[b, i, j, o] = sum over the window, one output value at a time."""
    xp = _padded(x, padding, 0.0)
    kh, kw = w.shape[:2]
    ho, wo = (xp.shape[1] - kh) // strides[0] + 1, (xp.shape[2] - kw) // strides[1] + 1
    n_out = w.shape[2] if depthwise else w.shape[3]
    out = np.zeros((x.shape[0], ho, wo, n_out))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, i * strides[0] : i * strides[0] + kh, j * strides[1] : j * strides[1] + kw, :]
            for o in range(n_out):
                if depthwise:
                    out[:, i, j, o] = (patch[..., o] * w[:, :, o, 0]).sum(axis=(1, 2))
                else:
                    out[:, i, j, o] = (patch * w[..., o]).sum(axis=(1, 2, 3))
    return out


# layer kinds
@pytest.mark.parametrize("depthwise", [False, True])
# strides
@pytest.mark.parametrize("strides", [(1, 1), (2, 1)])
# explicit (top, bottom, left, right) padding, asymmetric included
@pytest.mark.parametrize("padding", [(0, 0, 0, 0), (1, 1, 1, 1), (0, 1, 2, 0)])
def test_convolution_equals_loops(depthwise: bool, strides: tuple[int, int], padding: tuple[int, ...]) -> None:
    rng = np.random.default_rng(len(padding) + strides[0])
    x = rng.normal(size=(2, 5, 6, 3))
    w = rng.normal(size=(3, 2, 3, 1 if depthwise else 4))
    bias = rng.normal(size=3 if depthwise else 4)
    cls = DepthwiseConv2D if depthwise else Conv2D
    layer = cls("c", weight=w, bias=bias, strides=strides, padding=padding, activation="relu")
    expected = _loop_conv(x, w, strides, padding, depthwise) + bias
    np.testing.assert_allclose(float_execute(layer, x, preact=True), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(float_execute(layer, x), np.maximum(expected, 0.0), rtol=1e-12, atol=1e-12)


# pooling operations
@pytest.mark.parametrize("op", ["max", "avg"])
def test_pooling_equals_loops(op: str) -> None:
    x = np.random.default_rng(7).normal(size=(2, 5, 5, 2)) - 3.0  # all negative: max must ignore the padding
    padding = (0, 1, 0, 1) if op == "max" else (0, 0, 0, 0)  # average pooling takes no padding
    layer = Pool2D("p", op=op, pool=(2, 2), strides=(2, 2), padding=padding)
    xp = _padded(x, padding, -np.inf)
    reduce = np.max if op == "max" else np.mean
    expected = np.zeros((2, (xp.shape[1] - 2) // 2 + 1, (xp.shape[2] - 2) // 2 + 1, 2))
    for i in range(expected.shape[1]):
        for j in range(expected.shape[2]):
            expected[:, i, j] = reduce(xp[:, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2], axis=(1, 2))
    np.testing.assert_allclose(float_execute(layer, x), expected, rtol=1e-12)


def test_activations_read_their_layer_fields() -> None:
    x = np.array([[-4.0, -1.0, 0.0, 2.0]])
    leaky = Activation("a", fn="leaky_relu", alpha=0.125)
    assert np.array_equal(float_execute(leaky, x), [[-0.5, -0.125, 0.0, 2.0]])
    hard = Activation("h", fn="hard_sigmoid", slope=0.25, offset=0.5)
    assert np.array_equal(float_execute(hard, x), [[0.0, 0.25, 0.5, 1.0]])
    soft = float_execute(Activation("s", fn="softmax"), x)
    np.testing.assert_allclose(soft, np.exp(x) / np.exp(x).sum(), rtol=1e-15)
    # a fused activation applies after the sum; preact returns the sum itself
    dense = Dense("d", weight=np.array([[1.0, -1.0]]), bias=None, activation="relu")
    assert np.array_equal(float_execute(dense, np.array([[3.0]])), [[3.0, 0.0]])
    assert np.array_equal(float_execute(dense, np.array([[3.0]]), preact=True), [[3.0, -3.0]])
    add = Add("s", activation="relu")
    assert np.array_equal(float_execute(add, x, x, -3 * x), np.maximum(-x, 0.0))


def test_unknown_kind_is_named() -> None:
    class Mystery(Dense):
        pass

    with pytest.raises(NotImplementedError, match=r"no float evaluation for Mystery \('m'\)"):
        float_execute(Mystery("m"), np.zeros((1, 1)))
