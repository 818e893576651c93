"""Many C simulation libraries in one process: projects of one name made and dropped one after another, each of
the same input and output sizes but different code, all equal to their references. Their layer "c" keeps its
weights in URAM, a template's static bank: without -fno-gnu-unique (nn2fpga.sim.csim) every library in the
process shares the first one's."""

from __future__ import annotations

import gc
import os
import subprocess

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

import nn2fpga  # noqa: E402
from nn2fpga.sim.csim import build  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.csim]
L = keras.layers


def test_projects_made_and_dropped_in_turn_each_run_their_own_code() -> None:
    x = np.random.default_rng(0).normal(size=(8, 6, 6, 2))
    for k in range(3):
        keras.utils.set_random_seed(k)
        i = keras.Input((6, 6, 2), name="x")
        hidden = L.Conv2D(3 + k, 3, activation="relu", name="c")(
            i
        )  # a different kernel each time, the same sizes in and out
        model = keras.Model(i, L.Dense(4)(L.GlobalAveragePooling2D()(hidden)), name="same_name")
        project = nn2fpga.convert(model, config={"IOType": "io_stream", "LayerName": {"c": {"WeightStorage": "uram"}}})
        assert np.array_equal(project.predict(x, backend="csim"), project.predict(x, backend="reference")), k
        del project
        gc.collect()  # its temporary directory, library file included, is deleted here


def test_no_process_wide_symbols(tmp_path) -> None:
    """The library exports no STB_GNU_UNIQUE symbol (nm's "u"): such a symbol is one object per process. nm is
    binutils', which g++ needs to link."""
    keras.utils.set_random_seed(0)
    i = keras.Input((6, 6, 2), name="x")
    model = keras.Model(i, L.Flatten()(L.Conv2D(4, 3, name="c")(i)), name="uniq")
    config = {"IOType": "io_stream", "LayerName": {"c": {"WeightStorage": "uram"}}}
    project = nn2fpga.convert(model, config=config, output_dir=tmp_path / "p")
    library = build(tmp_path / "p", project.name)
    symbols = subprocess.run(["nm", "-D", str(library)], capture_output=True, text=True, check=True).stdout
    unique = [line for line in symbols.splitlines() if line.split()[-2:-1] == ["u"]]
    assert not unique, unique[:3]
