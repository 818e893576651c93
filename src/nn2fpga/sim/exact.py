"""Exact float64 arithmetic for the reference's sums of products (DESIGN section 4).

Values are exact fixed-point numbers held in float64. A sum of products is exact in float64 when
every partial sum, in units of the products' lsb, stays below 2**52: `fits_float` checks that bound
from the data (max|x|) and the weights (largest column sum of |w|). `exact_int_matmul` is the exact
fallback on integers. `finish_exact` adds the bias, wraps, applies a fused ReLU and casts to the result
type in place on float64 sums, bit for bit as `nn2fpga.sim.integer.finish` does on raw integers.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from nn2fpga.ir.layers import Conv2D, Dense
from nn2fpga.ir.types import Overflow, Rounding
from nn2fpga.sim.integer import finish

FLOAT_EXACT_BITS = 53


def fits_float(x_max: float, weight_l1: float, lsb: int) -> bool:
    """True when float64 sums x @ w are exact for these data: every partial sum is a multiple of
    2**-lsb bounded by max|x| * max_j sum_i |w_ij| (weight_l1), asserted below 2**52 in lsb units."""
    return math.ldexp(x_max * weight_l1, lsb) < 2.0 ** (FLOAT_EXACT_BITS - 1)


def abs_max(x: np.ndarray) -> float:
    return max(-float(x.min(initial=0.0)), float(x.max(initial=0.0)))


_PER_WEIGHT: dict[tuple[int, Hashable], tuple[weakref.ref, Any]] = {}


def per_weight(weight: np.ndarray, key: Hashable, compute: Callable[[], Any]) -> Any:
    """compute() once per weight array and key, dropped with the array (weights do not change while a graph runs)."""
    slot = (id(weight), key)
    hit = _PER_WEIGHT.get(slot)
    if hit is None or hit[0]() is not weight:
        hit = _PER_WEIGHT[slot] = (weakref.ref(weight, lambda _: _PER_WEIGHT.pop(slot, None)), compute())
    return hit[1]


def column_l1(weight: np.ndarray, columns: np.ndarray) -> float:
    """max over output columns of sum |w| for `columns` (a view of the layer's `weight` array), once per array."""
    axes = tuple(range(columns.ndim - 1))
    return per_weight(weight, "l1", lambda: float(np.abs(columns).sum(axis=axes).max(initial=0.0)))


def raw(values: np.ndarray, lsb: int) -> np.ndarray:
    """Exact float64 multiples of 2**-lsb -> int64 raw values at that lsb."""
    return np.ldexp(values, lsb).astype(np.int64)


def exact_int_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b for int64 matrices, exactly, with float64 BLAS: b is split into base-2**k digits small
    enough that every partial sum of a @ digit stays below 2**53 (k from the data)."""
    k = 52 - int(np.abs(a).max(initial=0)).bit_length() - max(a.shape[1], 1).bit_length()
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


def finish_exact(layer: Dense | Conv2D, y: np.ndarray, y_max: float) -> np.ndarray:
    """`finish` for exact float64 sums of products `y` (|y| <= y_max; the accumulator's lsb divides the products'),
    in place when y_max shows that the accumulator neither wraps nor leaves float64's exact range: adding the
    bias on the accumulator's grid, relu and an AP_TRN result cast (a floor at the result's lsb) are then exact
    float64 steps. Other roundings, and results that overflow, go on with the raw int64 steps of `finish`."""
    t = layer.types
    b_t, acc_t, out_t = t["bias"], t["accum"], t["result"]
    bias = 0.0  # adding +0.0 also turns a -0.0 sum into +0.0, as the int64 path yields
    if layer.bias is not None:
        br = b_t.to_raw(layer.bias).astype(np.int64)
        sb = b_t.frac - acc_t.frac
        bias = np.ldexp(((br >> sb) if sb > 0 else (br << -sb)).astype(np.float64), -acc_t.frac)
    total = math.ldexp(y_max + float(np.abs(bias).max(initial=0.0)), acc_t.frac)  # accumulator lsb units
    p = t["input"].frac + t["weight"].frac
    if not (total < 2.0 ** (FLOAT_EXACT_BITS - 1) and total <= min(acc_t.raw_max, -acc_t.raw_min)):
        return finish(layer, raw(y, p) << (acc_t.frac - p))
    np.add(y, bias, out=y)
    if layer.activation == "relu":
        np.maximum(y, 0.0, out=y)
    if out_t.rounding != Rounding.TRN or out_t.width >= 64 or not -1000 < out_t.frac <= acc_t.frac:
        return out_t.from_raw(out_t.cast_raw(raw(y, acc_t.frac), acc_t.frac))
    np.multiply(y, math.ldexp(1.0, out_t.frac), out=y)
    np.floor(y, out=y)  # the raw result before overflow handling, exact (as the int64 path's `raw >> drop`)
    sym = out_t.overflow == Overflow.SAT_SYM and out_t.signed
    low_ok = layer.activation == "relu" or float(y.min(initial=0.0)) >= out_t.raw_min + sym
    if not (low_ok and float(y.max(initial=0.0)) <= out_t.raw_max):
        return out_t.from_raw(out_t.overflow_int(y.astype(np.int64)))
    return np.multiply(y, math.ldexp(1.0, -out_t.frac), out=y)
