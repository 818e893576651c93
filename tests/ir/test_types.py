"""FixedType: parsing, rendering, properties, type arithmetic and the NumPy conversion model."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nn2fpga.ir.rules import add_type, product_type, sum_type, union_type
from nn2fpga.ir.types import FixedType, Overflow, Rounding


@st.composite
def fixed_types(
    draw: st.DrawFn, max_width: int = 64, roundings: tuple = tuple(Rounding), overflows: tuple = tuple(Overflow)
) -> FixedType:
    w = draw(st.integers(1, max_width))
    return FixedType(
        w,
        draw(st.integers(-8, w + 8)),
        draw(st.booleans()),
        draw(st.sampled_from(list(roundings))),
        draw(st.sampled_from(list(overflows))),
    )


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
TRUNCATING = (Rounding.TRN, Rounding.TRN_ZERO)
NEAREST = tuple(r for r in Rounding if r not in TRUNCATING)


# ---- parse / render ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "ap_fixed<16,6>",
        "ap_fixed<16,6,AP_RND_CONV,AP_SAT>",
        "ap_ufixed<8,0>",
        "ap_int<8>",
        "ap_uint<1>",
        "ap_fixed<18,8,AP_RND>",
        "ap_fixed<8,-2,AP_TRN,AP_SAT_SYM>",
        "ap_ufixed<64,70,AP_RND_INF,AP_SAT_ZERO>",
    ],
)
def test_render_round_trip(text: str) -> None:
    assert FixedType.parse(text).cpp() == text


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("fixed<16,6>", "ap_fixed<16,6>"),
        ("ufixed<10, 2, RND, SAT>", "ap_ufixed<10,2,AP_RND,AP_SAT>"),
        ("int<4>", "ap_int<4>"),
        ("uint<4>", "ap_uint<4>"),
        ("ap_fixed<8,3,AP_TRN,AP_WRAP,0>", "ap_fixed<8,3>"),
        ("ap_fixed<8,3,AP_TRN,AP_SAT>", "ap_fixed<8,3,AP_TRN,AP_SAT>"),
    ],
)
def test_parse_aliases(text: str, canonical: str) -> None:
    assert FixedType.parse(text).cpp() == canonical


@given(fixed_types())
def test_parse_of_cpp_is_identity(t: FixedType) -> None:
    assert FixedType.parse(t.cpp()) == t


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ap_fixed<0,3>", "outside 1..64"),
        ("ap_fixed<65,3>", "outside 1..64"),
        ("ap_int<100>", "outside 1..64"),
        ("ap_fixed<8,3,AP_FOO>", "unknown mode 'AP_FOO'"),
        ("ap_fixed<8,3,AP_RND,AP_BAR>", "unknown mode 'AP_BAR'"),
        ("ap_fixed<8>", "expected one of"),
        ("float", "expected one of"),
        ("ap_fixed<a,b>", "must be integers"),
        ("ap_fixed<8,3,AP_RND,AP_SAT,2>", "saturation bits"),
    ],
)
def test_parse_errors_name_the_string(text: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        FixedType.parse(text)
    assert repr(text) in str(err.value) and message in str(err.value)


# ---- properties -------------------------------------------------------------------------------------


def test_properties_of_a_signed_type() -> None:
    t = FixedType.parse("ap_fixed<8,3>")
    assert (t.frac, t.lsb, t.min, t.max) == (5, 1 / 32, -4.0, 4.0 - 1 / 32)
    u = FixedType.parse("ap_ufixed<8,0>")
    assert (u.min, u.max, u.raw_max) == (0.0, 255 / 256, 255)


# ---- type arithmetic --------------------------------------------------------------------------------


def test_product_and_sum_types_follow_xilinx_rules() -> None:
    a, b = FixedType.parse("ap_fixed<16,6>"), FixedType.parse("ap_ufixed<8,2>")
    assert product_type(a, b).cpp() == "ap_fixed<24,8>"
    assert add_type(a, b).cpp() == "ap_fixed<17,7>"  # unsigned b needs one more bit in a signed union
    assert union_type(a, FixedType.parse("ap_ufixed<8,7>")).cpp() == "ap_fixed<18,8>"
    assert sum_type(a, 1) == a and sum_type(a, 64).cpp() == "ap_fixed<22,12>" and sum_type(a, 65).width == 23


@given(fixed_types(max_width=40), fixed_types(max_width=40))
def test_union_type_holds_both_ranges(a: FixedType, b: FixedType) -> None:
    u = union_type(a, b)
    assert u.contains(a) and u.contains(b)
    assert u.min <= min(a.min, b.min) and u.max >= max(a.max, b.max)


@given(fixed_types(max_width=24), st.integers(1, 5000), st.data())
def test_sum_type_holds_every_sum(t: FixedType, n: int, data: st.DataObject) -> None:
    s = sum_type(t, n)
    assert s.min <= n * t.min and n * t.max <= s.max
    raws = np.array(data.draw(st.lists(st.integers(t.raw_min, t.raw_max), min_size=1, max_size=8)))
    total = float(t.from_raw(raws).sum() * n / len(raws))
    assert s.min <= total <= s.max


# ---- conversion -------------------------------------------------------------------------------------


@given(fixed_types(), st.lists(finite, min_size=1, max_size=20), st.integers(-60, 60))
def test_quantize_equals_the_raw_round_trip(t: FixedType, xs: list[float], scale: int) -> None:
    """The float64 fast path of quantize gives the bits of from_raw(to_raw(x)), zero's sign included."""
    with np.errstate(over="ignore"):
        x = np.ldexp(np.array(xs + [0.0, -0.0]), scale) if t.width <= 53 else np.array(xs)
    x = np.where(np.isfinite(x), x, 0.0)
    got, want = t.quantize(x), t.from_raw(t.to_raw(x))
    assert np.array_equal(got.view(np.int64), want.view(np.int64)), (t, x[got != want], got[got != want])


