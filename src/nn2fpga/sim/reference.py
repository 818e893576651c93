"""Bit-exact NumPy reference: an interpreter with one function per layer kind (DESIGN section 4).

Values flowing between layers are float64 arrays holding exact fixed-point values. Sums are exact
in float64 while the accumulator is at most 53 bits wide (asserted); narrower-than-exact
accumulators (AP_TRN, AP_WRAP) use raw int64 arithmetic instead.
"""

from __future__ import annotations

import functools

import numpy as np

from nn2fpga.errors import UserError
from nn2fpga.ir.graph import Graph
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
    exact_accumulator,
)
from nn2fpga.ir.tables import activation_tables
from nn2fpga.ir.windows import windows

FLOAT_EXACT_BITS = 53


def _as_inputs(graph: Graph, x) -> dict[str, np.ndarray]:
    inputs = graph.inputs()
    if isinstance(x, dict):
        return {k: np.asarray(v, dtype=np.float64) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return {layer.name: np.asarray(v, dtype=np.float64) for layer, v in zip(inputs, x)}
    return {inputs[0].name: np.asarray(x, dtype=np.float64)}


def check_input(graph: Graph, x: dict[str, np.ndarray]) -> None:
    """Raise UserError when inputs are missing or have the wrong shape."""
    for layer in graph.inputs():
        if layer.name not in x:
            raise UserError(f"missing input {layer.name!r}; the model's inputs are {[i.name for i in graph.inputs()]}")
        v = x[layer.name]
        if v.shape[1:] != tuple(layer.shape) or v.ndim != len(layer.shape) + 1:
            raise UserError(
                f"input {layer.name!r} has shape {v.shape}; expected (batch, {', '.join(map(str, layer.shape))})"
            )
        if not np.isfinite(v).all():
            raise UserError(f"input {layer.name!r} contains NaN or Inf values")


def run(graph: Graph, x, trace: bool = False) -> dict[str, np.ndarray]:
    """Outputs by layer name (all layers when `trace`), each (batch, *shape) float64."""
    feeds = _as_inputs(graph, x)
    check_input(graph, feeds)
    env: dict[str, np.ndarray] = {}
    for layer in graph.layers():
        args = (
            [env[p.name] for p in graph.producers(layer.name)] if not isinstance(layer, Input) else [feeds[layer.name]]
        )
        env[layer.name] = execute(layer, *args)
    names = [layer.name for layer in graph.layers()] if trace else graph.outputs
    return {n: env[n] for n in names}


def predict(graph: Graph, x) -> np.ndarray | list[np.ndarray]:
    out = run(graph, x)
    values = [out[n] for n in graph.outputs]
    return values[0] if len(values) == 1 else values


@functools.singledispatch
def execute(layer: Layer, *inputs: np.ndarray) -> np.ndarray:
    raise NotImplementedError(f"the reference has no implementation for {layer.kind} ({layer.name!r})")


@execute.register
def _(layer: Input, x: np.ndarray) -> np.ndarray:
    return layer.types["result"].quantize(x)


@execute.register
def _(layer: Reshape, x: np.ndarray) -> np.ndarray:
    return x.reshape((x.shape[0], *layer.shape))


@execute.register
def _(layer: Dense, x: np.ndarray) -> np.ndarray:
    return _linear(layer, x, layer.weight)


def _linear(layer: Dense | Conv2D, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """cast<result>(act(cast<accum>(bias) + x @ weight)) for rows of terms x (N, n_in), weight (n_in, n_out)."""
    t = layer.types
    in_t, w_t, acc_t, out_t = t["input"], t["weight"], t["accum"], t["result"]
    bias = layer.bias if layer.bias is not None else np.zeros(weight.shape[1])
    if _float_exact(layer):
        acc = x @ weight + bias  # exact: every partial sum fits float64's 53 bits
        if layer.activation == "relu":
            acc = np.maximum(acc, 0.0)
        return out_t.quantize(acc)
    xr, wr = in_t.to_raw(x).astype(np.int64), w_t.to_raw(weight).astype(np.int64)
    s = in_t.frac + w_t.frac - acc_t.frac  # product lsb -> accumulator lsb
    if s <= 0:
        acc = exact_int_matmul(xr, wr) << -s  # no product is rounded
    else:
        acc = np.zeros((x.shape[0], weight.shape[1]), dtype=np.int64)
        for i in range(weight.shape[0]):
            acc += (xr[:, i : i + 1] * wr[i]) >> s
    return _finish(layer, acc)


def exact_int_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b for int64 matrices, exactly, with float64 BLAS: b is split into base-2**k digits small
    enough that every partial sum of a @ digit stays below 2**53 (k from the data)."""
    n = a.shape[1]
    a_bits = int(np.abs(a).max(initial=0)).bit_length()
    k = 52 - a_bits - max(n, 1).bit_length()
    if k < 1:  # operands too wide for any split: plain integer matmul
        return a @ b
    af = a.astype(np.float64)
    acc = np.zeros((a.shape[0], b.shape[1]), dtype=np.int64)
    rest, shift = b.copy(), 0
    while True:
        if int(np.abs(rest).max(initial=0)).bit_length() <= k:  # the top digit, with its sign
            return acc + ((af @ rest.astype(np.float64)).astype(np.int64) << shift)
        digit = rest & ((1 << k) - 1)  # in [0, 2**k)
        acc += (af @ digit.astype(np.float64)).astype(np.int64) << shift
        rest, shift = rest >> k, shift + k


def _float_exact(layer: Dense | Conv2D) -> bool:
    t = layer.types
    exact = exact_accumulator(t["input"], t["weight"], t["bias"], layer.n_in)
    return t["accum"].width <= FLOAT_EXACT_BITS and t["accum"].contains(exact)


def _finish(layer: Dense | Conv2D, acc: np.ndarray) -> np.ndarray:
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
    acc = acc_t._sign_extend(acc.view(np.uint64))
    if layer.activation == "relu":
        acc = np.maximum(acc, 0)
    return out_t.from_raw(out_t.cast_raw(acc, acc_t.frac))


@execute.register
def _(layer: Conv2D, x: np.ndarray) -> np.ndarray:
    win = windows(x, layer.kernel, layer.strides, layer.padding, 0.0)
    b, ho, wo = win.shape[:3]
    rows = np.ascontiguousarray(win).reshape(b * ho * wo, -1)
    out = _linear(layer, rows, layer.weight.reshape(-1, layer.n_out))
    return out.reshape(b, ho, wo, layer.n_out)


@execute.register
def _(layer: DepthwiseConv2D, x: np.ndarray) -> np.ndarray:
    win = windows(x, layer.kernel, layer.strides, layer.padding, 0.0)  # (B, Ho, Wo, kh, kw, C)
    w = layer.weight[..., 0]  # (kh, kw, C)
    if _float_exact(layer):
        bias = layer.bias if layer.bias is not None else 0.0
        acc = np.einsum("bhwijc,ijc->bhwc", win, w) + bias
        if layer.activation == "relu":
            acc = np.maximum(acc, 0.0)
        return layer.types["result"].quantize(acc)
    t = layer.types
    xr, wr = t["input"].to_raw(win).astype(np.int64), t["weight"].to_raw(w).astype(np.int64)
    s = t["input"].frac + t["weight"].frac - t["accum"].frac
    acc = np.zeros(win.shape[:3] + win.shape[-1:], dtype=np.int64)
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            p = xr[:, :, :, i, j, :] * wr[i, j]
            acc += (p >> s) if s > 0 else (p << -s)
    return _finish(layer, acc)


@execute.register
def _(layer: ZeroPad2D, x: np.ndarray) -> np.ndarray:
    top, bottom, left, right = layer.padding
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))


def reciprocal(layer: Pool2D | GlobalPool2D, n: int) -> float:
    """1/n quantized to the layer's `recip` type (the constant the C++ multiplies by)."""
    return float(layer.types["recip"].quantize(1.0 / n))


@execute.register
def _(layer: Pool2D, x: np.ndarray) -> np.ndarray:
    out_t = layer.types["result"]
    if layer.op == "max":  # padded positions never win (Keras pads max pooling with -inf)
        return out_t.quantize(windows(x, layer.pool, layer.strides, layer.padding, -np.inf).max(axis=(3, 4)))
    sums = windows(x, layer.pool, layer.strides, layer.padding, 0.0).sum(axis=(3, 4))  # exact
    return out_t.quantize(sums * reciprocal(layer, layer.pool[0] * layer.pool[1]))


@execute.register
def _(layer: GlobalPool2D, x: np.ndarray) -> np.ndarray:
    out_t = layer.types["result"]
    if layer.op == "max":
        return out_t.quantize(x.max(axis=(1, 2))).reshape((x.shape[0], *layer.shape))
    sums = x.sum(axis=(1, 2))  # exact
    return out_t.quantize(sums * reciprocal(layer, x.shape[1] * x.shape[2])).reshape((x.shape[0], *layer.shape))


@execute.register
def _(layer: Add, *xs: np.ndarray) -> np.ndarray:
    return layer.types["result"].quantize(np.sum(xs, axis=0))  # exact sum, then one cast


@execute.register
def _(layer: Concatenate, *xs: np.ndarray) -> np.ndarray:
    out_t = layer.types["result"]
    return np.concatenate([out_t.quantize(x) for x in xs], axis=-1)


@execute.register
def _(layer: BatchNorm, x: np.ndarray) -> np.ndarray:
    return layer.types["result"].quantize(x * layer.scale + layer.bias)


@execute.register
def _(layer: Activation, x: np.ndarray) -> np.ndarray:
    out_t = layer.types["result"]
    fn = layer.fn
    if fn == "linear":
        return out_t.quantize(x)
    if fn == "relu":
        return out_t.quantize(np.maximum(x, 0.0))
    if fn == "leaky_relu":
        return out_t.quantize(np.where(x >= 0, x, x * layer.alpha))
    if fn == "hard_sigmoid":
        return out_t.quantize(np.clip(x * layer.slope + layer.offset, 0.0, 1.0))
    tables = activation_tables(fn, layer.types, layer.shape[-1])
    if fn in ("sigmoid", "tanh"):
        return out_t.quantize(tables["table"].lookup(x))
    # softmax over the last axis
    e = tables["exp_table"].lookup(x.max(axis=-1, keepdims=True) - x)
    s = e.sum(axis=-1, keepdims=True)
    return out_t.quantize(e * tables["inv_table"].lookup(s))


__all__ = ["run", "predict", "execute", "check_input"]
