"""The float64 interpreter: the meaning of each layer kind without any quantization.

One function per layer kind (`FLOAT_OPS`, keyed by the kind name `Layer.kind`); `float_execute` runs
one layer. Calibration, profiling, the error bounds of `nn2fpga.testing` and the CPU head of a split
model (`nn2fpga.runtime.head`) all evaluate float graphs with it, so each kind's float semantics exist
once. The functions read only the layer's own fields (`weight`, `strides`, `fn`, ...), so they run on
IR layers and on the head's records alike.

This module imports only NumPy (the layer classes only for type hints): a generated project carries a
verbatim copy as `host/interpret.py`, which its CPU head runs without nn2fpga installed. `windows`,
the sliding windows of the spatial kinds, lives here for the same reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from nn2fpga.ir.layers import Activation, Add, Concatenate, Conv2D, Dense, GlobalPool2D, Layer, Pool2D


def windows(x: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int], padding, fill: float) -> np.ndarray:
    """(B, Ho, Wo, kh, kw, C) windows of x (B, H, W, C) padded (top, bottom, left, right) with `fill`:
    one definition of how a spatial layer's kernel, strides and padding map onto its input."""
    top, bottom, left, right = padding
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=fill)
    win = np.lib.stride_tricks.sliding_window_view(xp, tuple(kernel), axis=(1, 2))  # (B, H', W', C, kh, kw)
    return win[:, :: strides[0], :: strides[1]].transpose(0, 1, 2, 4, 5, 3)


def float_execute(layer: Layer, *inputs: np.ndarray, preact: bool = False) -> np.ndarray:
    """float64 output of `layer`; with `preact`, a Dense/Conv/Add returns its sum before the fused activation."""
    if layer.kind not in FLOAT_OPS:
        raise NotImplementedError(f"no float evaluation for {layer.kind} ({layer.name!r})")
    return FLOAT_OPS[layer.kind](layer, *inputs, preact=preact)


SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805  # Klambauer et al., arXiv 1706.02515


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# Activation.fn (and the fused `activation` of Dense/Conv/Add) -> its float function
ACTIVATIONS: dict[str, Callable[[Layer, np.ndarray], np.ndarray]] = {
    "linear": lambda layer, x: x,
    "relu": lambda layer, x: np.maximum(x, 0.0),
    "leaky_relu": lambda layer, x: np.where(x >= 0, x, x * layer.alpha),
    "sigmoid": lambda layer, x: 1.0 / (1.0 + np.exp(-x)),
    "tanh": lambda layer, x: np.tanh(x),
    "softmax": lambda layer, x: _softmax(x),
    "hard_sigmoid": lambda layer, x: np.clip(x * layer.slope + layer.offset, 0.0, 1.0),
    "relu_clip": lambda layer, x: _relu_clip(layer, x),
    "elu": lambda layer, x: np.where(x >= 0, x, layer.alpha * np.expm1(np.minimum(x, 0.0))),
    "selu": lambda layer, x: np.where(x >= 0, layer.slope * x, SELU_SCALE * SELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
    "softplus": lambda layer, x: np.logaddexp(0.0, x),
    "swish": lambda layer, x: x / (1.0 + np.exp(-x)),
    "gelu": lambda layer, x: 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0))),
    "hard_swish": lambda layer, x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
    "softsign": lambda layer, x: x / (1.0 + np.abs(x)),
}


