"""The reference's fast paths (float64 BLAS, digit-split integers, Winograd) against the int64 definition
(`nn2fpga.sim.integer`), bit for bit, on random types and values (Hypothesis; derandomized under CI)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nn2fpga.ir.layers import Conv2D, Dense, DepthwiseConv2D
from nn2fpga.ir.rules import exact_accumulator
from nn2fpga.ir.types import FixedType, Overflow, Rounding
from nn2fpga.sim import integer, reference
from nn2fpga.sim.exact import exact_int_matmul, finish_exact, fits_float, raw
from nn2fpga.sim.integer import finish
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


def _quantize(layer: Dense | Conv2D, bits: tuple[int, int], acc: tuple[int, int], seed: int, bias: bool = True):
    """Give `layer` input and weight types `bits` wide, random raw weights (and bias) over their whole types, and an
    accumulator acc[0] bits finer than exact (negative: coarser, each product truncated) with acc[1] integer bits
    fewer (it wraps); the result type is ap_fixed<18,8>. Returns the layer."""
    rng = np.random.default_rng(seed)
    in_t, w_t = (FixedType(b, int(rng.integers(-2, b + 3))) for b in bits)
    b_t = FixedType(24, 9)
    layer.weight = w_t.from_raw(rng.integers(w_t.raw_min, w_t.raw_max, layer.weight.shape, endpoint=True))
    layer.bias = b_t.from_raw(rng.integers(b_t.raw_min, b_t.raw_max, layer.n_out, endpoint=True)) if bias else None
    exact = exact_accumulator(in_t, w_t, b_t, layer.n_in)
    acc_t = FixedType(exact.width + acc[0] - acc[1], exact.integer - acc[1])
    layer.types = {"input": in_t, "weight": w_t, "bias": b_t, "accum": acc_t, "result": FixedType(18, 8)}
    return layer


def _inputs(layer: Dense | Conv2D, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Random values over the whole input type."""
    in_t = layer.types["input"]
    return in_t.from_raw(np.random.default_rng(seed).integers(in_t.raw_min, in_t.raw_max, shape, endpoint=True))


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal float64 arrays, bit for bit (+0.0 and -0.0 differ)."""
    return a.shape == b.shape and np.array_equal(
        np.ascontiguousarray(a).view(np.int64), np.ascontiguousarray(b).view(np.int64)
    )


# operand widths, summed terms, accumulator (lsb shift, integer bits cut), result modes, bias, relu, seed
@given(
    st.tuples(st.integers(2, 31), st.integers(2, 31)),
    st.integers(1, 300),
    st.tuples(st.integers(-6, 2), st.integers(0, 8)),
    st.tuples(st.sampled_from(list(Rounding)), st.sampled_from(list(Overflow))),
    st.booleans(),
    st.booleans(),
    st.integers(0, 2**32),
)
@settings(max_examples=100, deadline=None)
def test_dense_equals_the_integer_definition(
    bits: tuple[int, int], n_in: int, acc: tuple[int, int], modes: tuple, bias: bool, relu: bool, seed: int
) -> None:
    assume(bits[0] + bits[1] + n_in.bit_length() <= 62)  # the exact sums fit int64 (as the C++ accumulators do)
    layer = Dense("d", shape=(4,), weight=np.zeros((n_in, 4)), activation="relu" if relu else "linear")
    _quantize(layer, bits, acc, seed, bias)
    layer.types["result"] = FixedType(16, 6, True, *modes)
    x = _inputs(layer, (16, n_in), seed + 1)
    expected = integer.execute(layer, x)
    assert _same_bits(execute(layer, x), expected)  # float64 BLAS where the data bound allows it
    assert _same_bits(_linear(layer, x, layer.weight, math.inf), expected)  # an infinite bound: digit-split integers


# raw weight widths: 8 and 12 bits take the float64 BLAS path, 31 bits the digit-split integer product
@pytest.mark.parametrize("weight_bits", [8, 12, 31])
def test_the_data_bound_decides_the_dense_path(weight_bits: int) -> None:
    layer = _quantize(Dense("d", shape=(5,), weight=np.zeros((300, 5)), activation="relu"), (31, 31), (0, 0), seed=1)
    in_t, w_t = layer.types["input"], layer.types["weight"]
    rng = np.random.default_rng(weight_bits)
    layer.weight = w_t.from_raw(rng.integers(-(2 ** (weight_bits - 1)), 2 ** (weight_bits - 1), (300, 5)))
    x = in_t.from_raw(rng.integers(-(2**20), 2**20, (64, 300)))
    l1 = float(np.abs(layer.weight).sum(axis=0).max())
    assert fits_float(float(np.abs(x).max()), l1, in_t.frac + w_t.frac) == (weight_bits < 31)
    assert _same_bits(execute(layer, x), integer.execute(layer, x))


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


def _conv(kernel: tuple[int, int], c_in: int, c_out: int, depthwise: bool = False, **fields) -> Conv2D:
    """A Conv2D (or DepthwiseConv2D) with zero weights of this shape; `fields` as the constructor's."""
    if depthwise:
        return DepthwiseConv2D("c", weight=np.zeros((*kernel, c_in, 1)), **fields)
    return Conv2D("c", weight=np.zeros((*kernel, c_in, c_out)), **fields)


