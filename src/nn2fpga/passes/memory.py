"""The `auto` weight storage plan (flow "hardware") that keeps a model's weights within its part (the device database
and the primitive counts are `nn2fpga.estimate.devices` and `nn2fpga.estimate.memory`). `WeightStorage: auto` plans
per layer (`plan_storage`): LUTRAM for a bank of at most LUTRAM_BITS bits, else BRAM; while the part's LUTs as
memory are exceeded, the layer using most of them moves to BRAM; while the part's RAMB18 are exceeded, the layer
using most RAMB18 moves to URAM (loaded from DDR at start-up: UltraScale+ cannot initialize URAM from the
bitstream), and once URAM is full too, to off-chip (streamed from DDR every image). Explicit settings are never
moved.
"""

from __future__ import annotations

import math

from nn2fpga.estimate.devices import device
from nn2fpga.estimate.memory import memory_use
from nn2fpga.ir.graph import Graph


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

    def lutram_total() -> int:
        return sum(u[2] for u in memory_use(g).values())

    while lutram_total() > part.lutram:  # the banks using most LUTs as memory go to BRAM first
        use = memory_use(g)
        small = [lay for lay in movable if lay.weight_storage == "lutram"]
        if not small:
            break
        max(small, key=lambda lay: use[lay.name][2]).weight_storage = "bram"
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
