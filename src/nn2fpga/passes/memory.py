"""On-chip memory: the parts nn2fpga knows (devices.json), what a layer's weight banks cost in memory
primitives, and the `auto` weight storage plan that keeps a model's weights within its part.

Primitive counts: a RAMB18 in its cheapest shape (width x depth: 1 x 16K ... 36 x 512), a URAM288 is
72 x 4096, LUTRAM one LUT per bit per 64 words (ARCHITECTURE facts, docs/synthesis.md). `WeightStorage:
auto` plans per layer (`plan_storage`): LUTRAM for a bank of at most LUTRAM_BITS bits, else BRAM; while the
part's RAMB18 are exceeded, the layer using most RAMB18 moves to URAM (loaded from DDR at start-up:
UltraScale+ cannot initialize URAM from the bitstream), and once URAM is full too, to off-chip (streamed
from DDR every image). Explicit settings are never moved.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

from nn2fpga.ir.errors import ConfigError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Linear
from nn2fpga.passes import fold

# RAMB18 shapes (width bits, depth words); a memory takes the cheapest one
BRAM18_SHAPES = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512))
LUTRAM_DEPTH = 64  # words per LUT of a LUT memory, one bit wide


@dataclass(frozen=True)
class Device:
    name: str  # the table's key, e.g. xcu250
    device: str
    bram18: int
    uram: int
    dsp: int
    lut: int
    lutram: int


@functools.cache
def devices() -> dict[str, Device]:
    """The parts in devices.json (package data), by key."""
    table = json.loads((Path(__file__).parent.parent / "devices.json").read_text())["parts"]
    fields = ("device", "bram18", "uram", "dsp", "lut", "lutram")
    return {key: Device(key, *(row[f] for f in fields)) for key, row in table.items()}


def device(part: str) -> Device:
    """The Device whose key is the longest prefix of `part` (xcu250-figd2104-2L-e -> xcu250)."""
    known = devices()
    matches = [key for key in known if part.lower().startswith(key)]
    if not matches:
        raise ConfigError(f"Part: unknown part {part!r} (its resources are not in nn2fpga's device table); "
                          f"known: {', '.join(sorted(known))}")  # fmt: skip
    return known[max(matches, key=len)]


# ---- memory primitives -------------------------------------------------------------------------------------


def bram18_blocks(words: int, bits: int) -> int:
    """RAMB18 blocks of one memory of `words` x `bits`, in its cheapest shape."""
    return min(math.ceil(bits / w) * math.ceil(words / d) for w, d in BRAM18_SHAPES)


def lutram_luts(words: int, bits: int) -> int:
    return bits * math.ceil(words / LUTRAM_DEPTH)


def weight_primitives(layer: Linear, io_type: str) -> tuple[int, int, int]:
    """(RAMB18 blocks, URAM blocks, LUTs as memory) of a layer's weights: `fold.weight_memory` banks by its
    storage. The io_parallel Latency Dense has no weight memory (its constants are multiplier operands);
    offchip weights (streamed from DDR) have none on chip."""
    if fold.latency_kernel(layer, io_type):
        return 0, 0, 0
    banks, words, bits = fold.weight_memory(layer)
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


def plan_storage(g: Graph, cfg) -> bool:
    """io_stream: while the weights exceed the part's RAMB18, move the `WeightStorage: auto` layer using the
    most RAMB18 to URAM if URAM has room for it; otherwise stream off-chip the on-chip `auto` layer with the
    fewest output pixels (the least DDR traffic per image: its matrix is read once per output pixel); then the
    same while URAM is exceeded. Raises ConfigError for a part not in the device table."""
    if g.io_type != "io_stream":
        return False
    part = device(cfg.part)
    movable = [lay for lay in g.layers() if lay.HAS_MULTIPLIERS and cfg.resolve(lay).weight_storage == "auto"]

    def totals() -> tuple[int, int]:
        use = memory_use(g).values()
        return sum(u[0] for u in use), sum(u[1] for u in use)

    def offload() -> bool:  # stream one layer from DDR instead; False when none is left to move
        onchip = [lay for lay in movable if lay.weight_storage in ("bram", "uram")]
        if not onchip:
            return False
        pixels = {lay.name: math.prod(lay.shape[:-1]) for lay in onchip}
        use = memory_use(g)
        min(onchip, key=lambda lay: (pixels[lay.name], -sum(use[lay.name]))).weight_storage = "offchip"
        return True

    bram, uram = totals()
    while bram > part.bram18:
        use = memory_use(g)
        layer = max(
            (lay for lay in movable if lay.weight_storage == "bram"), key=lambda lay: use[lay.name][0], default=None
        )
        if layer is None:
            break
        layer.weight_storage = "uram"
        if totals()[1] > part.uram:
            layer.weight_storage = "bram"
            if not offload():
                break
        bram, uram = totals()
    while uram > part.uram and offload():
        bram, uram = totals()
    return False
