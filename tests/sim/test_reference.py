"""Reference interpreter building blocks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nn2fpga.ir.layers import Conv2D, Dense, exact_accumulator
from nn2fpga.ir.types import FixedType, Overflow, Rounding
from nn2fpga.sim import reference
from nn2fpga.sim.exact import exact_int_matmul, finish, finish_exact, fits_float, raw
from nn2fpga.sim.reference import _im2col, _linear, execute
from nn2fpga.sim.winograd import winograd_fits


# operand widths and the number of summed terms
@given(st.integers(1, 31), st.integers(1, 31), st.integers(1, 5000), st.integers(0, 2**32))
@settings(max_examples=40, deadline=None)
def test_exact_int_matmul_equals_integer_matmul(a_bits: int, b_bits: int, n: int, seed: int) -> None:
    assume(a_bits + b_bits + n.bit_length() <= 62)  # the exact sum fits int64 (what the reference needs)
    rng = np.random.default_rng(seed)
    a = rng.integers(-(2 ** (a_bits - 1)), 2 ** (a_bits - 1), (3, n), endpoint=True)
    b = rng.integers(-(2 ** (b_bits - 1)), 2 ** (b_bits - 1), (n, 4), endpoint=True)
    expected = np.array([[sum(int(x) * int(y) for x, y in zip(a[i], b[:, j])) for j in range(4)] for i in range(3)])
    assert np.array_equal(exact_int_matmul(a, b), expected)


def _dense(weight_bits: int, seed: int) -> Dense:
    """A 300-input Dense layer with exact 31-bit-operand accumulation and random raw weights."""
    rng = np.random.default_rng(seed)
    w_t, in_t, b_t = (
        FixedType.parse("ap_fixed<31,3>"),
        FixedType.parse("ap_fixed<31,9>"),
        FixedType.parse("ap_fixed<24,9>"),
    )
    raw = rng.integers(-(2 ** (weight_bits - 1)), 2 ** (weight_bits - 1), (300, 5))
    layer = Dense("d", shape=(5,), weight=w_t.from_raw(raw), bias=b_t.quantize(rng.normal(0, 4, 5)), activation="relu")
    acc = exact_accumulator(in_t, w_t, b_t, 300)
    layer.types = {"input": in_t, "weight": w_t, "bias": b_t, "accum": acc, "result": FixedType.parse("ap_fixed<20,8>")}
    return layer


# weight magnitudes (raw bits): small ones take the float64 BLAS path, large ones the digit split
@pytest.mark.parametrize("weight_bits", [8, 12, 31])
def test_float_path_equals_integer_path(weight_bits: int) -> None:
    layer = _dense(weight_bits, seed=weight_bits)
    x = layer.types["input"].quantize(np.random.default_rng(1).normal(0, 30, (64, 300)))
    x_max, l1 = float(np.abs(x).max()), float(np.abs(layer.weight).sum(axis=0).max())
    lsb = layer.types["input"].frac + layer.types["weight"].frac
    assert fits_float(x_max, l1, lsb) == (weight_bits < 31)  # both paths are exercised
    via_data_bound = _linear(layer, x, layer.weight, x_max)
    via_integers = _linear(layer, x, layer.weight, math.inf)  # an infinite bound forces the integer product
    assert np.array_equal(via_data_bound, via_integers)
    assert np.array_equal(execute(layer, x), via_integers)


def test_batch_chunking_and_threads_do_not_change_results() -> None:
    keras = pytest.importorskip("keras")
    import nn2fpga

    i = keras.Input((40, 40, 8))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(i)
    x = keras.layers.Add()([x, keras.layers.Conv2D(4, 1)(i)])
    model = keras.Model(i, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x)))
    graph = nn2fpga.convert(model).graph
    xs = np.random.default_rng(2).uniform(-1, 1, (45, 40, 40, 8))
    assert reference.CHUNK_VALUES // (40 * 40 * 8) < 45  # the batch really is split into chunks
    one = reference.run(graph, xs, trace=True, threads=1)
    two = reference.run(graph, xs, trace=True, threads=2)
    assert one.keys() == two.keys() == {layer.name for layer in graph.layers()}
    for name in one:
        assert np.array_equal(one[name], two[name]), name
    assert np.array_equal(reference.predict(graph, xs), one[graph.outputs[0]])


def _conv(c_in: int, c_out: int, bits: tuple[int, int], valid: bool, bias: bool, relu: bool, seed: int) -> Conv2D:
    """A stride-1 3x3 Conv2D with (input, weight) operand widths `bits`, exact accumulation and random raw
    weights over the whole weight type."""
    rng = np.random.default_rng(seed)
    in_t, w_t = FixedType.parse(f"ap_fixed<{bits[0]},{bits[0] // 2}>"), FixedType.parse(f"ap_fixed<{bits[1]},2>")
    b_t = FixedType.parse("ap_fixed<24,9>")
    raw = rng.integers(-(2 ** (bits[1] - 1)), 2 ** (bits[1] - 1), (3, 3, c_in, c_out))
    layer = Conv2D(
        "c",
        weight=w_t.from_raw(raw),
        bias=b_t.quantize(rng.normal(0, 4, c_out)) if bias else None,
        padding=(0, 0, 0, 0) if valid else (1, 1, 1, 1),
        activation="relu" if relu else "linear",
    )
    acc = exact_accumulator(in_t, w_t, b_t, layer.n_in)
    layer.types = {"input": in_t, "weight": w_t, "bias": b_t, "accum": acc, "result": FixedType.parse("ap_fixed<18,8>")}
    return layer


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal float64 arrays, bit for bit (+0.0 and -0.0 differ)."""
    return a.shape == b.shape and np.array_equal(
        np.ascontiguousarray(a).view(np.int64), np.ascontiguousarray(b).view(np.int64)
    )


