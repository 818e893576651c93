"""The acceptance of issue 14's recurrent part: an LSTM and a GRU top tagger on particle sequences of jets made
here (Pythia 8 + FastJet, nn2fpga.datasets.jets): the 20 leading constituents as 5 (pT / pT_jet, d_eta, d_phi),
trained a few epochs, converted at the default precision: csim == reference bit for bit, the reference within
the error bound of Keras, and the tagger better than chance."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")
pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")

import nn2fpga  # noqa: E402
from nn2fpga.datasets import jets  # noqa: E402
from nn2fpga.profile.metrics import binary_auc  # noqa: E402
from nn2fpga.testing import assert_csim_matches_reference, error_bound  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.csim]
STEPS = 20


@pytest.fixture(scope="module")
def sequences() -> tuple[np.ndarray, np.ndarray]:
    data = jets.generate(["top", "qcd"], 600, seed=5, workers=2)
    c = data["constituents"][:, :STEPS].astype(np.float64)  # (pT, eta, phi), leading first, zeros after the last
    present = c[..., 0] > 0
    dphi = np.remainder(c[..., 2] - data["phi"][:, None] + np.pi, 2 * np.pi) - np.pi
    x = np.stack([5 * c[..., 0] / data["pt"][:, None], 5 * (c[..., 1] - data["eta"][:, None]), 5 * dphi], axis=-1)
    return np.where(present[..., None], x, 0.0), data["labels"].astype(np.float64)


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_recurrent_top_tagger(sequences, cell: str) -> None:
    x, y = sequences
    keras.utils.set_random_seed(9)
    i = keras.Input((STEPS, 3), name="particles")
    model = keras.Model(i, keras.layers.Dense(1, activation="sigmoid")(getattr(keras.layers, cell)(8)(i)))
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
    model.fit(x[::2], y[::2], epochs=15, batch_size=32, verbose=0)
    test = x[1::2]
    project = nn2fpga.convert(model)
    assert_csim_matches_reference(project, test)
    ours, theirs = project.predict(test, backend="reference"), model.predict(test, verbose=0)
    assert np.all(np.abs(ours - theirs) <= error_bound(project.graph, test) + 1e-6)
    auc_fixed, auc_float = binary_auc(y[1::2] == 1, ours[:, 0]), binary_auc(y[1::2] == 1, theirs[:, 0])
    print(f"{cell}: AUC float {auc_float:.4f} fixed {auc_fixed:.4f} on {len(test)} jets")
    assert auc_fixed > 0.7 and abs(auc_fixed - auc_float) < 0.02, (auc_fixed, auc_float)
