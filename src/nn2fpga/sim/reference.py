"""Bit-exact NumPy reference: an interpreter with one function per layer kind (DESIGN section 4).

Values flowing between layers are float64 arrays holding exact fixed-point values. A layer's sums of
products run as one float64 BLAS product when the data bound them below 2**52 lsb (checked on every
call: max|x| times the largest column sum of |w|), otherwise as an exact digit-split integer product;
the accumulator's cast, wrap and the result cast then act on raw int64 values, or in place on the
float64 sums where that is exact. Stride-1 3x3 convolutions use Winograd F(2x2, 3x3), exact under its
own bound, else im2col. Accumulators coarser than the products (AP_TRN per product) use the raw int64 loop of
`nn2fpga.sim.integer`, the slow definition that every fast path here equals bit for bit.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

from nn2fpga.ir.errors import UserError
from nn2fpga.ir.graph import Graph, walk
from nn2fpga.ir.interpret import ACTIVATIONS, MERGE, float_execute, recurrent_steps, window_counts, windows
from nn2fpga.ir.layers import (
    CENTRED_TABLE_FNS,
    TAIL_TABLE_FNS,
    Activation,
    Add,
    BatchNorm,
    ChannelScale,
    Concatenate,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Dot,
    Embedding,
    GlobalPool2D,
    Input,
    Layer,
    LayerNorm,
    Pool2D,
    PReLU,
)
from nn2fpga.ir.recurrent import Recurrent, gru_inner
from nn2fpga.ir.rules import reciprocal, reciprocals
from nn2fpga.ir.tables import TAIL_FROM, activation_tables, layernorm_parts, recurrent_tables
from nn2fpga.sim import integer
from nn2fpga.sim.exact import abs_max, column_l1, exact_int_matmul, finish_exact, fits_float, raw
from nn2fpga.sim.integer import finish
from nn2fpga.sim.winograd import winograd_conv, winograd_fits


def as_feeds(graph: Graph, x) -> dict[str, np.ndarray]:
    """The inputs by name, float64: `x` is one array (one input), a list in model order or a mapping by name."""
    if not isinstance(x, dict):
        names = [i.name for i in graph.inputs()]
        x = dict(zip(names, x if isinstance(x, (list, tuple)) and len(names) > 1 else [x]))
    return {k: np.asarray(v, dtype=np.float64) for k, v in x.items()}


def check_input(graph: Graph, x: dict[str, np.ndarray]) -> None:
    """Raise UserError when inputs are missing or have the wrong shape."""
    for layer in graph.inputs():
        if layer.name not in x:
            raise UserError(f"missing input {layer.name!r}; the model's inputs are {[i.name for i in graph.inputs()]}")
        v = x[layer.name]
        if v.shape[1:] != tuple(layer.shape) or v.ndim != len(layer.shape) + 1:
            expected = ", ".join(map(str, layer.shape))
            raise UserError(f"input {layer.name!r} has shape {v.shape}; expected (batch, {expected})")
        if not np.isfinite(v).all():
            raise UserError(f"input {layer.name!r} contains NaN or Inf values")


CHUNK_VALUES = 1 << 18  # input values per sample chunk: a 224x224x3 image runs alone, a jet MLP in thousands


def run(graph: Graph, x, trace: bool = False, threads: int | None = None) -> dict[str, np.ndarray]:
    """Outputs by layer name (all layers when `trace`), each (batch, *shape) float64.

    The batch runs in chunks on `threads` threads (default: the CPUs), each with single-threaded
    BLAS: NumPy and BLAS release the GIL, so the element-wise work runs in parallel too. The result
    does not depend on the chunking (every sample is computed on its own, exactly).
    """
    feeds = as_feeds(graph, x)
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
    keep = [layer.name for layer in graph.layers()] if trace else list(graph.outputs)
    wanted = set(keep)
    values = {layer.name: out for layer, out in walk(graph, feeds, execute) if layer.name in wanted}
    return {n: values[n] for n in keep}


def predict(graph: Graph, x) -> np.ndarray | list[np.ndarray]:
    """The model's output (batch, *shape) float64, or the list of its outputs."""
    out = run(graph, x)
    return out[graph.outputs[0]] if len(graph.outputs) == 1 else [out[n] for n in graph.outputs]


