"""Exact float64 arithmetic for the reference's sums of products (DESIGN section 4).

Values are exact fixed-point numbers held in float64. A sum of products is exact in float64 when
every partial sum, in units of the products' lsb, stays below 2**52: `fits_float` checks that bound
from the data (max|x|) and the weights (largest column sum of |w|). `exact_int_matmul` is the exact
fallback on integers. `finish` / `finish_exact` add the bias, wrap, apply a fused ReLU and cast to the
result type, bit for bit as the C++ layers do.
"""

from __future__ import annotations

import math
import weakref

import numpy as np

from nn2fpga.ir.layers import Conv2D, Dense
from nn2fpga.ir.types import Overflow, Rounding

FLOAT_EXACT_BITS = 53


def fits_float(x_max: float, weight_l1: float, lsb: int) -> bool:
    """True when float64 sums x @ w are exact for these data: every partial sum is a multiple of
    2**-lsb bounded by max|x| * max_j sum_i |w_ij| (weight_l1), asserted below 2**52 in lsb units."""
    return math.ldexp(x_max * weight_l1, lsb) < 2.0 ** (FLOAT_EXACT_BITS - 1)


def abs_max(x: np.ndarray) -> float:
    return max(-float(x.min(initial=0.0)), float(x.max(initial=0.0)))


_L1_CACHE: dict[int, tuple[weakref.ref, float]] = {}


def column_l1(key: np.ndarray, columns: np.ndarray) -> float:
    """max over output columns of sum |w| for `columns` (a view of the layer's weight array `key`),
    computed once per weight array: a graph's weights do not change while it runs."""
    hit = _L1_CACHE.get(id(key))
    if hit is not None and hit[0]() is key:
        return hit[1]
    value = float(np.abs(columns).sum(axis=tuple(range(columns.ndim - 1))).max(initial=0.0))
    _L1_CACHE[id(key)] = (weakref.ref(key), value)
    return value


def raw(values: np.ndarray, lsb: int) -> np.ndarray:
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
