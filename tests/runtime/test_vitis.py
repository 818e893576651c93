"""Vitis HLS and the v++ link run from Python (nn2fpga.runtime.vitis) on a written project, with recording
stand-ins of `vitis_hls` and `v++` (Vitis is not installed): the command lines, the log, where the tools are
found, and the errors when they are missing or fail."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from nn2fpga.config import Config
from nn2fpga.ir.errors import UserError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Dense, Input
from nn2fpga.project import Project, compile_graph
from nn2fpga.runtime import vitis
from nn2fpga.runtime.vitis import BuildError, ToolNotFound, commands, find_tool, run_build

PLATFORM = "xilinx_u250_gen3x16_xdma_4_1_202210_1"
HLS = ["vitis_hls", "-f", "build_prj.tcl", "-tclargs"]
# the link line of build_xclbin.sh for project "tiny" at ClockPeriod 4 ns (250 MHz), target hw
LINK = ["v++", "--link", "--target", "hw", "--platform", PLATFORM, "--config", "link.cfg",
        "--kernel_frequency", "250", "-o", "tiny.hw.xclbin", "tiny_kernel.xo"]  # fmt: skip

# A stand-in of vitis_hls or v++: records its argv and cwd as one JSON line in $N2F_RECORD, prints lines like the
# tool's (one on stderr), writes the kernel .xo when asked to export (unless $N2F_NO_XO), and exits 1 with an
# error line when $N2F_FAIL names it.
STANDIN = r"""#!{python}
import json, os, sys
name = os.path.basename(sys.argv[0])
with open(os.environ["N2F_RECORD"], "a") as f:
    f.write(json.dumps({{"argv": [name, *sys.argv[1:]], "cwd": os.getcwd()}}) + "\n")
if name == "vitis_hls":
    print("INFO: [HLS 200-10] Running '/opt/Xilinx/Vitis_HLS/bin/unwrapped/lnx64.o/vitis_hls'")
    print("INFO: [HLS 200-1510] Running: source build_prj.tcl")
    print("INFO: [HLS 200-1510] Running: csynth_design")
    print("WARNING: [HLS 207-5292] unused parameter 'n' (stand-in)", file=sys.stderr)
    if "export=1" in sys.argv and not os.environ.get("N2F_NO_XO"):
        print("INFO: [HLS 200-1510] Running: export_design -format xo -output tiny_kernel.xo")
        open("tiny_kernel.xo", "w").close()
else:
    print("INFO: [v++ 60-1306] Additional information associated with this v++ link can be found at: _x")
    print("INFO: [v++ 60-1441] [00:00:01] Run vpl: Step synth: Started")
if os.environ.get("N2F_FAIL") == name:
    print("ERROR: [HLS 214-124] stand-in failure of " + name)
    print("")
    sys.exit(1)
print(name + " stand-in done")
"""


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project written by nn2fpga from the IR (Input 16 -> Dense 8, no Keras), clock 4 ns."""
    rng = np.random.default_rng(0)
    g = Graph("tiny")
    g.add(Input("x", shape=(16,)))
    g.add(Dense("d", shape=(8,), weight=rng.normal(size=(16, 8)), bias=rng.normal(size=8)), ["x"])
    g.outputs = ["d"]
    cfg = Config({"ProjectName": "tiny", "ClockPeriod": 4.0})
    _, graph, _ = compile_graph(g, cfg)
    root = tmp_path_factory.mktemp("written") / "tiny"
    Project(graph, cfg, None).write(root)
    return root


def _standins(bin_dir: Path, names: tuple[str, ...] = ("vitis_hls", "v++")) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        tool = bin_dir / name
        tool.write_text(STANDIN.format(python=sys.executable))
        tool.chmod(0o755)
    return bin_dir