@functools.singledispatch
def execute(layer: Layer, *inputs: np.ndarray) -> np.ndarray:
    if layer.MOVES_VALUES:  # values moved (or zeros), never converted: the float meaning is exact
        return float_execute(layer, *inputs)
    raise NotImplementedError(f"the reference has no implementation for {layer.kind} ({layer.name!r})")


@execute.register
def _(layer: Input, x: np.ndarray) -> np.ndarray:
    return layer.types["result"].quantize(x)


@execute.register
def _(layer: Dense, x: np.ndarray) -> np.ndarray:
    return _linear(layer, x, layer.weight, abs_max(x))


def _linear(layer: Dense | Conv2D, x: np.ndarray, weight: np.ndarray, x_max: float) -> np.ndarray:
    """cast<result>(act(cast<accum>(bias) + x @ weight)) for rows of terms x (N, n_in), weight (n_in, n_out);
    x_max bounds |x|."""
    t = layer.types
    p = t["input"].frac + t["weight"].frac  # the products' lsb
    s = p - t["accum"].frac  # product lsb -> accumulator lsb
    if s > 0:  # each product truncated to the accumulator: the definition's loop
        return integer.sum_of_products(layer, x.T[..., None], weight)
    l1 = column_l1(layer.weight, weight)
    if fits_float(x_max, l1, p):  # the sum of products, exactly, then the accumulator's cast
        return finish_exact(layer, x @ weight, x_max * l1)
    acc = exact_int_matmul(t["input"].to_raw(x).astype(np.int64), t["weight"].to_raw(weight).astype(np.int64))
    return finish(layer, acc << -s)


@execute.register
def _(layer: Conv2D, x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min(initial=0.0)), float(x.max(initial=0.0))
    return (winograd_conv if winograd_fits(layer, lo, hi) else _im2col)(layer, x, max(-lo, hi))


def _im2col(layer: Conv2D, x: np.ndarray, x_max: float) -> np.ndarray:
    """The convolution as one product of the (pixels, kh * kw * C) windows with the weights; x_max bounds |x|."""
    if layer.kernel == (1, 1) and not any(layer.padding):  # pointwise: the pixels are the rows
        win = x[:, :: layer.strides[0], :: layer.strides[1]]
    else:
        win = windows(x, layer.kernel, layer.strides, layer.padding, 0.0)
    b, ho, wo = win.shape[:3]
    rows = np.ascontiguousarray(win).reshape(b * ho * wo, -1)
    out = _linear(layer, rows, layer.weight.reshape(-1, layer.n_out), x_max)
    return out.reshape(b, ho, wo, layer.n_out)


@execute.register
def _(layer: DepthwiseConv2D, x: np.ndarray) -> np.ndarray:
    t, w = layer.types, layer.weight[..., 0]  # (kh, kw, C)
    p = t["input"].frac + t["weight"].frac
    if p <= t["accum"].frac and fits_float(abs_max(x), column_l1(layer.weight, w), p):
        win = windows(x, layer.kernel, layer.strides, layer.padding, 0.0)  # (B, Ho, Wo, kh, kw, C)
        return finish(layer, raw(np.einsum("bhwijc,ijc->bhwc", win, w), p) << (t["accum"].frac - p))
    return integer.execute(layer, x)


@execute.register
def _(layer: Pool2D, x: np.ndarray) -> np.ndarray:
    out_t = layer.types["result"]
    if layer.op == "max":  # padded positions never win (Keras pads max pooling with -inf)
        return out_t.quantize(windows(x, layer.pool, layer.strides, layer.padding, -np.inf).max(axis=(3, 4)))
    sums = windows(x, layer.pool, layer.strides, layer.padding, 0.0).sum(axis=(3, 4))  # exact
    return out_t.quantize(sums * reciprocals(layer, window_counts(layer, x.shape[1:3])))


@execute.register
def _(layer: GlobalPool2D, x: np.ndarray) -> np.ndarray:
    out_t = layer.types["result"]
    if layer.op == "max":
        return out_t.quantize(x.max(axis=(1, 2))).reshape((x.shape[0], *layer.shape))
    sums = x.sum(axis=(1, 2))  # exact
    return out_t.quantize(sums * reciprocal(layer, x.shape[1] * x.shape[2])).reshape((x.shape[0], *layer.shape))


