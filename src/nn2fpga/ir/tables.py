"""Lookup tables for sigmoid, tanh, softmax and the tail-table activations: the one place their contents and
indexing are defined.

Both the C++ library (templates/n2f/activation.h, indexing by `table_index` in templates/n2f/common.h) and
the NumPy reference use these tables, and both compute indices the same way:

    index(x) = clip(floor(x * 2**K) + OFFSET, 0, N - 1)

floor(x * 2**K) is exact in fixed point (a product with a power of two, then AP_TRN = floor).
- sigmoid / tanh / softsign: N entries over [-N / 2**(K+1), N / 2**(K+1)), OFFSET = N/2, entry i is f at
  the bin centre (i - N/2 + 0.5) / 2**K, quantized (round to nearest) to the `table` type.
- elu, selu, softplus, swish, gelu, hard_swish (TAIL_TABLES): N entries over [lo, TAIL_FROM[fn]) at the bin centres,
  OFFSET = -lo * 2**K; at x >= TAIL_FROM the function is x (selu: slope * x, computed, not looked up), below
  lo the first entry (the clip).
- LayerNorm: 1 / sqrt(var + epsilon) indexed by the exact sum of squares q (`layernorm_table`), OFFSET 0.
- softmax: d = max(x) - x_i >= 0; exp entry i = exp(-i / 2**K_EXP) (bin's left edge, so the
  maximum maps to exactly 1), OFFSET 0; s = sum of exp entries (exact), in [1, n];
  inv entry j = 1 / (1 + (j + 0.5) / 2**K_INV), indexed by s with OFFSET -2**K_INV (that is,
  by floor((s - 1) * 2**K_INV)); y_i = cast(e_i * inv).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from nn2fpga.ir.interpret import SELU_ALPHA, SELU_SCALE
from nn2fpga.ir.rules import layernorm_types
from nn2fpga.ir.types import FixedType

TABLE_SIZE = 1024
SIGMOID_RANGE = 8.0  # table covers [-8, 8)
TANH_RANGE = 4.0  # table covers [-4, 4)
SOFTSIGN_RANGE = 16.0  # table covers [-16, 16): beyond, softsign is within 1/17 of +-1
EXP_RANGE = 16.0  # softmax exp table covers d in [0, 16)


@dataclass(frozen=True)
class Table:
    values: np.ndarray  # float64, exactly representable in `dtype`
    dtype: FixedType
    k: int  # index scale 2**k
    offset: int

    @property
    def size(self) -> int:
        return len(self.values)

    def index(self, x: np.ndarray) -> np.ndarray:
        """clip(floor(x * 2**k) + offset, 0, N-1); x holds exact fixed-point values."""
        scaled = np.floor(np.ldexp(np.asarray(x, dtype=np.float64), self.k))
        return np.clip(scaled + self.offset, 0, self.size - 1).astype(np.int64)

    def lookup(self, x: np.ndarray) -> np.ndarray:
        return self.values[self.index(x)]


def _k_for_range(n: int, span: float) -> int:
    """Largest k with n / 2**k >= span (the table covers at least `span`)."""
    return int(math.floor(math.log2(n / span)))


def _centred(fn, n: int, span: float, t: FixedType) -> Table:
    k = _k_for_range(n, 2 * span)
    centres = (np.arange(n) - n // 2 + 0.5) / 2.0**k
    return Table(t.quantize(fn(centres)), t, k, n // 2)


def sigmoid_table(t: FixedType, n: int = TABLE_SIZE) -> Table:
    return _centred(lambda v: 1.0 / (1.0 + np.exp(-v)), n, SIGMOID_RANGE, t)


def tanh_table(t: FixedType, n: int = TABLE_SIZE) -> Table:
    return _centred(np.tanh, n, TANH_RANGE, t)


def softsign_table(t: FixedType, n: int = TABLE_SIZE) -> Table:
    return _centred(lambda v: v / (1.0 + np.abs(v)), n, SOFTSIGN_RANGE, t)


def exp_table(t: FixedType, n: int = TABLE_SIZE) -> Table:
    k = _k_for_range(n, EXP_RANGE)
    return Table(t.quantize(np.exp(-np.arange(n) / 2.0**k)), t, k, 0)


def inv_table(t: FixedType, n_inputs: int, n: int = TABLE_SIZE) -> Table:
    """1/s for s in [1, n_inputs], indexed by s - 1."""
    k = _k_for_range(n, max(n_inputs - 1, 1))
    return Table(t.quantize(1.0 / (1.0 + (np.arange(n) + 0.5) / 2.0**k)), t, k, -(2**k))


VARIANCE_RANGE = 16.0  # LayerNorm's table covers variances in [0, 16)


def layernorm_table(t: FixedType, n_values: int, epsilon: float, n: int = TABLE_SIZE) -> Table:
    """1 / sqrt(var + epsilon), indexed by the exact sum of squared differences q = n_values * var: index
    floor(q * 2**k), entry j at the bin centre q = (j + 0.5) / 2**k, so the table covers var in
    [0, VARIANCE_RANGE) (beyond, its last entry)."""
    k = _k_for_range(n, n_values * VARIANCE_RANGE)
    var = (np.arange(n) + 0.5) / 2.0**k / n_values
    return Table(t.quantize(1.0 / np.sqrt(var + epsilon)), t, k, 0)


def _gelu(v: np.ndarray) -> np.ndarray:
    return 0.5 * v * (1.0 + np.vectorize(math.erf)(v / math.sqrt(2.0)))


# fn -> (f(x, alpha) below the tail, lo): the table covers [lo, TAIL_FROM[fn])
TAIL_TABLES = {
    "elu": (lambda v, a: a * np.expm1(v), -16.0),
    "selu": (lambda v, a: SELU_SCALE * SELU_ALPHA * np.expm1(v), -16.0),
    "softplus": (lambda v, a: np.logaddexp(0.0, v), -8.0),
    "swish": (lambda v, a: v / (1.0 + np.exp(-v)), -8.0),
    "gelu": (lambda v, a: _gelu(v), -8.0),
    "hard_swish": (lambda v, a: v * np.clip(v + 3.0, 0.0, 6.0) / 6.0, -4.0),  # 0 below -3: the clip is exact
}
TAIL_FROM = {"elu": 0, "selu": 0, "softplus": 8, "swish": 8, "gelu": 8, "hard_swish": 3}  # x >= this: the linear tail


def tail_table(fn: str, t: FixedType, alpha: float = 1.0, n: int = TABLE_SIZE) -> Table:
    f, lo = TAIL_TABLES[fn]
    k = _k_for_range(n, TAIL_FROM[fn] - lo)
    offset = int(-lo * 2**k)
    centres = (np.arange(n) - offset + 0.5) / 2.0**k
    return Table(t.quantize(f(centres, alpha)), t, k, offset)


def activation_tables(
    fn: str, types: dict[str, FixedType], n_inputs: int, alpha: float = 1.0, size: int = TABLE_SIZE
) -> dict[str, Table]:
    """The tables of `size` entries an activation uses, keyed by the name the C++ config struct gives them
    (`alpha`: elu's)."""
    if fn in TAIL_TABLES:
        return {"table": tail_table(fn, types["table"], alpha, size)}
    if fn == "sigmoid":
        return {"table": sigmoid_table(types["table"], size)}
    if fn == "tanh":
        return {"table": tanh_table(types["table"], size)}
    if fn == "softsign":
        return {"table": softsign_table(types["table"], size)}
    if fn == "softmax":
        return {"exp_table": exp_table(types["exp_table"], size),
                "inv_table": inv_table(types["inv_table"], n_inputs, size)}  # fmt: skip
    return {}


def layernorm_parts(layer: Any) -> tuple[dict[str, FixedType], Table, int]:
    """A quantized LayerNorm's derived types (`layernorm_types`), its table, and the right shift that takes the
    raw bits of the sum of squares to the table index (floor(q * 2**k))."""
    n = int(layer.shape[-1])
    types = layernorm_types(layer.types["input"], n)
    table = layernorm_table(layer.types["table"], n, layer.epsilon, layer.table_size)
    return types, table, types["sq"].frac - table.k


def recurrent_tables(layer: Any) -> tuple[Table, Table]:
    """(tanh, sigmoid) tables of a quantized Recurrent layer; a SimpleRNN has no sigmoid: its tanh twice."""
    t = layer.types
    tanh = tanh_table(t["table"], layer.table_size)
    return tanh, sigmoid_table(t["rec_table"], layer.table_size) if "rec_table" in t else tanh
