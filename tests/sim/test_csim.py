"""The C simulation library through its one ctypes binding (nn2fpga.sim.binding): bit-exact with the reference
on any number of threads, and refusing a truncated weight file."""

from __future__ import annotations

import numpy as np
import pytest

from nn2fpga.config import Config
from nn2fpga.ir.errors import UserError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Dense, Input
from nn2fpga.project import Project, compile_graph
from nn2fpga.sim.csim import CSim, build

pytestmark = pytest.mark.csim


def test_csim_equals_reference_on_threads_and_refuses_bad_weights(tmp_path) -> None:
    rng = np.random.default_rng(3)
    g = Graph("tiny_relu")
    g.add(Input("x", shape=(5,)))
    g.add(Dense("d", shape=(4,), weight=rng.normal(size=(5, 4)), bias=rng.normal(size=4), activation="relu"), ["x"])
    g.outputs = ["d"]
    _, graph, _ = compile_graph(g, Config({}))
    project = Project(graph, Config({}), None)
    path = project.write(tmp_path / "prj")
    sim = project.compile()
    x = rng.normal(scale=3, size=(257, 5))
    expected = project.predict(x, backend="reference")
    # threads: one kernel call, and the batch split unevenly across three
    for threads in (1, 3):
        assert np.array_equal(sim.predict(x, threads=threads), expected)
    assert sim.predict_ports([np.zeros((0, 5))])[0].shape == (0, 4)
    weights = sorted((path / "weights").glob("*.npy"))
    weights[0].write_bytes(weights[0].read_bytes()[:-1])
    with pytest.raises(UserError, match="missing or truncated weight files"):
        CSim(build(path, project.name), path, [(5, sim.input_types[0])], [(4, sim.output_types[0])])
