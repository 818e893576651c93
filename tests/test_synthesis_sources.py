"""The synthesis side of a project: build_prj.tcl run by Tcl (Vitis HLS's own commands recorded by
stand-ins, since Vitis HLS is not installed), the constants' literals written inline or at build time
(byte for byte the same), and the firmware compiling with those literals."""

from __future__ import annotations

import json
import os
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

pytestmark = [pytest.mark.keras]
TCLSH = shutil.which("tclsh")
needs_tcl = pytest.mark.skipif(TCLSH is None, reason="Tcl (tclsh) is not installed")

# Vitis HLS commands build_prj.tcl uses: each stand-in records its call as one line of a list
VITIS_STANDINS = """
set n2f_calls {}
foreach cmd {open_project set_top add_files open_solution set_part create_clock
             csim_design csynth_design cosim_design export_design} {
    proc $cmd {args} "lappend ::n2f_calls \\[list $cmd {*}\\$args\\]"
}
rename exit n2f_exit
proc exit {args} { puts [join $::n2f_calls \\n]; n2f_exit {*}$args }
"""


def _cnn():
    keras.utils.set_random_seed(3)
    i = keras.Input((12, 12, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(i)
    b = keras.layers.Conv2D(4, 1)(a)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([a, b]))
    return keras.Model(i, keras.layers.Dense(3, activation="softmax")(x))


def _project(model, tmp_path: Path, literals: str, io_type: str = "io_stream"):
    config = {
        "ProjectName": "cnn",
        "IOType": io_type,
        "WeightLiterals": literals,
        "Model": {"Precision": "ap_fixed<16,6>"},
    }
    return nn2fpga.convert(model, config=config, output_dir=tmp_path / f"{literals}_{io_type}")


def _run_build_script(root: Path, *args: str) -> list[list[str]]:
    """build_prj.tcl run by tclsh from the project directory; the Vitis HLS calls it made."""
    script = root / "vitis_standins.tcl"
    script.write_text(VITIS_STANDINS + f"set argv {{{' '.join(args)}}}\nsource build_prj.tcl\n")
    proc = subprocess.run([TCLSH, script.name], cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [line.split() for line in proc.stdout.splitlines() if line.split()[0] in VITIS_STANDINS]


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
def test_build_script_options(tmp_path: Path) -> None:
    project = _project(_cnn(), tmp_path, "inline")
    assert [c[0] for c in _run_build_script(project.path)][-1] == "csynth_design"  # the default: synthesis only
    calls = [c[0] for c in _run_build_script(project.path, "synth=0", "cosim=1", "export=1")]
    assert "csynth_design" not in calls and calls[-2:] == ["cosim_design", "export_design"]
    proc = subprocess.run([TCLSH, "build_prj.tcl", "bogus=1"], cwd=project.path, capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown argument 'bogus=1'" in proc.stdout


@pytest.mark.parametrize("io_type", ["io_stream", "io_parallel"])
def test_firmware_compiles_with_its_literals(io_type: str, tmp_path: Path) -> None:
    """The synthesis sources (literals, no run-time weight files) build with g++ and compute exactly
    what the reference computes."""
    project = _project(_cnn(), tmp_path, "inline", io_type)
    fw = project.path / "firmware"
    x = np.random.default_rng(0).uniform(-1, 1, (3, 12, 12, 3))
    raw_in = project.graph.inputs()[0].types["result"].to_raw(x).astype(np.int64)
    n_in, n_out = raw_in[0].size, 3
    main = tmp_path / "main.cpp"
    main.write_text(
        '#include <cstdio>\n#include "cnn.h"\n'
        'extern "C" void cnn_kernel(const input_raw_t *in, output_raw_t *out, int n);\n'
        f"static input_raw_t in[{n_in}];\nstatic output_raw_t out[{n_out}];\n"
        "int main() {\n  long long v;\n  for (int s = 0; s < 3; ++s) {\n"
        f'    for (int i = 0; i < {n_in}; ++i) {{ if (std::scanf("%lld", &v) != 1) return 1; in[i] = v; }}\n'
        "    cnn_kernel(in, out, 1);\n"
        f'    for (int j = 0; j < {n_out}; ++j) std::printf("%lld ", (long long)out[j]);\n'
        '    std::printf("\\n");\n  }\n}\n'
    )
    exe = tmp_path / "fw"
    sources = [str(main), str(fw / "kernel.cpp"), str(fw / "cnn.cpp")]
    build = subprocess.run(
        ["g++", "-O1", *toolchain.cflags(), f"-I{fw}", *sources, "-o", str(exe)], capture_output=True, text=True
    )
    assert build.returncode == 0, build.stderr[-3000:]
    feed = "\n".join(" ".join(map(str, r.ravel())) for r in raw_in)
    run = subprocess.run([str(exe)], input=feed, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    got = np.array([[int(v) for v in line.split()] for line in run.stdout.splitlines()])
    out_t = project.graph[project.graph.outputs[0]].types["result"]
    assert got.shape == (3, n_out)
    assert np.array_equal(out_t.from_raw(got), project.predict(x, backend="reference"))


def test_weight_literals_key_is_checked() -> None:
    with pytest.raises(ConfigError, match="WeightLiterals.*auto, inline, at_build"):
        Config.from_yaml({"WeightLiterals": "later"})
    assert Config.from_yaml({"WeightLiterals": "AT_BUILD"}).weight_literals == "at_build"
    assert Config.from_yaml(None).weight_literals == "auto"
