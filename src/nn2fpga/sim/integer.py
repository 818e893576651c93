"""The definition of the reference's sums of products: int64 arithmetic on raw values, one product at a time.

Dense and (depthwise) Conv2D compute cast<result>(act(bias + sum_i cast<accum>(x_i * w_i))) as the C++ layers
do: each exact product is floored to the accumulator's lsb (AP_TRN), then `finish` adds the bias, wraps, applies
a fused ReLU and casts. Slow and readable on purpose: the reference's fast paths (float64 BLAS, the digit-split
`exact_int_matmul`, Winograd) must equal it bit for bit (tests/sim/test_reference.py).
"""

from __future__ import annotations

import functools

import numpy as np

from nn2fpga.ir.interpret import windows
from nn2fpga.ir.layers import Conv2D, Dense, DepthwiseConv2D, Layer


def sum_of_products(layer: Dense | Conv2D, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The layer's output for terms x[i] * w[i] (broadcast) over the leading axis i of the input values x and the
    weights w (both exact values of their types)."""
    t = layer.types
    s = t["input"].frac + t["weight"].frac - t["accum"].frac  # product lsb -> accumulator lsb
    xr, wr = t["input"].to_raw(x).astype(np.int64), t["weight"].to_raw(w).astype(np.int64)
    acc = np.zeros(np.broadcast_shapes(xr.shape[1:], wr.shape[1:]), dtype=np.int64)
    for xi, wi in zip(xr, wr, strict=True):
        p = xi * wi
        acc += (p >> s) if s > 0 else (p << -s)  # int64 wraps like the accumulator (`finish` wraps to its width)
    return finish(layer, acc)


def finish(layer: Dense | Conv2D, acc: np.ndarray) -> np.ndarray:
    """Raw product sums (at the accumulator's lsb) -> add the bias, wrap, activate, cast to the result.

    Casting each product to a coarser accumulator floors it (AP_TRN) and the total wraps (AP_WRAP);
    both commute with adding values already on the accumulator's grid, so the C++ loop order of the
    strategies does not matter.
    """
    t = layer.types
    b_t, acc_t, out_t = t["bias"], t["accum"], t["result"]
    if layer.bias is not None:
        br = b_t.to_raw(layer.bias).astype(np.int64)
        sb = b_t.frac - acc_t.frac
        acc = acc + ((br >> sb) if sb > 0 else (br << -sb))
    if acc.size and acc_t.width < 64 and not (acc_t.raw_min <= acc.min() and acc.max() <= acc_t.raw_max):
        acc = acc_t.sign_extend(acc.view(np.uint64))  # the accumulator wraps (narrow ones are AP_WRAP)
    if layer.activation == "relu":
        np.maximum(acc, 0, out=acc)
    return out_t.from_raw(out_t.cast_raw(acc, acc_t.frac))


@functools.singledispatch
def execute(layer: Layer, x: np.ndarray) -> np.ndarray:
    """The output of a layer with sums of products for its input x (batch, *input shape)."""
    raise NotImplementedError(f"{layer.kind} ({layer.name!r}) has no sums of products")


@execute.register
def _(layer: Dense, x: np.ndarray) -> np.ndarray:
    return sum_of_products(layer, x.T[..., None], layer.weight)  # term i: column x[:, i] times row weight[i]


@execute.register
def _(layer: Conv2D, x: np.ndarray) -> np.ndarray:
    win = windows(x, layer.kernel, layer.strides, layer.padding, 0.0)  # (B, Ho, Wo, kh, kw, C)
    terms = np.moveaxis(win.reshape(*win.shape[:3], -1), -1, 0)[..., None]  # (kh * kw * C, B, Ho, Wo, 1)
    return sum_of_products(layer, terms, layer.weight.reshape(-1, layer.n_out))


@execute.register
def _(layer: DepthwiseConv2D, x: np.ndarray) -> np.ndarray:
    win = windows(x, layer.kernel, layer.strides, layer.padding, 0.0)
    terms = np.moveaxis(win.reshape(*win.shape[:3], -1, win.shape[-1]), 3, 0)  # (kh * kw, B, Ho, Wo, C)
    return sum_of_products(layer, terms, layer.weight.reshape(terms.shape[0], -1))
