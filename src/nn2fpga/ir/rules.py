"""Type arithmetic: the Xilinx result-type rules for products and sums, as pure functions of FixedType."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nn2fpga.ir.types import FixedType, Overflow, Rounding


def _plus_integer(a: FixedType, b: FixedType) -> int:
    return max(a.integer + (b.signed and not a.signed), b.integer + (a.signed and not b.signed))


def product_type(a: FixedType, b: FixedType) -> FixedType:
    """Exact type of `a * b`: W1+W2 bits, I1+I2 integer bits, signed if either is."""
    if a.int_type and b.int_type:
        return FixedType(a.width + b.width, a.width + b.width, a.signed or b.signed, int_type=True)
    return FixedType(a.width + b.width, a.integer + b.integer, a.signed or b.signed)


def union_type(a: FixedType, b: FixedType) -> FixedType:
    """Smallest type holding every value of `a` and of `b` exactly."""
    integer = _plus_integer(a, b)
    frac = max(a.frac, b.frac)
    return FixedType(integer + frac, integer, a.signed or b.signed)


def add_type(a: FixedType, b: FixedType) -> FixedType:
    """Exact type of `a + b`, one bit above `union_type` (the Xilinx `+` rule)."""
    u = union_type(a, b)
    return FixedType(u.width + 1, u.integer + 1, u.signed, int_type=a.int_type and b.int_type)


def sum_type(t: FixedType, n_terms: int) -> FixedType:
    """Exact type of a sum of `n_terms` values of type `t`: ceil(log2(n)) more integer bits."""
    if n_terms < 1:
        raise ValueError(f"sum_type needs at least one term, got {n_terms}")
    grow = math.ceil(math.log2(n_terms)) if n_terms > 1 else 0
    return FixedType(t.width + grow, t.integer + grow, t.signed, int_type=t.int_type)


def exact_accumulator(in_t: FixedType, weight_t: FixedType, bias_t: FixedType, n_in: int) -> FixedType:
    """The accumulator of a Dense/Conv that never rounds or overflows: bias + n_in exact products."""
    return sum_type(union_type(product_type(in_t, weight_t), bias_t), n_in + 1)


def reciprocal(layer: Any, n: int) -> float:
    """1/n quantized to the layer's `recip` type (the constant the C++ multiplies by)."""
    return float(layer.types["recip"].quantize(1.0 / n))


def reciprocals(layer: Any, counts: np.ndarray) -> np.ndarray:
    """`reciprocal` of each count (a padded average pooling's divisors)."""
    return layer.types["recip"].quantize(1.0 / counts)


def layernorm_types(in_t: FixedType, n: int) -> dict[str, FixedType]:
    """The fixed types of LayerNorm over n values of `in_t` (F fraction bits, I integer bits), all derived:
    sum (exact), mean (F + 2 fraction bits, round to nearest, saturating), diff = x - mean (exact), sq = the sum
    of the n squared differences (exact), norm = diff / sqrt(var + epsilon) (22 bits, 7 integer, rounded)."""
    mean = FixedType(in_t.width + 3, in_t.integer + 1, True, Rounding.RND, Overflow.SAT)
    diff = FixedType(in_t.width + 4, in_t.integer + 2, True)
    return {
        "sum": sum_type(in_t, n),
        "mean": mean,
        "diff": diff,
        "sq": sum_type(product_type(diff, diff), n),
        "norm": FixedType(22, 7, True, Rounding.RND, Overflow.SAT),
    }


def raw_container(t: FixedType) -> str:
    """The C integer type that carries one raw value of `t` across the kernel interface."""
    return f"{'' if t.signed else 'u'}int{t.container_bits}_t"
