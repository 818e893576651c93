"""Many C simulation libraries in one process: projects of one name made and dropped one after another, each of
the same input and output sizes but different code, all equal to their references."""

from __future__ import annotations

import gc
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

import nn2fpga  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.csim]
L = keras.layers


def test_projects_made_and_dropped_in_turn_each_run_their_own_code() -> None:
    x = np.random.default_rng(0).normal(size=(8, 6, 6, 2))
    for k in range(6):
        keras.utils.set_random_seed(k)
        i = keras.Input((6, 6, 2), name="x")
        hidden = L.Conv2D(3 + k, 3, activation="relu")(i)  # a different kernel each time, the same sizes in and out
        model = keras.Model(i, L.Dense(4)(L.GlobalAveragePooling2D()(hidden)), name="same_name")
        project = nn2fpga.convert(model)
        assert np.array_equal(project.predict(x, backend="csim"), project.predict(x, backend="reference")), k
        del project
        gc.collect()  # its temporary directory, library file included, is deleted here
