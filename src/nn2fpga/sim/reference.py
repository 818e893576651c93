"""Bit-exact NumPy reference: an interpreter with one function per layer kind (DESIGN section 4).

Values flowing between layers are float64 arrays holding exact fixed-point values. A layer's sums of
products run as one float64 BLAS product when the data bound them below 2**52 lsb (checked on every
call: max|x| times the largest column sum of |w|), otherwise as an exact digit-split integer product;
the accumulator's cast, wrap and the result cast then act on raw int64 values. Accumulators coarser
than the products (AP_TRN per product) use a raw int64 loop.
"""

from __future__ import annotations

import collections
import functools
import math
import os
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

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


CHUNK_VALUES = 1 << 18  # input values per sample chunk: a 224x224x3 image runs alone, a jet MLP in thousands


def run(graph: Graph, x, trace: bool = False, threads: int | None = None) -> dict[str, np.ndarray]:
    """Outputs by layer name (all layers when `trace`), each (batch, *shape) float64.

    The batch runs in chunks on `threads` threads (default: the CPUs), each with single-threaded
    BLAS: NumPy and BLAS release the GIL, so the element-wise work runs in parallel too. The result
    does not depend on the chunking (every sample is computed on its own, exactly).
    """
    feeds = _as_inputs(graph, x)
    check_input(graph, feeds)
    batch = next(iter(feeds.values())).shape[0]
    per_sample = sum(int(np.prod(v.shape[1:])) for v in feeds.values())
    threads = threads or os.cpu_count() or 1
    size = max(1, min(-(-batch // threads), CHUNK_VALUES // max(per_sample, 1)))
    if threads == 1 or size >= batch:
        return _run(graph, feeds, trace)
    chunks = [slice(i, i + size) for i in range(0, batch, size)]
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(min(threads, len(chunks))) as pool:
        parts = list(pool.map(lambda c: _run(graph, {k: v[c] for k, v in feeds.items()}, trace), chunks))
    return {n: np.concatenate([p[n] for p in parts]) for n in parts[0]}


def _run(graph: Graph, feeds: dict[str, np.ndarray], trace: bool) -> dict[str, np.ndarray]:
    layers = graph.layers()
    keep = [layer.name for layer in layers] if trace else list(graph.outputs)
    producers = {layer.name: graph.producers(layer.name) for layer in layers}
    pending = collections.Counter(p.name for ps in producers.values() for p in ps)
    env: dict[str, np.ndarray] = {}
    for layer in layers:
        args = [env[p.name] for p in producers[layer.name]] if not isinstance(layer, Input) else [feeds[layer.name]]
        env[layer.name] = execute(layer, *args)
        for p in producers[layer.name]:  # free what no later layer reads (ResNet-50 feature maps are large)
            pending[p.name] -= 1
            if not pending[p.name] and p.name not in keep and p.name in env:
                del env[p.name]
    return {n: env[n] for n in keep}


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
    return _linear(layer, x, layer.weight, _abs_max(x))


def _linear(layer: Dense | Conv2D, x: np.ndarray, weight: np.ndarray, x_max: float) -> np.ndarray:
    """cast<result>(act(cast<accum>(bias) + x @ weight)) for rows of terms x (N, n_in), weight (n_in, n_out);
    x_max bounds |x|."""
    t = layer.types
    in_t, w_t, acc_t = t["input"], t["weight"], t["accum"]
    p = in_t.frac + w_t.frac  # the products' lsb
    s = p - acc_t.frac  # product lsb -> accumulator lsb
    if s <= 0:  # no product is rounded: the sum of products, exactly, then the accumulator's cast
        if _fits_float(x_max, _column_l1(layer.weight, weight), p):
            acc = _raw(x @ weight, p)
        else:
            acc = exact_int_matmul(in_t.to_raw(x).astype(np.int64), w_t.to_raw(weight).astype(np.int64))
        return _finish(layer, acc << -s)
    xr, wr = in_t.to_raw(x).astype(np.int64), w_t.to_raw(weight).astype(np.int64)
    acc = np.zeros((x.shape[0], weight.shape[1]), dtype=np.int64)
    for i in range(weight.shape[0]):
        acc += (xr[:, i : i + 1] * wr[i]) >> s
    return _finish(layer, acc)


def _fits_float(x_max: float, weight_l1: float, lsb: int) -> bool:
    """True when float64 sums x @ w are exact for these data: every partial sum is a multiple of
    2**-lsb bounded by max|x| * max_j sum_i |w_ij| (weight_l1), asserted below 2**52 in lsb units."""
    return math.ldexp(x_max * weight_l1, lsb) < 2.0 ** (FLOAT_EXACT_BITS - 1)


def _abs_max(x: np.ndarray) -> float:
    return max(-float(x.min(initial=0.0)), float(x.max(initial=0.0)))


_L1_CACHE: dict[int, tuple[weakref.ref, float]] = {}


def _column_l1(key: np.ndarray, columns: np.ndarray) -> float:
    """max over output columns of sum |w| for `columns` (a view of the layer's weight array `key`),
    computed once per weight array: a graph's weights do not change while it runs."""
    hit = _L1_CACHE.get(id(key))
    if hit is not None and hit[0]() is key:
        return hit[1]
    value = float(np.abs(columns).sum(axis=tuple(range(columns.ndim - 1))).max(initial=0.0))
    _L1_CACHE[id(key)] = (weakref.ref(key), value)
    return value


def _raw(values: np.ndarray, lsb: int) -> np.ndarray:
    """Exact float64 multiples of 2**-lsb -> int64 raw values at that lsb."""
    return np.ldexp(values, lsb).astype(np.int64)


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
    if acc.size and acc_t.width < 64 and not (acc_t.raw_min <= acc.min() and acc.max() <= acc_t.raw_max):
        acc = acc_t._sign_extend(acc.view(np.uint64))  # the accumulator wraps (narrow ones are AP_WRAP)
    if layer.activation == "relu":
        np.maximum(acc, 0, out=acc)
    return out_t.from_raw(out_t.cast_raw(acc, acc_t.frac))


@execute.register
def _(layer: Conv2D, x: np.ndarray) -> np.ndarray:
    if layer.kernel == (1, 1) and not any(layer.padding):  # pointwise: the pixels are the rows
        sh, sw = layer.strides
        win = x[:, ::sh, ::sw] if (sh, sw) != (1, 1) else x
    else:
        win = windows(x, layer.kernel, layer.strides, layer.padding, 0.0)
    b, ho, wo = win.shape[:3]
    rows = np.ascontiguousarray(win).reshape(b * ho * wo, -1)
    out = _linear(layer, rows, layer.weight.reshape(-1, layer.n_out), _abs_max(x))
    return out.reshape(b, ho, wo, layer.n_out)


@execute.register
def _(layer: DepthwiseConv2D, x: np.ndarray) -> np.ndarray:
    win = windows(x, layer.kernel, layer.strides, layer.padding, 0.0)  # (B, Ho, Wo, kh, kw, C)
    w = layer.weight[..., 0]  # (kh, kw, C)
    t = layer.types
    p = t["input"].frac + t["weight"].frac
    s = p - t["accum"].frac
    if s <= 0 and _fits_float(_abs_max(x), _column_l1(layer.weight, w), p):
        acc = _raw(np.einsum("bhwijc,ijc->bhwc", win, w), p) << -s
        return _finish(layer, acc)
    xr, wr = t["input"].to_raw(win).astype(np.int64), t["weight"].to_raw(w).astype(np.int64)
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
    total = np.sum(xs, axis=0)  # exact sum, (relu,) then one cast
    return layer.types["result"].quantize(np.maximum(total, 0.0) if layer.activation == "relu" else total)


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
