"""Embedding: a table lookup of integer indices.

The layer reads a model input of indices; `index_inputs` gives that input the integer type of the table's
rows, ap_uint<ceil(log2(input_dim))> (at least 1 bit), as a type the model fixes (the config cannot change
it): indices are exact, and the C++ table is padded with zero rows to 2**bits. Keras casts the indices to
int32 (truncation); ours are floored, the same for the non-negative integers an embedding reads.
"""

from __future__ import annotations

import math

from nn2fpga.frontend.converters import Call, to_array
from nn2fpga.ir.errors import ModelError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Embedding, Input, Layer
from nn2fpga.ir.types import FixedType


def embedding(call: Call) -> list[Layer]:
    cfg = call.layer.get_config()
    if cfg.get("mask_zero"):
        raise ModelError(f"{call.where}: mask_zero=True is not supported (no layer here reads a mask)")
    table = to_array(call.layer.embeddings)
    if len(call.in_shapes[0]) != 1:
        raise ModelError(f"{call.where}: expected a rank-1 (steps,) input of indices, got {call.in_shapes[0]}")
    return [Embedding(call.name, shape=call.shape, weight=table)]


def index_bits(rows: int) -> int:
    return max(1, math.ceil(math.log2(rows)))


def index_inputs(graph: Graph) -> None:
    """Fix the type of every input an Embedding reads to its table's index type; ModelError when an Embedding
    reads anything else, or two Embeddings with different tables share an input."""
    for layer in graph.layers():
        if not isinstance(layer, Embedding):
            continue
        src = graph.producer(layer.name)
        if not isinstance(src, Input):
            raise ModelError(f"layer {layer.name!r} (Embedding) must read a model input of indices, not {src.kind}")
        bits = index_bits(layer.rows)
        t = FixedType(bits, bits, signed=False, int_type=True)
        if src.fixed.get("result", t) != t:
            raise ModelError(f"input {src.name!r} feeds Embeddings of different sizes; give each its own input")
        src.fixed["result"] = t
