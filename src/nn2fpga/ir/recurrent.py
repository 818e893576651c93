"""Recurrent layers: Keras SimpleRNN, LSTM and GRU as one kind, their cell applied at every step.

Over (steps, n_in) inputs with `units` outputs, G gates (SimpleRNN 1, LSTM 4 in Keras's order i, f, c, o, GRU 3
in the order z, r, h), per step t with h the previous output (0 at t = 0):

- pre-activations `a = bias + x_t · weight + h · recurrent` (GRU: the input part `x_t · weight + bias` and the
  recurrent part `h · recurrent + recurrent_bias` apart, Keras's reset_after), exact;
- SimpleRNN: h = tanh(a);
- LSTM: i, f, o = sigmoid(a_i, a_f, a_o), g = tanh(a_c), c = f c + i g (cast to `cell`), h = o tanh(c);
- GRU: z, r = sigmoid(ax + ah), hh = tanh(ax_h + r inner), h = z h + (1 - z) hh, inner = ah_h cast to 32 bits
  (`gru_inner`: the pre-activation's integer bits, round to nearest, saturate) so that r inner stays exact
  within 53 bits.

tanh and sigmoid are the activation tables of `nn2fpga.ir.tables` (types `table` and `rec_table`), looked up at
the exact pre-activation; every product and sum before a cast is exact; h is cast to `result`. The output is h
at every step (return_sequences) or at the last.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from nn2fpga.ir.layers import Layer
from nn2fpga.ir.rules import product_type, sum_type, union_type
from nn2fpga.ir.types import FixedType, Overflow, Rounding

GATES = {"simple": 1, "lstm": 4, "gru": 3}


@dataclass(eq=False)
class Recurrent(Layer):
    """weight (n_in, G units), recurrent (units, G units), bias and recurrent_bias (G units; the latter GRU's
    only, zeros otherwise); shape (units,) or (steps, units) with return_sequences."""

    cell: str = "lstm"
    weight: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    recurrent: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0))
    recurrent_bias: np.ndarray = field(default_factory=lambda: np.zeros(0))
    return_sequences: bool = False
    table_size: int = 1024  # entries of its tanh and sigmoid tables (TableSize)

    TYPE_ROLES: ClassVar[tuple[str, ...]] = ("result", "weight", "bias", "table", "rec_table", "cell")

    def type_roles(self) -> tuple[str, ...]:
        return {"simple": ("result", "weight", "bias", "table"), "gru": self.TYPE_ROLES[:-1]}.get(
            self.cell, self.TYPE_ROLES
        )

    @property
    def units(self) -> int:
        return int(self.recurrent.shape[0])

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[0])

    def weights(self) -> dict[str, np.ndarray]:
        return {"weight": self.weight, "recurrent": self.recurrent, "bias": self.bias,
                "recurrent_bias": self.recurrent_bias}  # fmt: skip


def recurrent_accum(layer: Recurrent) -> FixedType:
    """The exact type of a pre-activation: bias + n_in input products + units recurrent products (+ the GRU's
    recurrent bias)."""
    t = layer.types
    products = union_type(product_type(t["input"], t["weight"]), product_type(t["result"], t["weight"]))
    return sum_type(union_type(products, t["bias"]), layer.n_in + layer.units + 2)


def gru_inner(layer: Recurrent) -> FixedType:
    """The type of a GRU's recurrent candidate part before r multiplies it: 32 bits, the accumulator's integer bits."""
    return FixedType(32, recurrent_accum(layer).integer, True, Rounding.RND, Overflow.SAT)


def float64_widths(layer: Recurrent) -> dict[str, int]:
    """The widths the reference computes in float64 (each must be at most 53 bits to be exact)."""
    t, acc = layer.types, recurrent_accum(layer)
    widths = {"the pre-activation sum": acc.width}
    if layer.cell == "lstm":
        gate = t["rec_table"]
        widths["f c + i g"] = sum_type(
            union_type(product_type(gate, t["cell"]), product_type(gate, t["table"])), 2
        ).width
    if layer.cell == "gru":
        gate = t["rec_table"]
        widths["ax + r (h U + b)"] = sum_type(union_type(acc, product_type(gate, gru_inner(layer))), 2).width
        widths["z h + (1 - z) hh"] = sum_type(product_type(gate, union_type(t["result"], t["table"])), 3).width
    return widths
