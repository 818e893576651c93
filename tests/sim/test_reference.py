"""Reference interpreter building blocks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nn2fpga.ir.layers import Dense, exact_accumulator
from nn2fpga.ir.types import FixedType
from nn2fpga.sim import reference
from nn2fpga.sim.reference import _fits_float, _linear, exact_int_matmul, execute


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
    assert _fits_float(x_max, l1, lsb) == (weight_bits < 31)  # both paths are exercised
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
