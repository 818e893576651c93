"""Code generation only renders the hardware flow's decisions: FIFO depths, multiplier limits, IOType and
weight placement come from the graph into the sources, report.json and the summary (no compiler)."""

from __future__ import annotations

import json
import re

from nn2fpga.config import Config
from nn2fpga.project import Project, compile_graph


def _stream_depths(project: Project) -> dict[str, int]:
    top = (project.path / "firmware" / f"{project.name}.cpp").read_text()
    return {name: int(depth) for name, depth in re.findall(r"STREAM variable = (\w+) depth = (\d+)", top)}


def test_sources_render_the_graph_decisions(skip_graph, tmp_path) -> None:
    cfg = Config.from_yaml({"IOType": "io_stream", "LayerName": {"b": {"ReuseFactor": 16}}})
    _, graph, _ = compile_graph(skip_graph(16), cfg)
    assert graph["add"].fifo_depths == (80, 2) and graph["b"].multiplier_limit == 3 * 3 * 4 * 4 // 16
    graph["add"].fifo_depths = (37, 5)  # a decision changed on the graph reaches the sources unchanged
    project = Project(graph, cfg, None)
    project.write(tmp_path / "prj")
    assert _stream_depths(project) == {"a_out": 2, "a_to_b": 2, "a_to_add": 37, "b_out": 2, "c_out": 5, "add_out": 2}
    report = json.loads((project.path / "report.json").read_text())
    assert (report["io_type"], report["weight_literals"]) == ("io_stream", "inline")
    assert {r["name"]: r["fifo_depths"] for r in report["layers"]}["add"] == [37, 5]
    summary = project.summary()
    assert "37,5" in summary and "IOType: io_stream; WeightLiterals: inline" in summary
    written = Config.from_yaml(project.path / "nn2fpga.yml")
    assert (written.io_type, written.weight_literals) == ("io_stream", "inline")
    # every stream into a layer, by the name the top function declares, with its depth (a_out feeds the fork)
    assert written.streams == {"a_to_b": 2, "b_out": 2, "a_to_add": 37, "c_out": 5, "add_out": 2}


def test_io_parallel_renders_multiplier_limits(skip_graph, tmp_path) -> None:
    cfg = Config.from_yaml({"IOType": "io_parallel", "LayerName": {"b": {"ReuseFactor": 16}}})
    _, graph, _ = compile_graph(skip_graph(6), cfg)
    project = Project(graph, cfg, None)
    project.write(tmp_path / "prj")
    assert _stream_depths(project) == {}
    assert all(layer.fifo_depths == () for layer in graph.layers())
    graph["c"].multiplier_limit = 72  # rendered as decided (the ALLOCATION limit), not recomputed
    project.write(tmp_path / "prj", force=True)
    params = (project.path / "firmware" / "parameters.h").read_text()
    limits = dict(re.findall(r"struct config_(\w+) \{[^}]*?multiplier_limit = (\d+);", params, re.S))
    assert limits == {"a": "16", "b": "9", "c": "72"}
