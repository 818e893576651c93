"""The kernel's load and store (templates/project/kernel.cpp.j2): packed 512-bit words to stream words of any
lane count and back, bit-exact in csim and deadlock-free in the bounded-FIFO simulation, whether a stream word is
narrower than a memory word or wider, dividing it or not."""

from __future__ import annotations

import numpy as np
import pytest

from nn2fpga.config import Config
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Conv2D, Input
from nn2fpga.project import Project, compile_graph

pytestmark = pytest.mark.csim


# (input lanes, output lanes) with 40 int32 inputs (16 per word) and 37 int16 outputs (32 per word) per pixel
@pytest.mark.parametrize(("in_lanes", "out_lanes"), [(40, 37), (5, 1), (20, 37), (8, 1)])
def test_load_and_store_convert_words_to_lanes(tmp_path, in_lanes: int, out_lanes: int) -> None:
    rng = np.random.default_rng(in_lanes)
    g = Graph("lanes")
    g.add(Input("x", shape=(3, 3, 40)))
    g.add(Conv2D("c", shape=(3, 3, 37), weight=rng.normal(size=(1, 1, 40, 37)) / 8, bias=rng.normal(size=37)), ["x"])
    g.outputs = ["c"]
    cfg = Config.from_yaml(
        {
            "IOType": "io_stream",
            "Model": {"Precision": "ap_fixed<16,6>"},
            "LayerType": {"Input": {"Precision": "ap_fixed<20,8>", "Lanes": in_lanes}},
            "LayerName": {"c": {"PE": out_lanes}},
        }
    )
    _, graph, _ = compile_graph(g, cfg)
    assert (graph["x"].lanes, graph["c"].lanes) == (in_lanes, out_lanes)
    project = Project(graph, cfg, None)
    project.write(tmp_path / "prj")
    x = rng.normal(scale=8, size=(6, 3, 3, 40))
    assert np.array_equal(project.predict(x), project.predict(x, backend="reference"))
    run = project.simulate(x)
    assert run.deadlock == "" and np.array_equal(run.outputs, project.predict(x))
    assert all(s.high_water <= s.depth for s in run.streams)
