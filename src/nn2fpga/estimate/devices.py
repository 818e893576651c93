"""The device database: the FPGA parts nn2fpga knows, as data (`devices.json`, every number with its source).

A `Part` string (the full part, `xcu250-figd2104-2L-e`) resolves to the entry whose key is its longest
prefix (`xcu250`); an unknown part is a ConfigError listing the known keys. Counts are whole-device:
RAMB18 blocks (two per 36 Kb block RAM), URAM288 blocks, DSP slices, CLB LUTs, LUTs usable as memory
(SLICEM), CLB flip-flops, and the off-chip memory banks a kernel can reach.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

from nn2fpga.ir.errors import ConfigError

RESOURCES = ("dsp", "lut", "ff", "bram18k", "uram")  # the order of every resource table


@dataclass(frozen=True)
class MemoryBank:
    """Off-chip memory reachable from the fabric: `count` banks (channels) of `size_gb` each, `width_bits` data
    bits per channel, `axi_bits` the data width of the kernel-side AXI port, `gbps` bandwidth per bank."""

    name: str
    kind: str
    count: int
    size_gb: float
    width_bits: int
    axi_bits: int  # 0: the platform has no port; the fabric needs a memory controller of its own
    gbps: float | None  # None where no source confirms it
    note: str = ""


@dataclass(frozen=True)
class Device:
    name: str  # the table's key, e.g. xcu250
    device: str
    bram18: int
    uram: int
    dsp: int
    lut: int
    lutram: int
    ff: int
    slrs: int = 1
    family: str = "ultrascale+"  # DSP48E2 parts; "7series" has DSP48E1 (25 x 18 multipliers)
    memory: tuple[MemoryBank, ...] = field(default_factory=tuple)

    def available(self) -> dict[str, int]:
        """The resources by the names of RESOURCES."""
        return {"dsp": self.dsp, "lut": self.lut, "ff": self.ff, "bram18k": self.bram18, "uram": self.uram}


@functools.cache
def devices() -> dict[str, Device]:
    """The parts in devices.json (package data), by key."""
    table = json.loads((Path(__file__).parent / "devices.json").read_text())["parts"]
    fields = ("device", "bram18", "uram", "dsp", "lut", "lutram", "ff", "slrs", "family")
    out = {}
    for key, row in table.items():
        banks = tuple(MemoryBank(**{k: b[k] for k in MemoryBank.__dataclass_fields__}) for b in row["memory"])
        out[key] = Device(key, *(row[f] for f in fields), memory=banks)
    return out


def device(part: str) -> Device:
    """The Device whose key is the longest prefix of `part` (xcu250-figd2104-2L-e -> xcu250)."""
    known = devices()
    matches = [key for key in known if part.lower().startswith(key)]
    if not matches:
        raise ConfigError(f"Part: unknown part {part!r} (its resources are not in nn2fpga's device table); "
                          f"known: {', '.join(sorted(known))}")  # fmt: skip
    return known[max(matches, key=len)]
