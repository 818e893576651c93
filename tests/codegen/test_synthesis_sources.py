"""The synthesis side of a project: build_prj.tcl run by Tcl (Vitis HLS's own commands recorded by
stand-ins, since Vitis HLS is not installed), the constants' literals written inline or at build time
(byte for byte the same), and the firmware with those literals running under its testbench."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

import nn2fpga  # noqa: E402
from nn2fpga import toolchain  # noqa: E402
from nn2fpga.config import Config  # noqa: E402
from nn2fpga.ir.errors import ConfigError  # noqa: E402
from nn2fpga.sim.binding import pack_words, unpack_words  # noqa: E402

pytestmark = [pytest.mark.keras]
TCLSH = shutil.which("tclsh")
needs_tcl = pytest.mark.skipif(TCLSH is None, reason="Tcl (tclsh) is not installed")

# Vitis HLS commands build_prj.tcl uses: each stand-in records its call as one Tcl list; at `exit` every
# call is printed as one line, its words separated by \x1f, so arguments holding spaces stay whole
VITIS_COMMANDS = (
    "open_project", "set_top", "add_files", "open_solution", "set_part", "create_clock",
    "csim_design", "csynth_design", "cosim_design", "export_design",
)  # fmt: skip
VITIS_STANDINS = r"""
set n2f_calls {}
foreach cmd {COMMANDS} {
    proc $cmd {args} "lappend ::n2f_calls \[list $cmd {*}\$args\]"
}
rename exit n2f_exit
proc exit {args} { foreach call $::n2f_calls { puts [join $call "\x1f"] }; n2f_exit {*}$args }
""".replace("COMMANDS", " ".join(VITIS_COMMANDS))


def _cnn():
    keras.utils.set_random_seed(3)
    i = keras.Input((12, 12, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(i)
    b = keras.layers.Conv2D(4, 1)(a)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([a, b]))
    return keras.Model(i, keras.layers.Dense(3, activation="softmax")(x))


def _project(model, tmp_path: Path, literals: str, io_type: str = "io_stream", **keys):
    config = {
        "ProjectName": "cnn",
        "IOType": io_type,
        "WeightLiterals": literals,
        "Model": {"Precision": "ap_fixed<16,6>"},
        **keys,
    }
    return nn2fpga.convert(model, config=config, output_dir=tmp_path / f"{literals}_{io_type}")


def _run_build_script(root: Path, *args: str) -> list[list[str]]:
    """build_prj.tcl run by tclsh from the project directory; the Vitis HLS calls it made."""
    script = root / "vitis_standins.tcl"
    script.write_text(VITIS_STANDINS + f"set argv {{{' '.join(args)}}}\nsource build_prj.tcl\n")
    proc = subprocess.run([TCLSH, script.name], cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = [line.split("\x1f") for line in proc.stdout.splitlines()]
    return [call for call in calls if call[0] in VITIS_COMMANDS]  # not the lines weights.tcl prints


@needs_tcl
def test_at_build_literals_equal_inline_ones(tmp_path: Path) -> None:
    model = _cnn()
    inline, deferred = _project(model, tmp_path, "inline"), _project(model, tmp_path, "at_build")
    written = sorted(p.name for p in (inline.path / "firmware" / "weights").glob("*.h"))
    assert written and not list((deferred.path / "firmware" / "weights").glob("*.h"))
    assert json.loads((deferred.path / "report.json").read_text())["weight_literals"] == "at_build"
    assert json.loads((inline.path / "report.json").read_text())["weight_literals"] == "inline"

    calls = _run_build_script(deferred.path, "csim=1", "synth=1")
    assert [c[0] for c in calls] == [
        "open_project", "set_top", "add_files", "add_files", "add_files",
        "open_solution", "set_part", "create_clock", "csim_design", "csynth_design",
    ]  # fmt: skip
    assert calls[1] == ["set_top", "cnn_kernel"]
    for name in written:  # the build wrote every constant, byte for byte what convert writes inline
        ours = (deferred.path / "firmware" / "weights" / name).read_bytes()
        assert ours == (inline.path / "firmware" / "weights" / name).read_bytes(), name

    # building again rewrites nothing; a constant whose .npy is newer than its .h is written again
    weights_tcl = [TCLSH, "firmware/weights.tcl"]
    again = subprocess.run(weights_tcl, cwd=deferred.path, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and again.stdout == "", again.stdout + again.stderr
    npy = deferred.path / "weights" / written[0].replace(".h", ".npy")
    os.utime(npy, (npy.stat().st_mtime + 100, npy.stat().st_mtime + 100))
    again = subprocess.run(weights_tcl, cwd=deferred.path, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and again.stdout.count("writing") == 1 and written[0] in again.stdout


@needs_tcl
@pytest.mark.csim
# IO types
@pytest.mark.parametrize("io_type", ["io_stream", "io_parallel"])
def test_build_script_synthesizes_the_kernel_for_the_configured_part(io_type: str, tmp_path: Path) -> None:
    """build_prj.tcl hands Vitis HLS the project's own sources with their include path, its kernel as the
    top, the configured part and clock, then runs synthesis (the default) or the steps asked for; the
    sources it adds compile under the flags it gives, with the Xilinx headers Vitis HLS would use."""
    part, period = "xcvu13p-fhga2104-2L-e", 3.3  # not the defaults, so the config is what reaches Tcl
    project = _project(_cnn(), tmp_path, "inline", io_type, Part=part, ClockPeriod=period)
    cflags = ["-cflags", "-std=c++14 -Ifirmware"]
    setup = [
        ["open_project", "-reset", "cnn_prj"],
        ["set_top", "cnn_kernel"],
        ["add_files", "firmware/cnn.cpp", *cflags],
        ["add_files", "firmware/kernel.cpp", *cflags],
        ["add_files", "-tb", "tb/cnn_test.cpp", *cflags],
        ["open_solution", "-reset", "solution1", "-flow_target", "vitis"],
        ["set_part", part],
        ["create_clock", "-period", str(period), "-name", "default"],
    ]
    assert _run_build_script(project.path) == [*setup, ["csynth_design"]]  # the default: synthesis only
    steps = _run_build_script(project.path, "csim=1", "synth=0", "cosim=1", "export=1")
    export = ["export_design", "-format", "xo", "-output", str(project.path.resolve() / "cnn_kernel.xo")]
    assert steps == [*setup, ["csim_design"], ["cosim_design"], export]
    proc = subprocess.run([TCLSH, "build_prj.tcl", "bogus=1"], cwd=project.path, capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown argument 'bogus=1'" in proc.stdout

    # the top is the kernel the sources define, and each added source compiles from the project root
    # with the recorded flags against the Xilinx headers (not ours, which csim uses)
    assert re.search(r"\bvoid cnn_kernel\(", (project.path / "firmware" / "kernel.cpp").read_text())
    xilinx = f"-I{toolchain.xilinx_reference_include_dir()}"
    for call in (c for c in setup if c[0] == "add_files"):
        source, flags = call[-3], call[-1].split()
        build = subprocess.run(
            ["g++", "-fsyntax-only", *flags, xilinx, source], cwd=project.path, capture_output=True, text=True
        )
        assert build.returncode == 0, f"{source}: {build.stderr[-3000:]}"


@pytest.mark.csim
# IO types
@pytest.mark.parametrize("io_type", ["io_stream", "io_parallel"])
def test_testbench_runs_the_firmware_with_its_literals(io_type: str, tmp_path: Path) -> None:
    """The Vitis testbench (tb/cnn_test.cpp) built with the synthesis sources (literals, no run-time weight
    files) reads the packed words of tb/input.bin, N_TB_BATCH samples per kernel call, and writes words whose
    values are exactly the reference's."""
    project = _project(_cnn(), tmp_path, "inline", io_type)
    fw, tb = project.path / "firmware", project.path / "tb"
    kernel_h = (fw / "kernel.h").read_text()
    # 432 values of 2 bytes: 13.5 words, so 14 a sample, the last half padding
    assert "#define N_TB_BATCH 4 " in kernel_h and "#define N_INPUT_WORDS 14 " in kernel_h
    x = np.random.default_rng(0).uniform(-1, 1, (7, 12, 12, 3))  # two calls: 4 samples, then 3
    in_t, out_t = project.graph.inputs()[0].types["result"], project.graph[project.graph.outputs[0]].types["result"]
    pack_words(in_t.to_raw(x.reshape(7, -1)), 432, np.int16).tofile(tb / "input.bin")
    exe = tmp_path / "tb"
    sources = [str(tb / "cnn_test.cpp"), str(fw / "kernel.cpp"), str(fw / "cnn.cpp")]
    build = subprocess.run(
        ["g++", "-O1", *toolchain.cflags(), f"-I{fw}", *sources, "-o", str(exe)], capture_output=True, text=True
    )
    assert build.returncode == 0, build.stderr[-3000:]
    run = subprocess.run([str(exe)], cwd=project.path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    packed = np.fromfile(tb / "output.bin", dtype=np.uint8)
    assert packed.size == 7 * 64  # 3 outputs x 16 bits: one word per sample
    got = out_t.from_raw(unpack_words(packed, 3, np.int16))
    assert np.array_equal(got, project.predict(x, backend="reference"))


def test_weight_literals_key_is_checked() -> None:
    with pytest.raises(ConfigError, match="WeightLiterals.*auto, inline, at_build"):
        Config.from_yaml({"WeightLiterals": "later"})
    assert Config.from_yaml({"WeightLiterals": "AT_BUILD"}).weight_literals == "at_build"
    assert Config.from_yaml(None).weight_literals == "auto"