def _conv_input(layer: Conv2D, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Random raw inputs over the whole input type."""
    in_t = layer.types["input"]
    raw = np.random.default_rng(seed).integers(in_t.raw_min, in_t.raw_max, shape, endpoint=True)
    return in_t.from_raw(raw)


# channels in and out, operand widths, padding valid/same, bias, relu, image size, seed
@given(
    st.integers(1, 12),
    st.integers(1, 12),
    st.tuples(st.integers(2, 24), st.integers(2, 24)),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.tuples(st.integers(3, 9), st.integers(3, 9)),
    st.integers(0, 2**32),
)
@settings(max_examples=60, deadline=None)
def test_conv_winograd_equals_im2col(
    c_in: int, c_out: int, bits: tuple[int, int], valid: bool, bias: bool, relu: bool, hw: tuple[int, int], seed: int
) -> None:
    layer = _conv(c_in, c_out, bits, valid, bias, relu, seed)
    x = _conv_input(layer, (2, *hw, c_in), seed + 1)
    via_integers = _im2col(layer, x, math.inf)  # an infinite bound forces the exact integer product
    assert _same_bits(execute(layer, x), via_integers)
    assert _same_bits(_im2col(layer, x, float(np.abs(x).max())), via_integers)


# operand widths: narrow ones take the Winograd product, 24-bit ones overflow its bound and fall back
@pytest.mark.parametrize(("bits", "winograd"), [((8, 8), True), ((16, 16), True), ((24, 24), False)])
def test_conv_winograd_bound_decides_the_path(bits: tuple[int, int], winograd: bool) -> None:
    layer = _conv(64, 8, bits, valid=False, bias=True, relu=True, seed=3)
    x = _conv_input(layer, (1, 10, 10, 64), seed=4)
    assert winograd_fits(layer, float(x.min()), float(x.max())) == winograd
    assert _same_bits(execute(layer, x), _im2col(layer, x, math.inf))


def test_conv_winograd_only_for_stride_one_exact_accumulators() -> None:
    layer = _conv(4, 4, (8, 8), valid=False, bias=False, relu=False, seed=5)
    assert winograd_fits(layer, -1.0, 1.0)
    layer.strides = (2, 2)
    assert not winograd_fits(layer, -1.0, 1.0)
    layer.strides = (1, 1)
    layer.types["accum"] = FixedType.parse("ap_fixed<24,20>")  # coarser than the products: truncated one by one
    assert not winograd_fits(layer, -1.0, 1.0)


# result rounding, result overflow, result signedness, accumulator integer bits (narrow ones wrap), bias, relu,
# magnitude of the sums in bits, seed
@given(
    st.one_of(st.just(Rounding.TRN), st.sampled_from(list(Rounding))),  # AP_TRN has the float64 cast
    st.sampled_from(list(Overflow)),
    st.booleans(),
    st.integers(2, 24),
    st.booleans(),
    st.booleans(),
    st.integers(1, 44),
    st.integers(0, 2**32),
)
@settings(max_examples=150, deadline=None)
def test_float_finish_equals_integer_finish(
    rounding: Rounding,
    overflow: Overflow,
    signed: bool,
    acc_integer: int,
    bias: bool,
    relu: bool,
    magnitude: int,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    in_t, w_t, b_t = (FixedType.parse(f"ap_fixed<16,{i}>") for i in (6, 2, 9))
    p = in_t.frac + w_t.frac
    acc_t = FixedType(acc_integer + p + 1, acc_integer)  # one bit finer than the products
    layer = Dense("d", shape=(6,), weight=np.zeros((1, 6)), activation="relu" if relu else "linear")
    layer.bias = b_t.quantize(rng.normal(0, 30, 6)) if bias else None
    layer.types = {
        "input": in_t,
        "weight": w_t,
        "bias": b_t,
        "accum": acc_t,
        "result": FixedType(10, 4, signed, rounding, overflow),
    }
    y = np.ldexp(rng.integers(-(2**magnitude), 2**magnitude, (50, 6), endpoint=True).astype(np.float64), -p)
    y[0] = -0.0  # a BLAS sum can be -0.0; the result must still be +0.0, as from the integers
    expected = finish(layer, raw(y, p) << (acc_t.frac - p))
    result = finish_exact(layer, y.copy(), float(np.abs(y).max()))
    assert _same_bits(result, expected)
