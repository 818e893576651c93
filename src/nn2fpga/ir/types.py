"""Fixed-point types: the one NumPy model of Xilinx `ap_fixed` conversion.

`FixedType` is a frozen value object. It renders and parses the C++ spellings
(`ap_fixed<16,6,AP_RND_CONV,AP_SAT>`, `ap_ufixed<8,0>`, `ap_int<8>`, `fixed<16,6>`) and owns
`to_raw` / `from_raw` / `quantize`, vectorized, for every rounding and overflow mode, bit for bit
what the C++ headers under `templates/` and the Xilinx reference headers compute when a double is
assigned to the type. Type arithmetic (`product_type`, `sum_type`, `union_type`) are pure
functions beside it, following the Xilinx result-type rules.

A value of type `FixedType(W, I, signed)` is `raw * 2**-(W - I)` with `raw` a W-bit integer.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass

import numpy as np

MAX_WIDTH = 64  # widest declared type: one value fits a 64-bit word
MAX_INTERMEDIATE_WIDTH = 128  # exact products of two 64-bit values (C++ side: __int128)


class Rounding(str, enum.Enum):
    """Xilinx quantization modes (what happens to bits below the lsb)."""

    TRN = "AP_TRN"  # toward -inf (drop bits)
    TRN_ZERO = "AP_TRN_ZERO"  # toward zero
    RND = "AP_RND"  # nearest, ties toward +inf
    RND_ZERO = "AP_RND_ZERO"  # nearest, ties toward zero
    RND_MIN_INF = "AP_RND_MIN_INF"  # nearest, ties toward -inf
    RND_INF = "AP_RND_INF"  # nearest, ties away from zero
    RND_CONV = "AP_RND_CONV"  # nearest, ties to even


class Overflow(str, enum.Enum):
    """Xilinx overflow modes (what happens to values outside the range)."""

    WRAP = "AP_WRAP"  # keep the low W bits
    SAT = "AP_SAT"  # clamp to min / max
    SAT_ZERO = "AP_SAT_ZERO"  # set to zero
    SAT_SYM = "AP_SAT_SYM"  # clamp to -max / max (signed), as AP_SAT for unsigned


_TYPE_RE = re.compile(
    r"^\s*(?P<ap>ap_)?(?P<u>u)?(?P<kind>fixed|int)\s*<\s*(?P<args>[^<>]*)>\s*$",
)


def _mode(enum_cls: type[enum.Enum], text: str, spelled: str) -> enum.Enum:
    name = text.strip().upper()
    if not name.startswith("AP_"):
        name = "AP_" + name
    for member in enum_cls:
        if member.value == name:
            return member
    allowed = ", ".join(m.value for m in enum_cls)
    raise ValueError(f"invalid precision {spelled!r}: unknown mode {text.strip()!r} (allowed: {allowed})")


@dataclass(frozen=True)
class FixedType:
    """A fixed-point (or integer) type as Vitis HLS sees it.

    width: total bits W (1..64 for declared types; up to 128 for exact intermediate results).
    integer: integer bits I, sign bit included for signed types; may be negative or exceed W.
    int_type: render as `ap_int<W>` / `ap_uint<W>` (requires integer == width and default modes).
    """

    width: int
    integer: int
    signed: bool = True
    rounding: Rounding = Rounding.TRN
    overflow: Overflow = Overflow.WRAP
    int_type: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.width, int) or not 1 <= self.width <= MAX_INTERMEDIATE_WIDTH:
            raise ValueError(f"invalid width {self.width!r}: widths 1..{MAX_WIDTH} are supported")
        if not isinstance(self.integer, (int, np.integer)):
            raise ValueError(f"invalid integer bits {self.integer!r}: must be an integer")
        object.__setattr__(self, "integer", int(self.integer))
        object.__setattr__(self, "rounding", Rounding(self.rounding))
        object.__setattr__(self, "overflow", Overflow(self.overflow))
        if self.int_type and (
            self.integer != self.width or self.rounding != Rounding.TRN or self.overflow != Overflow.WRAP
        ):
            raise ValueError("ap_int types have integer == width and default modes")

    # ---- construction -------------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> FixedType:
        """Parse `ap_fixed<W,I[,Q[,O[,N]]]>`, `ap_ufixed<...>`, `ap_int<W>`, `ap_uint<W>`, `fixed<...>`, `int<W>`."""
        if isinstance(text, FixedType):
            return text
        allowed = "ap_fixed<W,I[,Q,O]>, ap_ufixed<W,I[,Q,O]>, ap_int<W>, ap_uint<W>, fixed<W,I>, ufixed<W,I>, int<W>"
        m = _TYPE_RE.match(str(text))
        if m is None:
            raise ValueError(f"invalid precision {text!r}: expected one of {allowed}")
        args = [a.strip() for a in m["args"].split(",")] if m["args"].strip() else []
        signed = m["u"] is None
        try:
            nums = [int(a) for a in args[:2]]
        except ValueError:
            raise ValueError(f"invalid precision {text!r}: width and integer bits must be integers") from None
        if m["kind"] == "int" and len(args) != 1:
            raise ValueError(f"invalid precision {text!r}: integer types take one parameter, e.g. ap_int<8>")
        if m["kind"] == "fixed" and not 2 <= len(args) <= 5:
            raise ValueError(f"invalid precision {text!r}: expected one of {allowed}")
        width = nums[0]
        if not 1 <= width <= MAX_WIDTH:
            raise ValueError(f"invalid precision {text!r}: width {width} is outside 1..{MAX_WIDTH}")
        if m["kind"] == "int":
            return cls(width, width, signed, int_type=True)
        integer = nums[1]
        rounding = _mode(Rounding, args[2], text) if len(args) > 2 else Rounding.TRN
        overflow = _mode(Overflow, args[3], text) if len(args) > 3 else Overflow.WRAP
        if len(args) == 5 and args[4] != "0":
            raise ValueError(f"invalid precision {text!r}: only 0 saturation bits (the 5th parameter) are supported")
        return cls(width, integer, signed, rounding, overflow)

    def with_modes(self, rounding: Rounding | str | None = None, overflow: Overflow | str | None = None) -> FixedType:
        """The same bits with other rounding / overflow modes."""
        return FixedType(
            self.width,
            self.integer,
            self.signed,
            Rounding(rounding) if rounding is not None else self.rounding,
            Overflow(overflow) if overflow is not None else self.overflow,
        )

    # ---- rendering ----------------------------------------------------------------------------------

    def cpp(self) -> str:
        """The C++ spelling; modes are omitted where they are the defaults."""
        if self.int_type:
            return f"ap_{'' if self.signed else 'u'}int<{self.width}>"
        base = f"ap_{'' if self.signed else 'u'}fixed<{self.width},{self.integer}"
        if self.overflow != Overflow.WRAP:
            return f"{base},{self.rounding.value},{self.overflow.value}>"
        if self.rounding != Rounding.TRN:
            return f"{base},{self.rounding.value}>"
        return base + ">"

    def __str__(self) -> str:
        return self.cpp()

    # ---- properties ---------------------------------------------------------------------------------

    @property
    def frac(self) -> int:
        """Fractional bits F = W - I (may be negative)."""
        return self.width - self.integer

    @property
    def lsb(self) -> float:
        return math.ldexp(1.0, -self.frac)

    @property
    def container_bits(self) -> int:
        """Bits of the C integer (8, 16, 32, 64) that carries one raw value in memory and on the kernel ports."""
        return next(b for b in (8, 16, 32, 64) if self.width <= b)

    @property
    def raw_min(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def raw_max(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def min(self) -> float:
        return math.ldexp(float(self.raw_min), -self.frac)

    @property
    def max(self) -> float:
        return math.ldexp(float(self.raw_max), -self.frac)

    def contains(self, other: FixedType) -> bool:
        """True when every value of `other` is exactly representable here (modes ignored)."""
        return (
            self.frac >= other.frac
            and (self.signed or not other.signed)
            and self.integer - self.signed >= other.integer - other.signed
        )

    # ---- conversion (the NumPy model of assigning a double) ----------------------------------------

    def to_raw(self, x: np.ndarray | float) -> np.ndarray:
        """Raw W-bit integers of `x` converted to this type, exactly as C++ `T(double)` does.

        Returns int64 (uint64 for an unsigned 64-bit type). NaN raises ValueError.
        """
        if self.width > MAX_WIDTH:
            raise ValueError(f"{self}: to_raw supports widths up to {MAX_WIDTH}")
        x = np.asarray(x, dtype=np.float64)
        q = self._round_fast(x)
        if q is not None:
            return self.overflow_int(q)
        if np.isnan(x).any():
            raise ValueError(f"cannot convert NaN to {self}")
        qf, raw = self._to_raw_exact(x)
        top = math.ldexp(1.0, self.width - 1 if self.signed else self.width)  # raw_max + 1
        bottom = -top if self.signed else 0.0
        over = qf >= top
        under = qf < bottom
        if self.overflow == Overflow.SAT_SYM and self.signed:
            under = under | (qf == bottom)  # Xilinx turns the exact minimum into -max as well
        if self.overflow != Overflow.WRAP:
            hi, lo = (np.array(v).astype(raw.dtype) for v in self._saturation_values())
            raw = np.where(over, hi, np.where(under, lo, raw))
        return raw

    def _round_fast(self, x: np.ndarray) -> np.ndarray | None:
        """x * 2**F rounded to int64 in float64 alone, for the common case: when x * 2**F stays below
        2**52 in magnitude and never underflows, scaling, floor() and the remainder are all exact.
        None when that does not hold (NaN and inf included) or for 64-bit types."""
        if x.size == 0 or self.width >= 64 or self.frac > 1000 or self.frac < -1000:
            return None
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = np.ldexp(x, self.frac)
            big = max(-float(scaled.min()), float(scaled.max()))
        if not big < 2.0**52:  # also false for inf / nan
            return None
        if self.frac < 0:  # scaling down could round a tiny value: only safe when nothing gets near 2**-1022
            nonzero = np.abs(x[x != 0])
            if nonzero.size and nonzero.min() < 2.0 ** (-1022 - self.frac):
                return None
        floor = np.floor(scaled)
        q = floor.astype(np.int64)
        if self.rounding == Rounding.TRN:
            return q
        return q + self._round_increment(q, scaled - floor, np.float64(0.5), x < 0)

    def overflow_int(self, q: np.ndarray) -> np.ndarray:
        """Raw integers of this type (width < 64) for exact integers `q` (int64) at its lsb: wrap or
        saturate what lies outside [raw_min, raw_max]; `q` itself when everything fits."""
        lo, hi = self.raw_min, self.raw_max
        sym = self.overflow == Overflow.SAT_SYM and self.signed
        q_min, q_max = int(q.min(initial=0)), int(q.max(initial=0))
        if q_min >= lo + sym and q_max <= hi:
            return q
        if self.overflow == Overflow.WRAP:
            return self.sign_extend(q.view(np.uint64))
        if self.overflow == Overflow.SAT:
            return np.clip(q, lo, hi)
        over_v, under_v = self._saturation_values()
        return np.where(q > hi, over_v, np.where((q < lo) | ((q == lo) if sym else False), under_v, q))

    def _to_raw_exact(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(value * 2**F rounded, as float64 for range checks; its low W bits) for any finite or infinite x."""
        # x = M * 2**e exactly, with |M| < 2**53 an integer; +-inf behaves as +-2**1024 (the IEEE bits).
        finite = np.isfinite(x)
        m, e = np.frexp(np.where(finite, x, np.copysign(0.5, x)))
        e = np.where(finite, e, 1025)
        mant = np.ldexp(m, 53).astype(np.int64)
        shift = (e - 53 + self.frac).astype(np.int64)  # value * 2**F = mant * 2**shift

        # Right shifts (drop bits, then round). Shifting by 62 already gives floor() for any |mant| < 2**53.
        down = np.minimum(np.maximum(-shift, 1), 62)
        q = mant >> down
        rem = mant & ((np.int64(1) << down) - 1)
        half = np.int64(1) << (down - 1)
        q = q + self._round_increment(q, rem, half, mant < 0)
        q = np.where(shift < 0, q, 0)

        # Left shifts are exact; the result may be far out of range, so compare in float64 (exact here:
        # the value is an integer times a power of two, and the bounds 2**k are exact too).
        with np.errstate(over="ignore"):
            qf = np.where(shift < 0, q.astype(np.float64), np.ldexp(mant.astype(np.float64), np.maximum(shift, 0)))
        # Low 64 bits of the integer value, for AP_WRAP.
        up = np.clip(shift, 0, 63)
        wrapped_u = np.where(
            shift < 0,
            q.view(np.uint64),
            np.where(shift < 64, mant.view(np.uint64) << up.astype(np.uint64), np.uint64(0)),
        )
        raw = self.sign_extend(wrapped_u)
        return qf, raw

    def _round_increment(self, q: np.ndarray, rem: np.ndarray, half: np.ndarray, negative: np.ndarray) -> np.ndarray:
        """0/1 to add to floor(value) given the dropped bits (rem out of 2*half)."""
        r = self.rounding
        above, tie, nonzero = rem > half, rem == half, rem != 0
        if r == Rounding.TRN:
            inc = np.zeros_like(nonzero)
        elif r == Rounding.TRN_ZERO:
            inc = negative & nonzero
        elif r == Rounding.RND:
            inc = above | tie
        elif r == Rounding.RND_ZERO:
            inc = above | (tie & negative)
        elif r == Rounding.RND_MIN_INF:
            inc = above
        elif r == Rounding.RND_INF:
            inc = above | (tie & ~negative)
        else:  # RND_CONV: ties to even
            inc = above | (tie & ((q & 1) == 1))
        return inc.astype(np.int64)

    def sign_extend(self, u: np.ndarray) -> np.ndarray:
        """Low W bits of uint64 `u` as this type's raw integers (two's complement for signed)."""
        w = self.width
        if w < 64:
            mask = np.uint64((1 << w) - 1)
            u = u & mask
            if self.signed:
                u = np.where((u >> np.uint64(w - 1)) & np.uint64(1) == 1, u | ~mask, u)
        return u.view(np.int64) if self.signed or w < 64 else u

    def _saturation_values(self) -> tuple[int, int]:
        """(value on overflow, value on underflow) as raw integers of the output dtype."""
        if self.overflow == Overflow.SAT_ZERO:
            return 0, 0
        if self.overflow == Overflow.SAT_SYM and self.signed:
            return self.raw_max, self.raw_min | 1  # -max; for W=1 Xilinx yields raw 1 (value -1)
        return self.raw_max, self.raw_min

    def cast_raw(self, raw: np.ndarray, frac: int) -> np.ndarray:
        """Raw integers of this type for the exact values `raw * 2**-frac` (int64 `raw`), as a C++ cast
        from a fixed-point type with `frac` fractional bits does. Exact for any 64-bit `raw`."""
        raw = np.asarray(raw, dtype=np.int64)
        drop = frac - self.frac  # low bits the cast drops (rounding them); negative: bits it appends
        if raw.size and self.width < 64 and 0 <= drop <= 62:  # integer shifts: exact, any raw
            q = raw >> drop
            if drop and self.rounding != Rounding.TRN:
                rem, half = raw & ((1 << drop) - 1), np.int64(1 << (drop - 1))
                q = q + self._round_increment(q, rem, half, raw < 0)
            return self.overflow_int(q)
        if raw.size == 0 or np.abs(raw).max() < 2**53:  # exactly representable as float64
            return self.to_raw(np.ldexp(raw.astype(np.float64), -frac))
        flat = [self._cast_int(int(v), frac) for v in raw.ravel()]
        dtype = np.uint64 if self.width == 64 and not self.signed else np.int64
        return np.array(flat, dtype=dtype).reshape(raw.shape)

    def _cast_int(self, v: int, frac: int) -> int:
        """Scalar Python-int version of the conversion (for values wider than float64)."""
        shift = self.frac - frac
        if shift >= 0:
            q = v << shift
        else:
            d = -shift
            q, rem, half = v >> d, v & ((1 << d) - 1), 1 << (d - 1)
            obj = [np.array([n], dtype=object) for n in (q, rem, half)]  # Python ints: no 64-bit limit
            q += int(self._round_increment(*obj, np.array([v < 0]))[0])
        lo, hi = self.raw_min, self.raw_max
        sym = self.overflow == Overflow.SAT_SYM and self.signed
        if q > hi or q < lo or (sym and q == lo):
            if self.overflow == Overflow.WRAP:
                q &= (1 << self.width) - 1
                if self.signed and q >> (self.width - 1):
                    q -= 1 << self.width
            else:
                over_v, under_v = self._saturation_values()
                q = over_v if q > hi else under_v
        return q

    def from_raw(self, raw: np.ndarray | int) -> np.ndarray:
        """Values of raw integers as float64 (exact for widths up to 53 bits)."""
        raw = np.asarray(raw)
        if raw.dtype == np.int64 and -1000 < self.frac < 1000:
            return raw * math.ldexp(1.0, -self.frac)  # exact: |raw| < 2**53, a power-of-two scale
        return np.ldexp(raw.astype(np.float64), -self.frac)

    def quantize(self, x: np.ndarray | float) -> np.ndarray:
        """`x` converted to this type and back to float64 (always +0.0 for zero)."""
        x = np.asarray(x, dtype=np.float64)
        fast = self._quantize_fast(x)
        return fast if fast is not None else self.from_raw(self.to_raw(x))

    def _quantize_fast(self, x: np.ndarray) -> np.ndarray | None:
        """`quantize` in float64 alone for AP_TRN / AP_RND when every value lands in range: floor(x * 2**F
        [+ 1/2]) * 2**-F is exact for the in-range results of types up to 50 bits. None otherwise (then the
        raw path runs: overflow, NaN, other roundings)."""
        if x.size == 0 or self.width > 50 or not 0 <= self.frac < 1000:
            return None
        if self.rounding not in (Rounding.TRN, Rounding.RND):
            return None
        with np.errstate(over="ignore", invalid="ignore"):  # out-of-range values take the raw path
            q = np.asarray(np.ldexp(x, self.frac))  # exact: a power-of-two scale up
            if self.rounding == Rounding.RND:
                np.add(q, 0.5, out=q)  # exact for every result that is in range (|q| < 2**50)
            np.floor(q, out=q)
            sym = self.overflow == Overflow.SAT_SYM and self.signed
            if not (q.min() >= self.raw_min + sym and q.max() <= self.raw_max):  # also false with NaN
                return None
        np.add(q, 0.0, out=q)  # -0.0 -> +0.0, as the raw path gives
        return np.multiply(q, math.ldexp(1.0, -self.frac), out=q)
