"""The float64 interpreter: the meaning of each layer kind without any quantization.

One function per layer kind (`float_execute`). Calibration, profiling, the CPU head of a split
model and the error bounds of `nn2fpga.testing` evaluate float graphs with it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from nn2fpga.ir.layers import (
    Activation,
    Add,
    BatchNorm,
    Concatenate,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    GlobalPool2D,
    Input,
    Layer,
    Pool2D,
    Reshape,
    ZeroPad2D,
)
from nn2fpga.ir.windows import windows


@functools.singledispatch
def float_execute(layer: Layer, *inputs: np.ndarray, preact: bool = False) -> np.ndarray:
    """float64 output of `layer`; with `preact`, a Dense/Conv returns its sum before the fused activation."""
    raise NotImplementedError(f"no float evaluation for {layer.kind} ({layer.name!r})")


@float_execute.register
def _(layer: Input, x: np.ndarray, preact: bool = False) -> np.ndarray:
    return x


@float_execute.register
def _(layer: Reshape, x: np.ndarray, preact: bool = False) -> np.ndarray:
    return x.reshape((x.shape[0], *layer.shape))


def _activate(layer: Dense | Conv2D | Add, acc: np.ndarray, preact: bool) -> np.ndarray:
    return np.maximum(acc, 0.0) if layer.activation == "relu" and not preact else acc


@float_execute.register
def _(layer: Dense, x: np.ndarray, preact: bool = False) -> np.ndarray:
    acc = x @ layer.weight
    return _activate(layer, acc if layer.bias is None else acc + layer.bias, preact)


@float_execute.register
def _(layer: Conv2D, x: np.ndarray, preact: bool = False) -> np.ndarray:
    win = windows(x, layer.kernel, layer.strides, layer.padding, 0.0)
    if isinstance(layer, DepthwiseConv2D):
        acc = np.einsum("bhwijc,ijc->bhwc", win, layer.weight[..., 0])
    else:
        b, ho, wo = win.shape[:3]
        rows = np.ascontiguousarray(win).reshape(b * ho * wo, -1)
        acc = (rows @ layer.weight.reshape(-1, layer.n_out)).reshape(b, ho, wo, layer.n_out)
    return _activate(layer, acc if layer.bias is None else acc + layer.bias, preact)


@float_execute.register
def _(layer: ZeroPad2D, x: np.ndarray, preact: bool = False) -> np.ndarray:
    top, bottom, left, right = layer.padding
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))


@float_execute.register
def _(layer: Pool2D, x: np.ndarray, preact: bool = False) -> np.ndarray:
    if layer.op == "max":
        return windows(x, layer.pool, layer.strides, layer.padding, -np.inf).max(axis=(3, 4))
    return windows(x, layer.pool, layer.strides, layer.padding, 0.0).mean(axis=(3, 4))


@float_execute.register
def _(layer: GlobalPool2D, x: np.ndarray, preact: bool = False) -> np.ndarray:
    out = x.max(axis=(1, 2)) if layer.op == "max" else x.mean(axis=(1, 2))
    return out.reshape((x.shape[0], *layer.shape))


@float_execute.register
def _(layer: Add, *xs: np.ndarray, preact: bool = False) -> np.ndarray:
    return _activate(layer, np.sum(xs, axis=0), preact)


@float_execute.register
def _(layer: Concatenate, *xs: np.ndarray, preact: bool = False) -> np.ndarray:
    return np.concatenate(xs, axis=-1)


@float_execute.register
def _(layer: BatchNorm, x: np.ndarray, preact: bool = False) -> np.ndarray:
    return x * layer.scale + layer.bias


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_FLOAT_FN: dict[str, Callable[[Activation, np.ndarray], np.ndarray]] = {
    "linear": lambda layer, x: x,
    "relu": lambda layer, x: np.maximum(x, 0.0),
    "leaky_relu": lambda layer, x: np.where(x >= 0, x, x * layer.alpha),
    "sigmoid": lambda layer, x: 1.0 / (1.0 + np.exp(-x)),
    "tanh": lambda layer, x: np.tanh(x),
    "softmax": lambda layer, x: _softmax(x),
    "hard_sigmoid": lambda layer, x: np.clip(x * layer.slope + layer.offset, 0.0, 1.0),
}


@float_execute.register
def _(layer: Activation, x: np.ndarray, preact: bool = False) -> np.ndarray:
    return _FLOAT_FN[layer.fn](layer, x)
