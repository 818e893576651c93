"""Keras Subtract, Multiply, Average, Maximum and Minimum (issue 14) as the Add layer's ops, after Dense layers
(io_parallel) and Conv2D layers (io_stream), 1,000 and 300 random inputs at ap_fixed<20,8>: csim == reference
bit for bit, the reference within the derived error bound of Keras."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

import nn2fpga  # noqa: E402
from nn2fpga.ir.errors import ConfigError, ModelError  # noqa: E402
from nn2fpga.testing import assert_csim_matches_reference, error_bound  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.csim]
L = keras.layers
KINDS = {"Subtract": 2, "Multiply": 2, "Average": 3, "Maximum": 3, "Minimum": 2}


def _model(kind: str, io_type: str):
    keras.utils.set_random_seed(1)
    if io_type == "io_parallel":
        i = keras.Input((16,), name="x")
        branch = [L.Dense(8, activation="relu" if k == 1 else None, name=f"b{k}") for k in range(KINDS[kind])]
    else:
        i = keras.Input((6, 6, 3), name="x")
        branch = [L.Conv2D(4, 3, activation="relu" if k == 1 else None, name=f"b{k}") for k in range(KINDS[kind])]
    return keras.Model(i, getattr(L, kind)(name="m")([b(i) for b in branch]))


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_merge_is_bit_exact_and_within_bound(kind: str, io_type: str) -> None:
    model = _model(kind, io_type)
    shape = (1000, 16) if io_type == "io_parallel" else (300, 6, 6, 3)
    x = np.random.default_rng(0).normal(size=shape)
    project = nn2fpga.convert(model, config={"Model": {"Precision": "ap_fixed<20,8>"}, "IOType": io_type})
    assert project.graph["m"].op == kind.lower()
    assert_csim_matches_reference(project, x)
    ours, theirs = project.predict(x, backend="reference"), model.predict(x, verbose=0)
    bound = error_bound(project.graph, x)
    assert np.all(np.abs(ours - theirs) <= bound + 1e-6)
    assert np.mean(bound) < 0.05


def test_merge_errors_name_the_layer() -> None:
    i = keras.Input((4,), name="x")
    three = keras.Model(i, L.Multiply(name="m")([L.Dense(2)(i), L.Dense(2)(i), L.Dense(2)(i)]))
    with pytest.raises(ModelError, match=r"'m' \(Multiply\): Multiply of 3 inputs"):
        nn2fpga.convert(three)
    two = keras.Model(i, L.Multiply(name="m")([L.Dense(2, name="a")(i), L.Dense(2, name="b")(i)]))
    with pytest.raises(ConfigError, match=r"Multiply 'm' of inputs of 32 \+ 32 bits needs 64; at most 53"):
        nn2fpga.convert(two, config={"Model": {"Precision": {"result": "ap_fixed<32,12>", "weight": "ap_fixed<8,2>",
                                                             "bias": "ap_fixed<8,2>"}}})  # fmt: skip
