"""`nn2fpga report`, `plan` and `build` from the command line: real conversions of a small jet tagger (Keras file),
the estimator's JSON, the PNG, the plan's config converting back, clear errors with exit status 2."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from nn2fpga.cli import main

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def run(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def tagger(tmp_path_factory) -> Path:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(64, activation="relu", name="fc1"),
                              keras.layers.Dense(32, activation="relu", name="fc2"),
                              keras.layers.Dense(32, activation="relu", name="fc3"),
                              keras.layers.Dense(5, activation="softmax", name="output")])  # fmt: skip
    path = tmp_path_factory.mktemp("models") / "tagger.keras"
    model.save(path)
    return path


@pytest.mark.keras
def test_report_prints_the_table_and_writes_json_and_png(capsys, tagger: Path, tmp_path: Path) -> None:
    prj = tmp_path / "prj"
    assert run(capsys, "convert", str(tagger), "-o", str(prj), "--summary")[1].count("estimate on xcu250") == 1
    rc, out, err = run(capsys, "report", str(prj), "--json", str(tmp_path / "r.json"))
    assert rc == 0, err
    assert "fc2" in out and "bottleneck:" in out and "of 12,288 (" in out
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["part"] == "xcu250-figd2104-2L-e" and data["device"] == "xcu250" and data["clock_ns"] == 5.0
    for key in ("dsp", "lut", "ff", "bram18k", "uram"):
        assert key in data["available"] and sum(lay[key] for lay in data["layers"]) == data["total"][key]
    assert data["total"]["ii_cycles"] == 1 and data["total"]["images_per_s"] == pytest.approx(2e8)
    assert {lay["name"] for lay in data["layers"]} >= {"fc1", "fc2", "fc3", "output"}
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    # the written project's report.json has the same estimate
    assert json.loads((prj / "report.json").read_text())["total"] == data["total"]


@pytest.mark.keras
def test_report_shows_synthesis_beside_the_estimate(capsys, tagger: Path, tmp_path: Path) -> None:
    prj = tmp_path / "prj"
    run(capsys, "convert", str(tagger), "-o", str(prj))
    name = json.loads((prj / "report.json").read_text())["project"]
    fixture = Path(__file__).parent / "estimate" / "data" / "csynth" / "csynth.xml"
    report_dir = prj / f"{name}_prj" / "solution1" / "syn" / "report"
    report_dir.mkdir(parents=True)
    (report_dir / "csynth.xml").write_text(fixture.read_text())
    rc, out, _ = run(capsys, "report", str(prj))
    assert rc == 0 and "estimate / Vitis C synthesis" in out and "%)" in out
    assert "synthesis" in json.loads((prj / "report.json").read_text())


@pytest.mark.keras
@pytest.mark.parametrize("part", ["xcu250-figd2104-2L-e", "xc7z020clg400-1"])
def test_plan_fits_the_part_and_converts(capsys, tagger: Path, tmp_path: Path, part: str) -> None:
    out_yml = tmp_path / "plan.yml"
    rc, out, err = run(capsys, "plan", str(tagger), "--part", part, "-o", str(out_yml))
    assert rc == 0, err
    assert "DSP roofline" in out
    text = out_yml.read_text()
    assert text.startswith("# nn2fpga plan for ") and "estimate:" in text
    assert yaml.safe_load(text)["Part"] == part
    prj = tmp_path / "prj"
    assert run(capsys, "convert", str(tagger), "-c", str(out_yml), "-o", str(prj))[0] == 0
    data = json.loads((prj / "report.json").read_text())
    assert all(data["utilisation"][k] <= 0.8 for k in ("dsp", "lut", "ff", "bram18k"))
    if part.startswith("xcu250"):  # latency-optimal: fully parallel
        assert data["total"]["ii_cycles"] == 1
    else:  # raised reuse until the small part fits
        assert data["total"]["ii_cycles"] > 1


@pytest.mark.keras
def test_plan_errors_are_one_line(capsys, tagger: Path, tmp_path: Path) -> None:
    rc, _, err = run(capsys, "plan", str(tagger), "--part", "xc7k999t", "-o", str(tmp_path / "p.yml"))
    assert rc == 2 and "unknown part 'xc7k999t'" in err and err.count("\n") == 1
    rc, _, err = run(capsys, "plan", str(tagger), "--fps", "-3", "-o", str(tmp_path / "p.yml"))
    assert rc == 2 and "--fps" in err
    assert not (tmp_path / "p.yml").exists()


def test_report_of_a_missing_project(capsys, tmp_path: Path) -> None:
    rc, _, err = run(capsys, "report", str(tmp_path))
    assert rc == 2 and "not an nn2fpga project" in err


@pytest.mark.keras
def test_build_without_vitis_is_one_clear_error(capsys, tagger: Path, tmp_path: Path, monkeypatch) -> None:
    prj = tmp_path / "prj"
    run(capsys, "convert", str(tagger), "-o", str(prj))
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("XILINX_HLS", raising=False)
    monkeypatch.delenv("XILINX_VITIS", raising=False)
    rc, _, err = run(capsys, "build", str(prj))
    assert rc == 2 and "vitis_hls" in err and err.count("\n") == 1


@pytest.mark.keras
def test_build_runs_vitis_then_reports(capsys, tagger: Path, tmp_path: Path, monkeypatch) -> None:
    prj = tmp_path / "prj"
    run(capsys, "convert", str(tagger), "-o", str(prj))
    bin_dir, record = tmp_path / "bin", tmp_path / "calls.txt"
    bin_dir.mkdir()
    stand_in = bin_dir / "vitis_hls"  # records its command line, prints what Vitis prints
    stand_in.write_text(f'#!/bin/sh\necho "$@" >> {record}\necho "INFO: [HLS 200-10] Starting C synthesis"\n')
    stand_in.chmod(stand_in.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    rc, out, err = run(capsys, "build", str(prj), "--csim")
    assert rc == 0, err
    assert "-f build_prj.tcl" in record.read_text() and "csim=1" in record.read_text()
    assert "Starting C synthesis" in (prj / "build.log").read_text() and "bottleneck:" in out
