"""A non-editable install ships templates/ inside the wheel and works from another directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_templates_and_cli(tmp_path: Path) -> None:
    # build from a clean copy: a stale build/ in the checkout would hide a package missing from setup.cfg
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__"))
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(source),
        ],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = wheels.glob("nn2fpga-*.whl")
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)], check=True
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("XILINX_HLS", None)
    out = subprocess.run(
        [sys.executable, "-m", "nn2fpga.cli", "cflags"],
        check=True,
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
    ).stdout.split()
    include = Path(out[-1].removeprefix("-I"))
    assert include.is_relative_to(site), include
    for header in ("ap_fixed.h", "ap_int.h", "hls_stream.h"):
        assert (include / header).is_file(), header
    # every module of the source tree is in the wheel, and the API imports from there
    modules = sorted(str(f.relative_to(ROOT / "src")) for f in (ROOT / "src" / "nn2fpga").rglob("*.py"))
    assert [m for m in modules if not (site / m).is_file()] == []
    assert (site / "nn2fpga" / "estimate" / "devices.json").is_file()  # package data: the device database
    assert (site / "nn2fpga" / "datasets" / "data" / "jets_5class.npz").is_file()  # and the demo's jets
    code = "import nn2fpga.project, nn2fpga.cli, nn2fpga.profile, nn2fpga.testing; print(nn2fpga.project.__file__)"
    where = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=elsewhere, env=env
    )
    assert Path(where.stdout.strip()).is_relative_to(site)