@pytest.fixture
def prj(written: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the written project; stand-ins of both tools first on PATH, recording to calls.jsonl."""
    root = tmp_path / "tiny"
    shutil.copytree(written, root)
    monkeypatch.setenv("PATH", f"{_standins(tmp_path / 'bin')}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("N2F_RECORD", str(tmp_path / "calls.jsonl"))
    monkeypatch.setenv("PLATFORM", PLATFORM)
    for var in ("XILINX_HLS", "XILINX_VITIS", "N2F_FAIL", "N2F_NO_XO"):
        monkeypatch.delenv(var, raising=False)
    return root


def _calls(prj: Path) -> list[dict]:
    record = prj.parent / "calls.jsonl"
    return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


def _only_dir_on_path(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """PATH holding nothing but `path` (the stand-ins' shebang names the interpreter, so no PATH lookup)."""
    path.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("PATH", str(path))


# step flags
@pytest.mark.parametrize(
    "steps, expected",
    [
        ({}, [HLS + ["csim=0", "synth=1", "cosim=0", "export=0"]]),
        ({"csim": True}, [HLS + ["csim=1", "synth=0", "cosim=0", "export=0"]]),
        ({"cosim": True}, [HLS + ["csim=0", "synth=1", "cosim=1", "export=0"]]),
        ({"export": True}, [HLS + ["csim=0", "synth=1", "cosim=0", "export=1"]]),
        ({"link": True}, [HLS + ["csim=0", "synth=1", "cosim=0", "export=1"], LINK]),
    ],
    ids=["default", "csim", "cosim", "export", "link"],
)
def test_commands_run_in_the_project(prj: Path, steps: dict, expected: list[list[str]]) -> None:
    assert commands(prj, **steps) == expected
    run_build(prj, **steps, progress=False)
    assert [c["argv"] for c in _calls(prj)] == expected
    assert {c["cwd"] for c in _calls(prj)} == {str(prj.resolve())}


def test_link_reuses_build_xclbin_sh(prj: Path) -> None:
    """The link line is build_xclbin.sh's, filled in: its clock, config and names, the given target."""
    script = (prj / "build_xclbin.sh").read_text()
    assert "--kernel_frequency 250" in script and "--config link.cfg" in script
    (hw_emu,) = commands(prj, link=True, target="hw_emu", platform="my_platform")[1:]
    expected = [
        {"hw": "hw_emu", PLATFORM: "my_platform", "tiny.hw.xclbin": "tiny.hw_emu.xclbin"}.get(w, w) for w in LINK
    ]
    assert hw_emu == expected


def test_link_needs_a_platform_and_a_known_target(prj: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLATFORM")
    with pytest.raises(UserError, match=r"needs the card's platform: set PLATFORM .*platforminfo -l"):
        run_build(prj, link=True, progress=False)
    with pytest.raises(UserError, match="target 'sw' is not one of hw, hw_emu"):
        commands(prj, link=True, target="sw", platform=PLATFORM)
    assert _calls(prj) == []


def test_log_holds_the_output_of_every_run(prj: Path) -> None:
    log = run_build(prj, progress=False)
    assert log == prj.resolve() / "build.log"
    run_build(prj, csim=True, progress=False)
    text = log.read_text()
    assert text.count("==== nn2fpga build 1/1") == 2  # appended, one header per command
    assert "-tclargs csim=0 synth=1 cosim=0 export=0" in text and "-tclargs csim=1 synth=0" in text
    assert "Running: csynth_design" in text and "unused parameter 'n' (stand-in)" in text  # stdout and stderr
    assert text.count("==== exit status 0") == 2


def test_log_elsewhere(prj: Path, tmp_path: Path) -> None:
    log = run_build(prj, link=True, log=tmp_path / "logs" / "hw.log", progress=False)
    text = log.read_text()
    assert log == tmp_path / "logs" / "hw.log" and not (prj / "build.log").exists()
    assert "build 1/2" in text and "build 2/2" in text and "Run vpl: Step synth: Started" in text


def test_progress_line_names_the_phase(prj: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_build(prj, link=True, progress=True)
    err = capsys.readouterr().err
    assert "[1/2] vitis_hls: C synthesis" in err and "[2/2] v++: v++ link: synth" in err


def test_xilinx_hls_alone_finds_vitis_hls(prj: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _only_dir_on_path(monkeypatch, tmp_path / "empty")
    install = tmp_path / "Xilinx" / "Vitis_HLS" / "2023.2"
    _standins(install / "bin", ("vitis_hls",))
    monkeypatch.setenv("XILINX_HLS", str(install))
    assert find_tool("vitis_hls", "XILINX_HLS") == install / "bin" / "vitis_hls"
    assert find_tool("v++", "XILINX_VITIS") is None
    run_build(prj, progress=False)
    assert [c["argv"][0] for c in _calls(prj)] == ["vitis_hls"]
    assert str(install / "bin" / "vitis_hls") in (prj / "build.log").read_text()


def test_path_comes_before_the_install_variable(prj: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XILINX_VITIS", str(tmp_path / "Vitis"))
    _standins(tmp_path / "Vitis" / "bin", ("v++",))
    assert find_tool("v++", "XILINX_VITIS") == tmp_path / "bin" / "v++"


def test_missing_vitis_hls(prj: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _only_dir_on_path(monkeypatch, tmp_path / "empty")
    monkeypatch.setenv("XILINX_HLS", str(tmp_path / "no_such_install"))
    with pytest.raises(ToolNotFound) as e:
        run_build(prj, progress=False)
    message = str(e.value)
    assert message.startswith("vitis_hls was not found on PATH nor in $XILINX_HLS/bin")
    assert "source <Vitis install>/settings64.sh" in message and f"`nn2fpga report {prj}`" in message
    assert "\n" not in message and not (prj / "build.log").exists()


def test_missing_vpp_stops_before_vitis_hls_runs(prj: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _only_dir_on_path(monkeypatch, tmp_path / "only_hls")
    _standins(tmp_path / "only_hls", ("vitis_hls",))
    with pytest.raises(ToolNotFound, match=r"^v\+\+ was not found .*XILINX_VITIS") as e:
        run_build(prj, link=True, progress=False)
    assert e.value.tool == "v++" and _calls(prj) == []


# the failing tool
@pytest.mark.parametrize("tool, steps", [("vitis_hls", {}), ("v++", {"link": True})])
def test_failure_names_command_status_log_and_last_lines(
    prj: Path, monkeypatch: pytest.MonkeyPatch, tool: str, steps: dict
) -> None:
    monkeypatch.setenv("N2F_FAIL", tool)
    with pytest.raises(BuildError) as e:
        run_build(prj, **steps, progress=False)
    first, *rest = str(e.value).splitlines()
    log = prj.resolve() / "build.log"
    assert first == f"{tool} failed with exit status 1; its full output is in {log}."
    assert rest[0].startswith("command: ") and rest[0].endswith(" ".join(commands(prj, **steps)[-1][1:]))
    assert rest[1] == "last lines of its output:"
    assert rest[-1] == f"  ERROR: [HLS 214-124] stand-in failure of {tool}"  # the blank line after it is left out
    assert e.value.status == 1 and e.value.log == log and "" not in e.value.tail
    assert "==== exit status 1" in log.read_text()


def test_no_kernel_xo_stops_before_the_link(prj: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("N2F_NO_XO", "1")
    with pytest.raises(BuildError, match=r"^vitis_hls exited 0 but did not write .*tiny_kernel\.xo;"):
        run_build(prj, link=True, progress=False)
    assert [c["argv"][0] for c in _calls(prj)] == ["vitis_hls"]


def test_not_a_project(prj: Path, tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(UserError, match=r"plain is not an nn2fpga project: it has no build_prj\.tcl"):
        run_build(tmp_path / "plain", progress=False)
    with pytest.raises(UserError, match=r"missing is not an nn2fpga project: it does not exist"):
        run_build(tmp_path / "missing", progress=False)
    assert _calls(prj) == []


def test_phase_of_vitis_lines() -> None:
    phase = vitis._phase
    assert phase("INFO: [HLS 200-1510] Running: csim_design") == "C simulation"
    assert phase("INFO: [SIM 211-2] *************** CSIM start ***************") == "C simulation"
    assert phase("INFO: [HLS 200-1510] Running: cosim_design") == "C/RTL co-simulation"
    assert phase("INFO: [COSIM 212-323] Starting verilog simulation.") == "C/RTL co-simulation: RTL"
    assert phase("INFO: [v++ 60-1441] [00:03:12] Run vpl: Step impl: Started") == "v++ link: impl"
    assert phase("INFO: [HLS 200-111] Finished Checking Pragmas") is None
