"""Memory primitives: what a memory of `words` x `bits` costs in RAMB18, URAM288 or LUTs, and what each
layer's weight banks cost by their storage.

A RAMB18 in its cheapest shape (width x depth: 1 x 16K ... 36 x 512), a URAM288 is 72 x 4096, LUTRAM one
LUT per bit per 64 words (docs/estimates.md gives the sources).
"""

from __future__ import annotations

import math

from nn2fpga.estimate import geometry
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Linear

# RAMB18 shapes (width bits, depth words); a memory takes the cheapest one
BRAM18_SHAPES = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512))
LUTRAM_DEPTH = 64  # words per LUT of a LUT memory, one bit wide


def bram18_blocks(words: int, bits: int) -> int:
    """RAMB18 blocks of one memory of `words` x `bits`, in its cheapest shape."""
    return min(math.ceil(bits / w) * math.ceil(words / d) for w, d in BRAM18_SHAPES)


def lutram_luts(words: int, bits: int) -> int:
    return bits * math.ceil(words / LUTRAM_DEPTH)


def weight_primitives(layer: Linear, io_type: str) -> tuple[int, int, int]:
    """(RAMB18 blocks, URAM blocks, LUTs as memory) of a layer's weights: `geometry.weight_memory` banks by its
    storage. The io_parallel Latency Dense has no weight memory (its constants are multiplier operands);
    offchip weights (streamed from DDR) have none on chip."""
    if geometry.latency_kernel(layer, io_type):
        return 0, 0, 0
    banks, words, bits = geometry.weight_memory(layer)
    if layer.weight_storage == "bram":
        return banks * bram18_blocks(words, bits), 0, 0
    if layer.weight_storage == "uram":  # a URAM288 is 4096 x 72; its contents need a load path at run time
        return 0, banks * math.ceil(bits / 72) * math.ceil(words / 4096), 0
    if layer.weight_storage == "lutram":
        return 0, 0, banks * lutram_luts(words, bits)
    return 0, 0, 0


MEMORIES = (("bram18", "RAMB18"), ("uram", "URAM"), ("lutram", "LUTs as memory"))  # weight_primitives' order


def memory_use(graph: Graph) -> dict[str, tuple[int, int, int]]:
    """Layer name -> `weight_primitives` of every layer with multipliers."""
    return {layer.name: weight_primitives(layer, graph.io_type) for layer in graph.layers() if layer.HAS_MULTIPLIERS}
