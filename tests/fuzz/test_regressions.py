"""The bugs the random-graph fuzzer found (tests/fuzz/test_random_graphs.py), each as its shrunk case or the
smallest model that shows it: the fix keeps them passing."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

import nn2fpga  # noqa: E402
from nn2fpga.ir.errors import ModelError  # noqa: E402

pytestmark = [pytest.mark.keras]
L = keras.layers


@pytest.mark.parametrize("kind", ["Minimum", "Add", "Concatenate"])
def test_a_merge_reading_one_tensor_twice_is_refused_naming_it(kind: str) -> None:
    """Found as Minimum([Dense(x), x, x]): the graph keeps one edge per pair of layers, so the second read of x
    replaced the first's input index and the graph lint failed (an internal GraphError, not a user error)."""
    i = keras.Input((15,), name="x")
    model = keras.Model(i, getattr(L, kind)(name="m")([L.Dense(15, name="d")(i), i, i]))
    with pytest.raises(ModelError, match=rf"'m' \({kind}\): reads 'x' more than once \(as 3 inputs\)"):
        nn2fpga.convert(model)
