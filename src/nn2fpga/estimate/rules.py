"""The resource rules of the estimator, one function per primitive, each with its source in docs/estimates.md.

A `Cost` is (dsp, lut, ff, bram18k, uram). Rules:
- multiplier: a signed a x b product fits one DSP48E2 when it fits 27 x 18 (either way round; DSP48E1 of
  7-series parts: 25 x 18); wider products take ceil(a / 26) x ceil(b / 17) DSPs (unsigned partial products
  of 26 x 17 bits, the multiplier's width less its sign bit). Products with a + b <= FABRIC_MAX_BITS go to
  LUTs (`fabric_multiplier_luts`); this threshold is nn2fpga's rule, not an AMD-documented one.
- fabric multiplier: (2 ceil((a + b) / 6) - 1)(a + b) LUTs (FINN-R's LUT model; 80 for 8 x 8).
- two products per DSP48E2 (Multipliers: packed, `packing_error`): floor(PE / 2) DSPs per SIMD lane for the
  PE pairs, an odd PE's last product its own, and a correction adder of a + b LUTs per pair (AMD WP486).
- memories: `nn2fpga.estimate.memory` (RAMB18 shapes, URAM288 4K x 72, LUTRAM 64 words per LUT).
- FIFO: depth <= 2 in registers; up to SRL_MAX_DEPTH in shift-register LUTs (SRLC32E: 32 words of one bit per
  LUT); deeper in block RAM (FINN's StreamingFIFO rule).
- adders: one LUT per bit of a two-input addition (the carry chain); registers: one FF per bit held.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from nn2fpga.estimate.memory import bram18_blocks, lutram_luts

FABRIC_MAX_BITS = 10  # a product of a + b <= 10 bits is built in LUTs (nn2fpga's rule, docs/estimates.md)
SRL_MAX_DEPTH = 256  # FIFOs up to this depth use SRL LUTs (FINN's rtl FIFO style), deeper ones block RAM
SRL_DEPTH = 32  # words of one bit per SRLC32E LUT
REGISTER_FIFO = 2  # a FIFO this shallow is registers
LUTRAM_MAX_BITS = 4096  # a local array of at most this many bits goes to LUTRAM, larger ones to block RAM


@dataclass
class Cost:
    dsp: float = 0
    lut: float = 0
    ff: float = 0
    bram18k: float = 0
    uram: float = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def __mul__(self, k: float) -> Cost:
        return Cost(*(getattr(self, f.name) * k for f in fields(self)))

    def as_dict(self) -> dict[str, int]:
        return {f.name: int(math.ceil(getattr(self, f.name))) for f in fields(self)}


def dsp_per_product(a: int, b: int, family: str = "ultrascale+") -> int:
    """DSP slices of one a x b signed product (0: built in LUTs)."""
    if a + b <= FABRIC_MAX_BITS:
        return 0
    wa = 27 if family == "ultrascale+" else 25
    lo, hi = sorted((a, b))
    if lo <= 18 and hi <= wa:
        return 1
    return math.ceil(hi / (wa - 1)) * math.ceil(lo / 17)


def fabric_multiplier_luts(a: int, b: int) -> int:
    """LUTs of one a x b multiplier built in fabric (FINN-R)."""
    return (2 * math.ceil((a + b) / 6) - 1) * (a + b)


PACK_SHIFT = 18  # the second weight sits 18 bits up in the pre-adder's 27-bit operand
PACK_PORT = 27  # DSP48E2 A / D (pre-adder) operand width; B is 18


def packing_error(a_bits: int, w_bits: int, family: str) -> str | None:
    """Why two products x * w0, x * w1 of one input cannot share a DSP48E2 (None: they can). `a_bits`, `w_bits`:
    the operands' widths as signed values (an unsigned type needs one bit more). w1 * 2^18 + w0 must fit the
    27-bit pre-adder (w_bits <= 8) and x * w0 the low 18 bits of the product (a_bits + w_bits <= 18)."""
    if family != "ultrascale+":
        return "needs a part with DSP48E2 slices (UltraScale / UltraScale+)"
    if w_bits > PACK_PORT - PACK_SHIFT - 1:
        return f"needs weights of at most {PACK_PORT - PACK_SHIFT - 1} signed bits (has {w_bits})"
    if a_bits + w_bits > PACK_SHIFT:
        return f"needs products of at most {PACK_SHIFT} bits (input {a_bits} + weight {w_bits} signed bits)"
    return None


def multipliers(n: int, a: int, b: int, family: str, impl: str = "auto", pe: int = 1) -> Cost:
    """`n` multipliers of a x b bits: DSPs by `dsp_per_product` (impl auto or dsp), LUTs (impl lut or narrow
    products), or (impl packed) the `n / pe` SIMD lanes' PE pairs two to a DSP with their correction adders."""
    per = dsp_per_product(a, b, family)
    if impl == "lut" or per == 0:
        return Cost(lut=n * fabric_multiplier_luts(a, b), ff=n * (a + b))
    if impl == "packed":
        pairs = (pe // 2) * (n // pe)
        return Cost(dsp=n - pairs, lut=pairs * (a + b), ff=n * (a + b))
    return Cost(dsp=n * max(per, 1), ff=n * (a + b))


def adders(n: int, bits: int) -> Cost:
    """`n` two-input additions of `bits` bits in LUT carry chains, registered once."""
    return Cost(lut=n * bits, ff=n * bits)


def array_memory(words: int, bits: int, copies: int = 1) -> Cost:
    """A local array: LUTRAM up to LUTRAM_MAX_BITS, else block RAM in its cheapest RAMB18 shape."""
    if words * bits <= LUTRAM_MAX_BITS:
        return Cost(lut=copies * lutram_luts(words, bits))
    return Cost(bram18k=copies * bram18_blocks(words, bits))


def fifo(depth: int, bits: int) -> Cost:
    """One stream of `depth` words of `bits`: registers, SRL LUTs or block RAM (plus its counters)."""
    if depth <= REGISTER_FIFO:
        return Cost(ff=depth * bits + 4)
    if depth <= SRL_MAX_DEPTH:
        return Cost(lut=math.ceil(depth / SRL_DEPTH) * bits + 8, ff=bits + 2 * math.ceil(math.log2(depth)))
    return Cost(bram18k=bram18_blocks(depth, bits), lut=30, ff=bits + 2 * math.ceil(math.log2(depth)))


def table(entries: int, bits: int, reads: int, ii: int) -> Cost:
    """A lookup table read `reads` times per `ii` cycles: dual-port ROM copies, ceil(reads / (2 ii))."""
    return array_memory(entries, bits, copies=max(1, math.ceil(reads / (2 * max(ii, 1)))))
