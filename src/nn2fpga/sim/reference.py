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
from nn2fpga.ir.layers import Activation, BatchNorm, Dense, Input, Layer, Reshape, exact_accumulator
from nn2fpga.ir.tables import activation_tables

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
    t = layer.types
    in_t, w_t, acc_t, out_t = t["input"], t["weight"], t["accum"], t["result"]
    bias = layer.bias if layer.bias is not None else np.zeros(layer.n_out)
    if acc_t.width <= FLOAT_EXACT_BITS and acc_t.contains(exact_accumulator(in_t, w_t, t["bias"], layer.n_in)):
        acc = x @ layer.weight + bias  # exact: every partial sum fits float64's 53 bits
        if layer.activation == "relu":
            acc = np.maximum(acc, 0.0)
        return out_t.quantize(acc)
    acc = _dense_raw(layer, x)
    if layer.activation == "relu":
        acc = np.maximum(acc, 0)
    return out_t.from_raw(out_t.cast_raw(acc, acc_t.frac))


def _dense_raw(layer: Dense, x: np.ndarray) -> np.ndarray:
    """Raw accumulator values: cast(bias) + sum(cast(x_i * w_i)) in int64, as C++ `acc += x * w` does.

    Casting each product to a coarser accumulator floors it (AP_TRN) and the total wraps (AP_WRAP);
    both commute with adding values already on the accumulator's grid, so the loop order of the
    C++ strategies does not matter.
    """
    t = layer.types
    in_t, w_t, b_t, acc_t = t["input"], t["weight"], t["bias"], t["accum"]
    xr = in_t.to_raw(x).astype(np.int64)
    wr = w_t.to_raw(layer.weight).astype(np.int64)
    s = in_t.frac + w_t.frac - acc_t.frac  # product lsb -> accumulator lsb
    if s <= 0:
        acc = (xr @ wr) << -s  # no product is rounded: one integer matmul
    else:
        acc = np.zeros((x.shape[0], layer.n_out), dtype=np.int64)
        for i in range(layer.n_in):
            acc += (xr[:, i : i + 1] * wr[i]) >> s
    if layer.bias is not None:
        br = b_t.to_raw(layer.bias).astype(np.int64)
        sb = b_t.frac - acc_t.frac
        acc += (br >> sb) if sb > 0 else (br << -sb)
    return acc_t._sign_extend(acc.view(np.uint64))


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
