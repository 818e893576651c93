"""SimpleRNN, LSTM and GRU (issue 14): the cell unrolled, reused at every step; return_sequences both ways; both
IO types; 500 random sequences at ap_fixed<20,8>: csim == reference bit for bit, the reference within the
(first-order) error bound of Keras; the io_stream cycle counts of the bounded simulation are the model's."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

import nn2fpga  # noqa: E402
from nn2fpga.estimate.cycles import comparison, cycle_model, table  # noqa: E402
from nn2fpga.ir.errors import ModelError  # noqa: E402
from nn2fpga.testing import assert_csim_matches_reference, error_bound  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.csim]
L = keras.layers
CELLS = {"simple": L.SimpleRNN, "lstm": L.LSTM, "gru": L.GRU}


def _model(cell: str, sequences: bool):
    keras.utils.set_random_seed(8)
    i = keras.Input((6, 4), name="x")
    y = CELLS[cell](5, return_sequences=sequences, name="rnn")(i)
    return keras.Model(i, L.Dense(3, name="out")(L.Flatten()(y) if sequences else y))


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
@pytest.mark.parametrize("sequences", [False, True])
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_recurrent(cell: str, sequences: bool, io_type: str) -> None:
    model = _model(cell, sequences)
    x = np.random.default_rng(0).normal(size=(500, 6, 4))
    project = nn2fpga.convert(model, config={"Model": {"Precision": "ap_fixed<20,8>"}, "IOType": io_type})
    assert project.graph["rnn"].kind == "Recurrent"
    assert_csim_matches_reference(project, x)
    ours, theirs = project.predict(x, backend="reference"), model.predict(x, verbose=0)
    bound = error_bound(project.graph, x)
    assert np.all(np.abs(ours - theirs) <= bound + 1e-6), float(np.max(np.abs(ours - theirs) - bound))
    assert np.mean(np.abs(ours - theirs)) < 0.02
    if io_type == "io_stream":
        run = project.simulate(x[:2])
        assert not run.deadlock, run.deadlock
        cycles = cycle_model(project.graph, project.name, project.config.clock_period)
        assert all(r["agrees"] is not False for r in comparison(cycles, run.trips())), table(cycles, run.trips())


def test_options_are_named() -> None:
    i = keras.Input((6, 4), name="x")
    for layer, message in (
        (L.LSTM(3, go_backwards=True, name="r"), r"'r' \(LSTM\): go_backwards=True is not supported"),
        (L.GRU(3, reset_after=False, name="r"), r"'r' \(GRU\): reset_after=False is not supported"),
        (L.SimpleRNN(3, activation="relu", name="r"), r"'r' \(SimpleRNN\): activation='relu' is not supported"),
    ):
        with pytest.raises(ModelError, match=message):
            nn2fpga.convert(keras.Model(i, layer(i)))
