"""pytest helpers for comparing a project with its reference and with Keras.

- `assert_csim_matches_reference(project, x)`: bit for bit.
- `assert_close_to_keras(project, model, x)`: |reference - keras| within a bound derived from the
  graph's types and the data (`error_bound`), never a fixed atol.
"""

from __future__ import annotations

import functools

import numpy as np

from nn2fpga.estimate import geometry
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.interpret import SELU_ALPHA, SELU_SCALE, float_execute, window_counts, windows
from nn2fpga.ir.layers import (
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
from nn2fpga.ir.recurrent import Recurrent
from nn2fpga.ir.rules import exact_accumulator, reciprocal, reciprocals
from nn2fpga.ir.tables import activation_tables
from nn2fpga.ir.types import FixedType, Rounding
from nn2fpga.passes import fold
from nn2fpga.sim import reference

# Keras computes in float32: allow a few float32 ulps of the output on top of the fixed-point bound.
FLOAT32_REL = 2.0**-20


def quantization_step(t: FixedType) -> float:
    """Largest error of one conversion to `t` inside its range: an lsb when truncating, half when rounding."""
    return t.lsb if t.rounding in (Rounding.TRN, Rounding.TRN_ZERO) else t.lsb / 2


@functools.singledispatch
def _propagate(layer: Layer, x: np.ndarray, e: np.ndarray) -> np.ndarray:
    if layer.MOVES_VALUES:  # values are moved, never converted: each error moves with its value
        return float_execute(layer, *e) if isinstance(e, list) else float_execute(layer, e)
    raise NotImplementedError(f"no error model for {layer.kind}")


def _accumulation_error(layer: Dense | Conv2D, terms: np.ndarray, mag: np.ndarray) -> np.ndarray:
    """Error of a quantized Dense/Conv output given the propagated input error `terms` (already through
    |W|) and the summed input magnitudes `mag` (times each weight's quantization step)."""
    t = layer.types
    acc = terms + quantization_step(t["weight"]) * mag + quantization_step(t["bias"])
    if not t["accum"].contains(exact_accumulator(t["input"], t["weight"], t["bias"], layer.n_in)):
        acc = acc + (layer.n_in + 1) * t["accum"].lsb
    return acc + quantization_step(t["result"])


@_propagate.register
def _(layer: Conv2D, x: np.ndarray, e: np.ndarray) -> np.ndarray:
    win_e = windows(e, layer.kernel, layer.strides, layer.padding, 0.0)
    win_m = windows(np.abs(x) + e, layer.kernel, layer.strides, layer.padding, 0.0)
    if isinstance(layer, DepthwiseConv2D):
        w = np.abs(layer.weight[..., 0])
        return _accumulation_error(layer, np.einsum("bhwijc,ijc->bhwc", win_e, w), win_m.sum(axis=(3, 4)))
    b, ho, wo = win_e.shape[:3]
    rows_e = np.ascontiguousarray(win_e).reshape(b * ho * wo, -1)
    mag = np.ascontiguousarray(win_m).reshape(b * ho * wo, -1).sum(axis=1, keepdims=True)
    out = _accumulation_error(layer, rows_e @ np.abs(layer.weight.reshape(-1, layer.n_out)), mag)
    return out.reshape(b, ho, wo, layer.n_out)


def _mean_error(layer: Pool2D | GlobalPool2D, sums: np.ndarray, mean_e: np.ndarray, n) -> np.ndarray:
    recip = reciprocal(layer, n) if np.isscalar(n) else reciprocals(layer, n)
    return mean_e + np.abs(sums) * np.abs(recip - 1.0 / n) + quantization_step(layer.types["result"])


@_propagate.register
def _(layer: Pool2D, x: np.ndarray, e: np.ndarray) -> np.ndarray:
    win_e = windows(e, layer.pool, layer.strides, layer.padding, 0.0)
    if layer.op == "max":  # |max(a) - max(b)| <= max|a - b|
        return win_e.max(axis=(3, 4)) + quantization_step(layer.types["result"])
    sums = windows(x, layer.pool, layer.strides, layer.padding, 0.0).sum(axis=(3, 4))
    counts = window_counts(layer, x.shape[1:3])
    return _mean_error(layer, sums, win_e.sum(axis=(3, 4)) / counts, counts)


@_propagate.register
def _(layer: GlobalPool2D, x: np.ndarray, e: np.ndarray) -> np.ndarray:
    if layer.op == "max":
        out = e.max(axis=(1, 2)) + quantization_step(layer.types["result"])
    else:
        out = _mean_error(layer, x.sum(axis=(1, 2)), e.mean(axis=(1, 2)), x.shape[1] * x.shape[2])
    return out.reshape((x.shape[0], *layer.shape))


@_propagate.register
def _(layer: Add, xs: list, es: list) -> np.ndarray:
    q = quantization_step(layer.types["result"])
    if layer.op == "multiply":  # |(a + da)(b + db) - ab| <= |a| db + |b| da + da db
        (a, b), (ea, eb) = np.abs(xs), es
        return a * eb + b * ea + ea * eb + q
    if layer.op in ("maximum", "minimum"):
        return np.max(es, axis=0) + q
    if layer.op == "average":  # the mean of the errors, plus 1/n's quantization times the sum
        n = len(xs)
        recip_err = abs(reciprocal(layer, n) - 1.0 / n)
        return np.mean(es, axis=0) + recip_err * np.sum(np.abs(xs) + np.asarray(es), axis=0) + q
    return np.sum(es, axis=0) + q


@_propagate.register
def _(layer: Concatenate, xs: list, es: list) -> np.ndarray:
    return np.concatenate(es, axis=-1) + quantization_step(layer.types["result"])


@_propagate.register
def _(layer: Dense, x: np.ndarray, e: np.ndarray) -> np.ndarray:
    return _accumulation_error(layer, e @ np.abs(layer.weight), (np.abs(x) + e).sum(axis=-1, keepdims=True))


@_propagate.register
def _(layer: BatchNorm, x: np.ndarray, e: np.ndarray) -> np.ndarray:
    t = layer.types
    return (
        np.abs(layer.scale) * e
        + quantization_step(t["scale"]) * (np.abs(x) + e)
        + quantization_step(t["bias"])
        + quantization_step(t["result"])
    )


@_propagate.register
def _(layer: ChannelScale, xs: list, es: list) -> np.ndarray:
    (x, v), (ex, ev) = [np.abs(a) for a in xs], es  # as Multiply's, the vector broadcast over the pixels
    return float_execute(layer, x, ev) + float_execute(layer, ex, v) + float_execute(layer, ex, ev) + (
        quantization_step(layer.types["result"]))  # fmt: skip


@_propagate.register
def _(layer: Dot, xs: list, es: list) -> np.ndarray:
    (a, b), (ea, eb) = np.abs(xs), es  # each product as Multiply's, summed
    return (a * eb + b * ea + ea * eb).sum(axis=-1, keepdims=True) + quantization_step(layer.types["result"])


@_propagate.register
def _(layer: Recurrent, x: np.ndarray, e: np.ndarray) -> np.ndarray:
    """First order: the input error carried through the cell's linearization at the float values (slopes of
    sigmoid and tanh at most 1/4 and 1, products by the other factor's size), step by step; plus the measured
    deviation of the reference at these inputs (tables, casts, rounded weights as the reference has them) and
    the weights' rounding times the inputs' size."""
    u, t = layer.units, layer.types
    w, rw = np.abs(layer.weight), np.abs(layer.recurrent)
    q_w = quantization_step(t["weight"])
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    h, c = np.zeros((x.shape[0], u)), np.zeros((x.shape[0], u))
    eh, ec, out = np.zeros_like(h), np.zeros_like(h), []
    for step in range(x.shape[1]):
        a = x[:, step] @ layer.weight + layer.bias + h @ layer.recurrent + layer.recurrent_bias
        ea = (
            e[:, step] @ w
            + eh @ rw
            + q_w * (np.abs(x[:, step]).sum(-1, keepdims=True) + np.abs(h).sum(-1, keepdims=True))
        )
        ea += quantization_step(t["bias"])
        if layer.cell == "simple":
            h, eh = np.tanh(a), ea
        elif layer.cell == "lstm":
            (i, f, g, o), (ei, ef, eg, eo) = ([v[:, k * u : (k + 1) * u] for k in range(4)] for v in (a, ea))
            i, f, g, o = sig(i), sig(f), np.tanh(g), sig(o)
            ec = np.abs(c) * ef / 4 + f * ec + np.abs(g) * ei / 4 + i * eg
            c = f * c + i * g
            h, eh = o * np.tanh(c), np.abs(np.tanh(c)) * eo / 4 + o * ec
        else:
            ah = h @ layer.recurrent + layer.recurrent_bias
            eah = eh @ rw + q_w * np.abs(h).sum(-1, keepdims=True) + quantization_step(t["bias"])
            z, r = sig(a[:, :u]), sig(a[:, u : 2 * u])
            ez, er = ea[:, :u] / 4, ea[:, u : 2 * u] / 4
            hh = np.tanh(a[:, 2 * u :] - ah[:, 2 * u :] + r * ah[:, 2 * u :])
            ehh = ea[:, 2 * u :] - eah[:, 2 * u :] + r * eah[:, 2 * u :] + np.abs(ah[:, 2 * u :]) * er
            h, eh = z * h + (1 - z) * hh, ez * np.abs(h - hh) + z * eh + (1 - z) * ehh
        out.append(eh)
    carried = np.stack(out, axis=1) if layer.return_sequences else eh
    deviation = np.abs(reference.execute(layer, x) - float_execute(layer, x))
    return carried + deviation + quantization_step(t["result"])


@_propagate.register
def _(layer: LayerNorm, x: np.ndarray, e: np.ndarray) -> np.ndarray:
    """First order: the Jacobian's row sums of |dy_c/dx_j| are at most |scale_c| inv (2 + |z_c|) (inv =
    1/sqrt(var + epsilon), z the normalized value), times the largest input error of the group; plus the measured
    deviation of the reference at these inputs (mean, table, casts) and the rounding of scale and bias."""
    t = layer.types
    mean = x.mean(axis=-1, keepdims=True)
    inv = 1.0 / np.sqrt(((x - mean) ** 2).mean(axis=-1, keepdims=True) + layer.epsilon)
    z = (x - mean) * inv
    lip = np.abs(layer.scale) * inv * (2.0 + np.abs(z))
    deviation = np.abs(reference.execute(layer, x) - float_execute(layer, x))
    return lip * e.max(axis=-1, keepdims=True) + deviation + quantization_step(t["scale"]) * np.abs(z) + (
        quantization_step(t["bias"]) + quantization_step(t["result"]))  # fmt: skip


@_propagate.register
def _(layer: Embedding, x: np.ndarray, e: np.ndarray) -> np.ndarray:
    # exact indices (an input of integers): the table's rounding and the cast
    step = quantization_step(layer.types["weight"]) + quantization_step(layer.types["result"])
    return np.full((x.shape[0], *layer.shape), step)


@_propagate.register
def _(layer: PReLU, x: np.ndarray, e: np.ndarray) -> np.ndarray:
    # slope at most max(1, |alpha|) per channel; alpha's own rounding times |x|; the one cast
    t = layer.types
    lip = np.maximum(1.0, np.abs(layer.alpha))
    return lip * e + quantization_step(t["alpha"]) * (np.abs(x) + e) + quantization_step(t["result"])


# the largest slope of each function (relu_clip, elu: max(1, |alpha|) from the layer)
LIPSCHITZ = {"relu_clip": 1.0, "elu": 1.0, "selu": SELU_SCALE * SELU_ALPHA, "softplus": 1.0, "swish": 1.0999,
             "gelu": 1.1289, "hard_swish": 1.5}  # fmt: skip


@_propagate.register
def _(layer: Activation, x: np.ndarray, e: np.ndarray) -> np.ndarray:
    t, fn, q = layer.types, layer.fn, quantization_step(layer.types["result"])
    if fn in ("linear", "relu"):
        return e + q
    if fn == "leaky_relu":
        return max(1.0, abs(layer.alpha)) * e + quantization_step(t["alpha"]) * (np.abs(x) + e) + q
    if fn == "hard_sigmoid":
        return layer.slope * e + quantization_step(t["slope"]) * (np.abs(x) + e) + quantization_step(t["offset"]) + q
    if fn in LIPSCHITZ:  # relu_clip and the tail tables: the measured deviation of the reference at these inputs
        lip = max(1.0, abs(layer.alpha)) if fn in ("relu_clip", "elu") else LIPSCHITZ[fn]
        deviation = np.abs(reference.execute(layer, x) - float_execute(layer, x))
        roles = ("threshold", "max_value", "alpha") if fn == "relu_clip" else ()
        consts = sum(quantization_step(t[r]) for r in roles if r in t)
        slope = quantization_step(t["slope"]) * (np.abs(x) + e) if fn == "selu" else 0.0
        # relu_clip jumps by its threshold there (x above it, alpha (x - threshold) at it): inputs within their
        # error of the threshold may land on either side
        jump = abs(layer.threshold) * (np.abs(x - layer.threshold) <= e) if fn == "relu_clip" else 0.0
        return lip * e + deviation + (1 + lip) * consts + slope + jump + q
    if fn in ("sigmoid", "tanh", "softsign"):
        # Lipschitz constant times the input error, plus the table's own error at these inputs.
        lip = 0.25 if fn == "sigmoid" else 1.0
        table = activation_tables(fn, t, layer.shape[-1], layer.alpha, layer.table_size)["table"]
        return lip * e + np.abs(table.lookup(x) - float_execute(layer, x)) + q
    # softmax: the Jacobian's infinity norm is at most 1/2; the tables' error is measured exactly.
    table_out = reference.execute(layer, x)
    return 0.5 * e.max(axis=-1, keepdims=True) + np.abs(table_out - float_execute(layer, x)) + q


def error_bound(graph: Graph, x) -> np.ndarray | list[np.ndarray]:
    """Elementwise bound on |reference - float model| for the output (a list for several), from the types and
    the data `x` (one array, or one per input as `reference.run` takes them).

    Valid while no tensor saturates or wraps (checked: raises AssertionError naming the layer).
    """
    trace = reference.run(graph, x, trace=True)
    feeds = reference.as_feeds(graph, x)
    err: dict[str, np.ndarray] = {}
    for layer in graph.layers():
        out_t = layer.types["result"]
        y = trace[layer.name]
        at_limit = (y >= out_t.max) | (y <= out_t.min)
        if isinstance(layer, Input):
            raw = feeds[layer.name]
            at_limit = (raw > out_t.max) | (raw < out_t.min)
            err[layer.name] = np.full(y.shape, quantization_step(out_t))
        elif layer.MERGES:
            srcs = [p.name for p in graph.producers(layer.name)]
            err[layer.name] = _propagate(layer, [trace[s] for s in srcs], [err[s] for s in srcs])
        else:
            src = graph.producer(layer.name).name
            err[layer.name] = _propagate(layer, trace[src], err[src])
        if at_limit.any() and not (layer.MOVES_VALUES or isinstance(layer, Activation | Pool2D | GlobalPool2D)):
            raise AssertionError(
                f"layer {layer.name!r} reaches the limits of {out_t} on {int(at_limit.sum())} values: the error bound "
                "assumes no saturation; widen the integer bits"
            )
    outs = [err[name] for name in graph.outputs]
    return outs[0] if len(outs) == 1 else outs


def _each(out) -> list[np.ndarray]:
    return list(out) if isinstance(out, (list, tuple)) else [out]


def assert_csim_matches_reference(project, x) -> None:
    """csim output == reference output, bit for bit (every output of a model with several)."""
    for k, (csim, ref) in enumerate(zip(_each(project.predict(x, backend="csim")),
                                        _each(project.predict(x, backend="reference")), strict=True)):  # fmt: skip
        mismatch = csim != ref
        if mismatch.any():
            idx = np.argwhere(mismatch)[0]
            raise AssertionError(
                f"output {k}: csim != reference on {int(mismatch.sum())} of {mismatch.size} values; first at "
                f"{tuple(idx)}: csim {csim[tuple(idx)]!r}, reference {ref[tuple(idx)]!r}"
            )


def assert_close_to_keras(project, model, x) -> np.ndarray | list[np.ndarray]:
    """|reference - keras| <= error_bound (derived from types and data) on every output; returns the bound (one
    per output for several). `x`: one array, or a list in the model's input order."""
    xs = [np.asarray(v, dtype=np.float64) for v in _each(x)]
    feed = xs[0] if len(xs) == 1 else xs
    keras_outs = _each(model.predict([v.astype(np.float32) for v in xs] if len(xs) > 1 else xs[0], verbose=0))
    refs, bounds = _each(project.predict(feed, backend="reference")), _each(error_bound(project.graph, feed))
    for k, (ref, keras_out, bound) in enumerate(zip(refs, keras_outs, bounds, strict=True)):
        keras_out = np.asarray(keras_out, dtype=np.float64).reshape(ref.shape)
        bound = bound.reshape(ref.shape) + FLOAT32_REL * (1.0 + np.abs(keras_out))
        bounds[k] = bound
        diff = np.abs(ref - keras_out)
        bad = diff > bound
        if bad.any():
            idx = tuple(np.argwhere(bad)[0])
            raise AssertionError(
                f"output {k}: reference differs from Keras beyond the derived bound on {int(bad.sum())} of {bad.size} "
                f"values; first at {idx}: |{ref[idx]!r} - {keras_out[idx]!r}| = {diff[idx]:.3g} > {bound[idx]:.3g}"
            )
    return bounds[0] if len(bounds) == 1 else bounds


def random_folds(graph: Graph, seed: int, io_type: str = "io_stream") -> dict:
    """`LayerName` settings drawing, for every layer of a compiled `graph`, a random valid fold: PE, SIMD and
    WeightStorage (uram / offchip only in io_stream) of each Dense/Conv2D/DepthwiseConv2D within the synthesis
    limits, Lanes of every other layer but the input and softmax. Folding reorders exact sums only, so csim
    must stay equal to the reference bit for bit whatever is drawn."""
    rng = np.random.default_rng(seed)
    storage = ("bram", "lutram", "uram", "offchip") if io_type == "io_stream" else ("bram", "lutram")
    out: dict[str, dict] = {}
    for layer in graph.layers():
        if isinstance(layer, Input) or (isinstance(layer, Activation) and layer.fn == "softmax"):
            continue
        if layer.HAS_MULTIPLIERS:
            width = graph.producers(layer.name)[0].types["result"].width
            folds = [f for f in fold.valid_folds(layer) if fold.limits_ok(layer, *f, width)]
            pe, simd = folds[rng.integers(len(folds))]
            out[layer.name] = {"PE": int(pe), "SIMD": int(simd), "WeightStorage": str(rng.choice(storage))}
        else:
            common = np.gcd.reduce([geometry.channels(p) for p in [layer, *graph.producers(layer.name)]])
            out[layer.name] = {"Lanes": int(rng.choice(geometry.divisors(int(common))))}
    return out