@given(fixed_types(), st.lists(finite, min_size=1, max_size=20))
def test_quantize_is_idempotent(t: FixedType, xs: list[float]) -> None:
    raw = t.to_raw(np.array(xs))
    if t.width <= 53:  # from_raw is exact: converting the value back gives the same bits
        np.testing.assert_array_equal(t.to_raw(t.from_raw(raw)), raw)
    assert np.all((raw >= t.raw_min) & (raw <= t.raw_max))


@given(fixed_types(max_width=53, overflows=(Overflow.SAT,)), finite, finite)
def test_rounding_is_monotonic_under_saturation(t: FixedType, a: float, b: float) -> None:
    lo, hi = min(a, b), max(a, b)
    assert t.quantize(lo) <= t.quantize(hi)


@given(fixed_types(max_width=53, overflows=(Overflow.SAT, Overflow.SAT_SYM)), finite)
def test_saturation_bounds(t: FixedType, x: float) -> None:
    q = float(t.quantize(x))
    low = -t.max if t.overflow == Overflow.SAT_SYM and t.signed and t.width > 1 else t.min
    assert low <= q <= t.max
    if x >= t.max + t.lsb:
        assert q == t.max
    if x <= t.min - t.lsb:
        assert q == low


@given(fixed_types(max_width=53, roundings=NEAREST, overflows=(Overflow.SAT,)), finite)
def test_round_to_nearest_error_at_most_half_lsb(t: FixedType, x: float) -> None:
    if t.min <= x <= t.max:
        assert abs(float(t.quantize(x)) - x) <= t.lsb / 2


@given(fixed_types(max_width=53, roundings=TRUNCATING, overflows=(Overflow.SAT,)), finite)
def test_truncation_error_below_one_lsb(t: FixedType, x: float) -> None:
    if t.min <= x <= t.max:
        q = float(t.quantize(x))
        assert abs(q - x) <= t.lsb  # < 1 lsb exactly; float64 subtraction may round up to it
        # AP_TRN rounds toward -inf; AP_TRN_ZERO toward zero
        assert q <= x if t.rounding == Rounding.TRN else abs(q) <= abs(x)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (Rounding.TRN, [1, -2, 2, -3]),
        (Rounding.TRN_ZERO, [1, -1, 2, -2]),
        (Rounding.RND, [2, -1, 3, -2]),
        (Rounding.RND_ZERO, [1, -1, 2, -2]),
        (Rounding.RND_MIN_INF, [1, -2, 2, -3]),
        (Rounding.RND_INF, [2, -2, 3, -3]),
        (Rounding.RND_CONV, [2, -2, 2, -2]),
    ],
)
def test_ties_per_rounding_mode(mode: Rounding, expected: list[int]) -> None:
    t = FixedType(8, 8, rounding=mode)
    np.testing.assert_array_equal(t.to_raw([1.5, -1.5, 2.5, -2.5]), expected)


@pytest.mark.parametrize(
    ("overflow", "expected"),
    [
        (Overflow.WRAP, [-126, 126]),
        (Overflow.SAT, [127, -128]),
        (Overflow.SAT_ZERO, [0, 0]),
        (Overflow.SAT_SYM, [127, -127]),
    ],
)
def test_overflow_modes(overflow: Overflow, expected: list[int]) -> None:
    np.testing.assert_array_equal(FixedType(8, 8, overflow=overflow).to_raw([130.0, -130.0]), expected)


def test_sat_sym_maps_the_exact_minimum_to_minus_max() -> None:
    assert FixedType(8, 8, overflow=Overflow.SAT_SYM).to_raw(-128.0) == -127


def test_nan_is_refused_with_the_type_named() -> None:
    with pytest.raises(ValueError, match=r"NaN to ap_fixed<8,3>"):
        FixedType.parse("ap_fixed<8,3>").to_raw([1.0, math.nan])


def test_unsigned_64_bit_raw_is_uint64() -> None:
    t = FixedType.parse("ap_ufixed<64,64,AP_TRN,AP_SAT>")
    assert t.to_raw([1e30])[0] == np.uint64(2**64 - 1)