def _erf(v: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(v)


def _relu_clip(layer, x: np.ndarray) -> np.ndarray:
    """Keras ReLU(max_value, threshold, negative_slope)."""
    y = np.where(x > layer.threshold, x, layer.alpha * (x - layer.threshold))
    return y if layer.max_value is None else np.where(x >= layer.max_value, layer.max_value, y)


def _activate(layer: Dense | Conv2D | Add, acc: np.ndarray, preact: bool) -> np.ndarray:
    return acc if preact else ACTIVATIONS[layer.activation](layer, acc)


def _dense(layer: Dense, x: np.ndarray, preact: bool = False) -> np.ndarray:
    acc = x @ layer.weight
    return _activate(layer, acc if layer.bias is None else acc + layer.bias, preact)


def _conv(layer: Conv2D, x: np.ndarray, preact: bool = False) -> np.ndarray:
    kernel, n_out = layer.weight.shape[:2], layer.weight.shape[-1]  # weight: (kh, kw, c_in, c_out)
    win = windows(x, kernel, layer.strides, layer.padding, 0.0)
    b, ho, wo = win.shape[:3]
    rows = np.ascontiguousarray(win).reshape(b * ho * wo, -1)
    acc = (rows @ layer.weight.reshape(-1, n_out)).reshape(b, ho, wo, n_out)
    return _activate(layer, acc if layer.bias is None else acc + layer.bias, preact)


def _depthwise(layer: Conv2D, x: np.ndarray, preact: bool = False) -> np.ndarray:
    win = windows(x, layer.weight.shape[:2], layer.strides, layer.padding, 0.0)  # weight: (kh, kw, c, 1)
    acc = np.einsum("bhwijc,ijc->bhwc", win, layer.weight[..., 0])
    return _activate(layer, acc if layer.bias is None else acc + layer.bias, preact)


def window_counts(layer: Pool2D, in_hw: tuple[int, ...]) -> np.ndarray:
    """(1, Ho, Wo, 1): the taps of each window inside the unpadded (in_h, in_w) input, the divisor of Keras's
    average pooling."""
    ones = np.ones((1, in_hw[0], in_hw[1], 1))
    return windows(ones, layer.pool, layer.strides, layer.padding, 0.0).sum(axis=(3, 4))


def _pool(layer: Pool2D, x: np.ndarray, preact: bool = False) -> np.ndarray:
    if layer.op == "max":
        return windows(x, layer.pool, layer.strides, layer.padding, -np.inf).max(axis=(3, 4))
    sums = windows(x, layer.pool, layer.strides, layer.padding, 0.0).sum(axis=(3, 4))
    return sums / window_counts(layer, x.shape[1:3])


def _global_pool(layer: GlobalPool2D, x: np.ndarray, preact: bool = False) -> np.ndarray:
    out = x.max(axis=(1, 2)) if layer.op == "max" else x.mean(axis=(1, 2))
    return out.reshape((x.shape[0], *layer.shape))


def _zero_pad(layer: Layer, x: np.ndarray, preact: bool = False) -> np.ndarray:
    top, bottom, left, right = layer.padding
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))


def _crop(layer: Layer, x: np.ndarray, preact: bool = False) -> np.ndarray:
    top, bottom, left, right = layer.cropping
    return x[:, top : x.shape[1] - bottom, left : x.shape[2] - right, :]


def _upsample(layer: Layer, x: np.ndarray, preact: bool = False) -> np.ndarray:
    return np.repeat(np.repeat(x, layer.factor[0], axis=1), layer.factor[1], axis=2)


def _transpose(layer: Layer, x: np.ndarray, preact: bool = False) -> np.ndarray:
    return np.transpose(x, (0, *(a + 1 for a in layer.perm)))


def _embedding(layer: Layer, x: np.ndarray, preact: bool = False) -> np.ndarray:
    return layer.weight[np.floor(x).astype(np.int64)]


def _layernorm(layer: Layer, x: np.ndarray, preact: bool = False) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + layer.epsilon) * layer.scale + layer.bias