@execute.register
def _(layer: Add, *xs: np.ndarray) -> np.ndarray:
    if layer.op == "add":
        total = xs[0] + xs[1] if len(xs) > 1 else xs[0].copy()  # exact sum (fixed-point values well inside 2**53)
        for x in xs[2:]:
            np.add(total, x, out=total)
    elif layer.op == "average":  # the exact sum times 1/n in its type
        total = np.sum(xs, axis=0) * reciprocal(layer, len(xs))
    else:  # subtract, multiply (two inputs: the product is exact in float64 up to 53 bits), maximum, minimum
        total = MERGE[layer.op](xs)
    if layer.activation == "relu":
        np.maximum(total, 0.0, out=total)
    return layer.types["result"].quantize(total)  # one cast


@execute.register
def _(layer: ChannelScale, x: np.ndarray, v: np.ndarray) -> np.ndarray:
    return layer.types["result"].quantize(float_execute(layer, x, v))  # exact products (<= 53 bits: quantize)


@execute.register
def _(layer: Dot, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return layer.types["result"].quantize((a * b).sum(axis=-1, keepdims=True))  # exact: <= 53 bits (quantize)


@execute.register
def _(layer: Concatenate, *xs: np.ndarray) -> np.ndarray:
    out_t = layer.types["result"]
    return np.concatenate([out_t.quantize(x) for x in xs], axis=-1)


@execute.register
def _(layer: BatchNorm, x: np.ndarray) -> np.ndarray:
    return layer.types["result"].quantize(x * layer.scale + layer.bias)


@execute.register
def _(layer: Embedding, x: np.ndarray) -> np.ndarray:
    table = layer.padded(layer.types["input"].width)  # the C++ table, zero rows included
    return layer.types["result"].quantize(table[x.astype(np.int64)])  # x: exact indices of the input's type


@execute.register
def _(layer: LayerNorm, x: np.ndarray) -> np.ndarray:
    """docs/arithmetic.md: the sum and the mean in float64 (exact: the quantize pass checks the widths), the
    squared differences in int64 raw units, the table by a shift of their sum, then two casts."""
    t, table, shift = layernorm_parts(layer)
    mean = t["mean"].quantize(x.sum(axis=-1, keepdims=True) * reciprocal(layer, layer.shape[-1]))
    d = np.rint(np.ldexp(x - mean, t["diff"].frac)).astype(np.int64)  # x - mean on the diff grid, exact
    q = (d * d).sum(axis=-1, keepdims=True)
    inv = table.values[np.minimum(q >> shift if shift >= 0 else q << -shift, table.size - 1)]
    z = t["norm"].quantize(np.ldexp(d.astype(np.float64), -t["diff"].frac) * inv)
    return layer.types["result"].quantize(z * layer.scale + layer.bias)


@execute.register
def _(layer: Recurrent, x: np.ndarray) -> np.ndarray:
    """nn2fpga.ir.recurrent: float64 sums and products are exact (the quantize pass checks every width <= 53)."""
    t = layer.types
    tanh, sig = recurrent_tables(layer)
    types = {**t, "inner": gru_inner(layer)} if layer.cell == "gru" else t
    return recurrent_steps(layer, x, sig.lookup, tanh.lookup, lambda role, v: types[role].quantize(v))


@execute.register
def _(layer: PReLU, x: np.ndarray) -> np.ndarray:
    return layer.types["result"].quantize(np.where(x >= 0, x, x * layer.alpha))  # exact product, one cast


@execute.register
def _(layer: Activation, x: np.ndarray) -> np.ndarray:
    out_t, fn = layer.types["result"], layer.fn
    if fn in ("linear", "relu", "leaky_relu", "hard_sigmoid", "relu_clip"):
        return out_t.quantize(ACTIVATIONS[fn](layer, x))  # no tables: exact arithmetic (float64), then the cast
    tables = activation_tables(fn, layer.types, layer.shape[-1], layer.alpha, layer.table_size)
    if fn in CENTRED_TABLE_FNS:
        return out_t.quantize(tables["table"].lookup(x))
    if fn in TAIL_TABLE_FNS:  # the table below TAIL_FROM, x (selu: slope * x) from there on
        tail = x * layer.slope if fn == "selu" else x
        return out_t.quantize(np.where(x >= TAIL_FROM[fn], tail, tables["table"].lookup(x)))
    # softmax over the last axis
    e = tables["exp_table"].lookup(x.max(axis=-1, keepdims=True) - x)
    s = e.sum(axis=-1, keepdims=True)
    return out_t.quantize(e * tables["inv_table"].lookup(s))
