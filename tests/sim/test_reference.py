"""Reference interpreter building blocks."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nn2fpga.sim.reference import exact_int_matmul


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