def recurrent_steps(layer: Layer, x: np.ndarray, sigmoid, tanh, cast=lambda role, v: v, dot=None) -> np.ndarray:
    """The time loop of a Recurrent layer (nn2fpga.ir.recurrent), shared by the float interpreter (the exact
    functions) and the bit-exact reference (tables, casts to `role`'s type, an exact `dot`)."""
    dot = dot or (lambda a, w: a @ w)
    u, cell = layer.recurrent.shape[0], layer.cell  # fields only: the head runs records, not layers
    h = np.zeros((x.shape[0], u))
    c = np.zeros_like(h)
    out = []
    for t in range(x.shape[1]):
        ax = dot(x[:, t], layer.weight) + layer.bias
        ah = dot(h, layer.recurrent) + layer.recurrent_bias
        if cell == "simple":
            h = cast("result", tanh(ax + ah))
        elif cell == "lstm":
            a = ax + ah
            i, f, g, o = (a[:, k * u : (k + 1) * u] for k in range(4))
            c = cast("cell", sigmoid(f) * c + sigmoid(i) * tanh(g))
            h = cast("result", sigmoid(o) * tanh(c))
        else:  # gru, reset_after: z, r, h
            z = sigmoid(ax[:, :u] + ah[:, :u])
            r = sigmoid(ax[:, u : 2 * u] + ah[:, u : 2 * u])
            hh = tanh(ax[:, 2 * u :] + r * cast("inner", ah[:, 2 * u :]))
            h = cast("result", z * h + (1.0 - z) * hh)
        out.append(h)
    return np.stack(out, axis=1) if layer.return_sequences else h


def _recurrent(layer: Layer, x: np.ndarray, preact: bool = False) -> np.ndarray:
    return recurrent_steps(layer, x, lambda v: 1.0 / (1.0 + np.exp(-v)), np.tanh)


def _prelu(layer: Layer, x: np.ndarray, preact: bool = False) -> np.ndarray:
    return np.where(x >= 0, x, x * layer.alpha)


MERGE = {
    "add": lambda xs: np.sum(xs, axis=0),
    "subtract": lambda xs: xs[0] - xs[1],
    "multiply": lambda xs: np.prod(xs, axis=0),
    "average": lambda xs: np.mean(xs, axis=0),
    "maximum": lambda xs: np.max(xs, axis=0),
    "minimum": lambda xs: np.min(xs, axis=0),
}


def _add(layer: Add, *xs: np.ndarray, preact: bool = False) -> np.ndarray:
    return _activate(layer, MERGE[getattr(layer, "op", "add")](xs), preact)


def _channel_scale(layer: Layer, x: np.ndarray, v: np.ndarray, preact: bool = False) -> np.ndarray:
    return x * v.reshape((v.shape[0],) + (1,) * (x.ndim - 2) + (v.shape[-1],))


def _dot(layer: Layer, a: np.ndarray, b: np.ndarray, preact: bool = False) -> np.ndarray:
    return (a * b).sum(axis=-1, keepdims=True)


def _concatenate(layer: Concatenate, *xs: np.ndarray, preact: bool = False) -> np.ndarray:
    return np.concatenate(xs, axis=-1)


def _activation(layer: Activation, x: np.ndarray, preact: bool = False) -> np.ndarray:
    return ACTIVATIONS[layer.fn](layer, x)


FLOAT_OPS: dict[str, Callable[..., np.ndarray]] = {
    "Input": lambda layer, x, preact=False: x,
    "Reshape": lambda layer, x, preact=False: x.reshape((x.shape[0], *layer.shape)),
    "Dense": _dense,
    "Conv2D": _conv,
    "DepthwiseConv2D": _depthwise,
    "ZeroPad2D": _zero_pad,
    "Crop2D": _crop,
    "UpSample2D": _upsample,
    "PReLU": _prelu,
    "Transpose": _transpose,
    "Embedding": _embedding,
    "LayerNorm": _layernorm,
    "Recurrent": _recurrent,
    "Pool2D": _pool,
    "GlobalPool2D": _global_pool,
    "Add": _add,
    "Concatenate": _concatenate,
    "Dot": _dot,
    "ChannelScale": _channel_scale,
    "BatchNorm": lambda layer, x, preact=False: x * layer.scale + layer.bias,
    "Activation": _activation,
}
