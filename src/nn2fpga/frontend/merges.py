"""Converters of the merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum (one Add layer with its
`op`), Multiply of a feature map by a per-channel vector (ChannelScale: squeeze-and-excitation), Dot of two
vectors and Concatenate along channels."""

from __future__ import annotations

import math

from nn2fpga.frontend.converters import Call, Converter, require_last_axis
from nn2fpga.ir.errors import ModelError
from nn2fpga.ir.layers import Add, ChannelScale, Concatenate, Dot, Layer

MERGES = {"Add": "add", "Subtract": "subtract", "Multiply": "multiply", "Average": "average", "Maximum": "maximum",
          "Minimum": "minimum"}  # fmt: skip


def merge(call: Call) -> list[Layer]:
    """Add, Subtract, Multiply, Average, Maximum, Minimum: one Add layer with its `op`."""
    if call.cls == "Multiply" and len(call.in_shapes) == 2 and _broadcast_vector(call.in_shapes) is not None:
        return [ChannelScale(call.name, shape=call.shape)]
    if len({tuple(s) for s in call.in_shapes}) != 1:
        raise ModelError(f"{call.where}: inputs of different shapes {call.in_shapes} (broadcasting is not supported)")
    op = MERGES[call.cls]
    if op == "multiply" and len(call.in_shapes) != 2:
        raise ModelError(f"{call.where}: Multiply of {len(call.in_shapes)} inputs; nn2fpga multiplies two exactly "
                         "(chain two-input Multiply layers)")  # fmt: skip
    return [Add(call.name, shape=call.shape, op=op)]


def _dot(call: Call) -> list[Layer]:
    cfg = call.layer.get_config()
    if cfg.get("normalize"):
        raise ModelError(f"{call.where}: normalize=True is not supported (an L2 norm per input)")
    if len(call.in_shapes) != 2 or any(len(s) != 1 for s in call.in_shapes) or call.in_shapes[0] != call.in_shapes[1]:
        raise ModelError(f"{call.where}: Dot of {call.in_shapes}; nn2fpga supports two vectors of one length")
    return [Dot(call.name, shape=(1,))]


def _broadcast_vector(shapes: list[tuple[int, ...]]) -> int | None:
    """Which of two inputs is a per-channel vector ((C,) or (1, ..., 1, C)) broadcast over the other's pixels:
    1 (the second), or None. A Multiply that names the vector first is not taken (its order fixes the graph)."""
    (a, b) = shapes
    vector = all(d == 1 for d in b[:-1]) and len(b) in (1, len(a))
    return 1 if vector and len(a) > 1 and b[-1] == a[-1] and math.prod(b) < math.prod(a) else None


def _concatenate(call: Call) -> list[Layer]:
    require_last_axis(call, call.layer.get_config().get("axis", -1), "concatenation")
    return [Concatenate(call.name, shape=call.shape)]


MERGE_CONVERTERS: dict[str, Converter] = {
    **dict.fromkeys(MERGES, merge),
    "Concatenate": _concatenate,
    "Dot": _dot,
}
