"""Code generation only renders the hardware flow's decisions: FIFO depths, multiplier limits, IOType and
weight placement come from the graph into the sources, report.json and the summary; the kernel and the v++ link
configuration follow the interface and the part (no compiler)."""

from __future__ import annotations

import json
import re

import pytest

from nn2fpga.codegen.render import render
from nn2fpga.config import Config
from nn2fpga.project import Project, compile_graph


def _stream_depths(project: Project) -> dict[str, int]:
    top = (project.path / "firmware" / f"{project.name}.cpp").read_text()
    return {name: int(depth) for name, depth in re.findall(r"STREAM variable = (\w+) depth = (\d+)", top)}


def test_sources_render_the_graph_decisions(skip_graph, tmp_path) -> None:
    cfg = Config.from_yaml({"IOType": "io_stream", "LayerName": {"b": {"ReuseFactor": 18}}})
    _, graph, _ = compile_graph(skip_graph(16), cfg)
    assert graph["add"].fifo_depths == (80, 2) and graph["b"].multiplier_limit == 3 * 3 * 4 * 4 // 18
    graph["add"].fifo_depths = (37, 5)  # a decision changed on the graph reaches the sources unchanged
    project = Project(graph, cfg, None)
    project.write(tmp_path / "prj")
    # b (PE 2) writes 2-lane words, c reads 4 (its SIMD): a width converter and its stream between them
    streams = {"a_out": 2, "a_to_b": 2, "a_to_add": 37, "b_out": 2, "b_out_dwc": 2, "c_out": 5, "add_out": 2}
    assert _stream_depths(project) == streams
    report = json.loads((project.path / "report.json").read_text())
    assert (report["io_type"], report["weight_literals"]) == ("io_stream", "inline")
    assert {r["name"]: r["fifo_depths"] for r in report["layers"]}["add"] == [37, 5]
    b = {r["name"]: r for r in report["layers"]}["b"]
    assert (b["pe"], b["simd"], b["weight_storage"], b["lanes"]) == (2, 4, "lutram", 2)
    assert b["memory"]["lutram"] > 0 and b["memory"]["bram18"] == 0
    summary = project.summary()
    assert "2x4" in summary and "total on xcu250:" in summary  # b's fold; the weight memories against the part
    assert "37,5" in summary and "IOType: io_stream; WeightLiterals: inline" in summary
    written = Config.from_yaml(project.path / "nn2fpga.yml")
    assert (written.io_type, written.weight_literals) == ("io_stream", "inline")
    # every stream into a layer, by the name the top function declares, with its depth (a_out feeds the fork)
    assert written.streams == {"a_to_b": 2, "b_out": 2, "a_to_add": 37, "c_out": 5, "add_out": 2}


def test_io_parallel_renders_multiplier_limits(skip_graph, tmp_path) -> None:
    cfg = Config.from_yaml({"IOType": "io_parallel", "LayerName": {"b": {"ReuseFactor": 18}}})
    _, graph, _ = compile_graph(skip_graph(6), cfg)
    project = Project(graph, cfg, None)
    project.write(tmp_path / "prj")
    assert _stream_depths(project) == {}
    assert all(layer.fifo_depths == () for layer in graph.layers())
    graph["c"].multiplier_limit = 72  # rendered as decided (the ALLOCATION limit), not recomputed
    project.write(tmp_path / "prj", force=True)
    params = (project.path / "firmware" / "parameters.h").read_text()
    limits = dict(re.findall(r"struct config_(\w+) \{[^}]*?multiplier_limit = (\d+);", params, re.S))
    assert limits == {"a": "16", "b": "8", "c": "72"}  # b: RF 18 of 144 multiplications, PE 2 x SIMD 4


# parts: the Alveo cards with DDR (U250, U200) and with HBM (U280, U55C), and a part that is no Alveo card
@pytest.mark.parametrize(
    ("part", "memory"),
    [
        ("xcu250-figd2104-2L-e", ["DDR[0]", "DDR[0]"]),
        ("xcu200-fsgd2104-2-e", ["DDR[0]", "DDR[0]"]),
        ("xcu280-fsvh2892-2L-e", ["HBM[0]", "HBM[1]"]),
        ("XCU55C-fsvh2892-2L-e", ["HBM[0]", "HBM[1]"]),
        ("xcvu13p-fhga2104-2L-e", []),
    ],
)
def test_link_config_connects_the_kernel_for_the_part(part: str, memory: list[str]) -> None:
    """link.cfg (v++ --link --config): one compute unit, its two m_axi ports on the card's memory, the unit in
    that memory's SLR; for a part that is no known Alveo card, the same lines left for the user to choose."""
    text = render("link.cfg.j2", project="cnn", part=part)
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    ports = [f"sp=cnn_1.{port}:{bank}" for port, bank in zip(("in", "out"), memory)]
    assert lines == ["[connectivity]", "nk=cnn_kernel:1:cnn_1", *ports, *(["slr=cnn_1:SLR0"] if memory else [])]
    if not memory:  # the choice is the user's: commented-out lines, and why
        assert "# sp=cnn_1.in:DDR[0]" in text and "# slr=cnn_1:SLR0" in text and "not an Alveo card" in text


# IO types
@pytest.mark.parametrize("io_type", ["io_stream", "io_parallel"])
def test_kernel_is_a_dataflow_on_wide_ports(skip_graph, tmp_path, io_type: str) -> None:
    """The kernel: packed ap_uint<512> words on two m_axi bundles with a depth for cosim, a DATAFLOW of load ->
    top -> store; in io_stream its own streams are two words deep; the project has the v++ link files."""
    cfg = Config.from_yaml({"IOType": io_type, "ClockPeriod": 4})
    project = Project(compile_graph(skip_graph(8), cfg)[1], cfg, None)
    project.write(tmp_path / "prj")
    kernel = (project.path / "firmware" / "kernel.cpp").read_text()
    header = (project.path / "firmware" / "kernel.h").read_text()
    signature = 'extern "C" void skip_kernel(const ap_uint<512> *in, ap_uint<512> *out, int n)'
    assert signature + " {" in kernel and signature + ";" in header
    # 8 x 8 x 4 inputs of 16 bits: 8 words a sample; 4 outputs: 1 word; depth = N_TB_BATCH (4) samples
    assert "#define N_INPUT_WORDS 8 " in header and "#define N_OUTPUT_WORDS 1 " in header
    assert "port = in offset = slave bundle = gmem0 depth = 32\n" in kernel
    assert "port = out offset = slave bundle = gmem1 depth = 4\n" in kernel
    assert kernel.count("#pragma HLS DATAFLOW") == (2 if io_type == "io_stream" else 1)
    if io_type == "io_stream":
        assert re.findall(r"STREAM variable = (\w+) depth = (\d+)", kernel) == [("x", "2"), ("y", "2")]
        for process in ("load(in, x, n)", "run(x, y, n)", "store(y, out, n)"):
            assert process in kernel
    else:
        assert "load(in, s, x);\n        skip(x, y);\n        store(y, out, s);" in kernel
    assert "nk=skip_kernel:1:skip_1" in (project.path / "link.cfg").read_text()
    script = (project.path / "build_xclbin.sh").read_text()
    assert "--config link.cfg" in script and "--kernel_frequency 250 " in script and "skip_kernel.xo" in script