# depthwise, kernel, strides, channels in and out, operand widths, accumulator (lsb shift, integer bits cut),
# padding valid/same, bias, relu, image size, seed
@given(
    st.booleans(),
    st.sampled_from([(3, 3), (3, 3), (1, 1), (2, 3)]),
    st.sampled_from([(1, 1), (1, 1), (2, 2), (1, 2)]),
    st.tuples(st.integers(1, 12), st.integers(1, 12)),
    st.tuples(st.integers(2, 24), st.integers(2, 24)),
    st.tuples(st.integers(-3, 2), st.integers(0, 4)),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.tuples(st.integers(3, 9), st.integers(3, 9)),
    st.integers(0, 2**32),
)
@settings(max_examples=100, deadline=None)
def test_conv_equals_the_integer_definition(
    depthwise: bool,
    kernel: tuple[int, int],
    strides: tuple[int, int],
    channels: tuple[int, int],
    bits: tuple[int, int],
    acc: tuple[int, int],
    valid: bool,
    bias: bool,
    relu: bool,
    hw: tuple[int, int],
    seed: int,
) -> None:
    (kh, kw), act = kernel, "relu" if relu else "linear"
    padding = (0, 0, 0, 0) if valid else ((kh - 1) // 2, kh // 2, (kw - 1) // 2, kw // 2)
    layer = _conv(kernel, *channels, depthwise, strides=strides, padding=padding, activation=act)
    _quantize(layer, bits, acc, seed, bias)
    x = _inputs(layer, (2, *hw, channels[0]), seed + 1)
    expected = integer.execute(layer, x)
    assert _same_bits(execute(layer, x), expected)  # Winograd, im2col BLAS, or the depthwise float64 sum
    if not depthwise:
        assert _same_bits(_im2col(layer, x, float(np.abs(x).max())), expected)  # im2col BLAS where the data allow
        assert _same_bits(_im2col(layer, x, math.inf), expected)  # im2col on digit-split integers


# operand widths: narrow ones take the Winograd product, 24-bit ones overflow its bound and fall back
@pytest.mark.parametrize(("bits", "winograd"), [((8, 8), True), ((16, 16), True), ((24, 24), False)])
def test_conv_winograd_bound_decides_the_path(bits: tuple[int, int], winograd: bool) -> None:
    layer = _quantize(_conv((3, 3), 64, 8, padding=(1, 1, 1, 1), activation="relu"), bits, (0, 0), seed=3)
    x = _inputs(layer, (1, 10, 10, 64), seed=4)
    assert winograd_fits(layer, float(x.min()), float(x.max())) == winograd
    assert _same_bits(execute(layer, x), integer.execute(layer, x))


def test_conv_winograd_only_for_stride_one_exact_accumulators() -> None:
    layer = _quantize(_conv((3, 3), 4, 4, padding=(1, 1, 1, 1)), (8, 8), (0, 0), seed=5)
    assert winograd_fits(layer, -1.0, 1.0)
    layer.strides = (2, 2)
    assert not winograd_fits(layer, -1.0, 1.0)
    layer.strides = (1, 1)
    p = layer.types["input"].frac + layer.types["weight"].frac
    layer.types["accum"] = FixedType(40, 41 - p)  # lsb 2**-(p - 1), coarser than the products: each one truncated
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
