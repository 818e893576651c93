"""The command line: every sub-command, and the corpus of bad inputs (one clear line, exit 2, nothing half-written)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nn2fpga import __version__
from nn2fpga.cli import main

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    try:
        rc = main([str(a) for a in args])
    except SystemExit as e:  # argparse usage errors
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def test_version_and_cflags(capsys) -> None:
    rc, out, _ = run_cli(capsys, "--version")
    assert rc == 0 and __version__ in out
    rc, out, _ = run_cli(capsys, "cflags")
    flags = out.split()
    assert (
        rc == 0 and "-std=c++17" in flags and any(Path(f[2:], "ap_fixed.h").is_file() for f in flags if f[:2] == "-I")
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    keras = pytest.importorskip("keras")
    d = tmp_path_factory.mktemp("models")
    good = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(6, activation="relu", name="fc1"),
            keras.layers.Dense(3, activation="softmax", name="out"),
        ],
        name="small",
    )
    good.save(d / "good.keras")
    bad_layer = keras.Sequential(
        [
            keras.Input((4, 4, 4, 2)),
            keras.layers.Conv3D(2, 3, name="conv"),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ]  # fmt: skip
    )
    bad_layer.save(d / "conv.keras")
    lam = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda v: v * 2, name="double")])
    lam.save(d / "lambda.keras")
    (d / "corrupt.keras").write_bytes(b"PK\x03\x04 this is not a zip file")
    return {p.stem: p for p in d.iterdir()}


@pytest.mark.keras
@pytest.mark.csim
def test_config_convert_predict(capsys, models, tmp_path) -> None:
    rc, out, _ = run_cli(capsys, "config", models["good"])
    assert rc == 0 and "fc1" in out and "ReuseFactor" in out
    cfg = tmp_path / "c.yml"
    cfg.write_text(out.replace("ReuseFactor: 1", "ReuseFactor: 2", 1))
    rc, out, err = run_cli(capsys, "convert", models["good"], "-o", tmp_path / "prj", "-c", cfg, "--summary")
    assert rc == 0, err
    assert "fc1" in out and (tmp_path / "prj" / "firmware" / "small.cpp").is_file()
    x = np.random.default_rng(0).normal(size=(20, 8))
    np.save(tmp_path / "x.npy", x)
    for backend in ("csim", "reference"):
        rc, _, err = run_cli(
            capsys,
            "predict",
            tmp_path / "prj",
            "-i",
            tmp_path / "x.npy",
            "-o",
            tmp_path / f"{backend}.npy",
            "--backend",
            backend,
        )
        assert rc == 0, err
    assert np.array_equal(np.load(tmp_path / "csim.npy"), np.load(tmp_path / "reference.npy"))


BAD_CONFIGS = {
    "unknown key": ({"Model": {"ReuseFacter": 2}}, "Model.ReuseFacter", "ReuseFactor"),
    "bad precision": (
        {"LayerName": {"fc1": {"Precision": {"weight": "ap_fixed<0,3>"}}}},
        "LayerName.fc1.Precision.weight",
        "1..64",
    ),
    "bad reuse factor": (
        {"LayerName": {"fc1": {"ReuseFactor": 7, "Strategy": "Resource"}}},
        "LayerName.fc1.ReuseFactor",
        "nearest valid: 6, 8",
    ),
    "unknown layer": ({"LayerName": {"fc9": {"ReuseFactor": 1}}}, "fc9", "fc1"),
    "PE not dividing": (
        {"IOType": "io_stream", "LayerName": {"fc1": {"PE": 4}}},
        "LayerName.fc1.PE",
        "valid: 1, 2, 3, 6",
    ),
    "SIMD not dividing": (
        {"IOType": "io_stream", "LayerName": {"fc1": {"SIMD": 3}}},
        "LayerName.fc1.SIMD",
        "1, 2, 4, 8",
    ),
    "unknown storage": (
        {"LayerName": {"fc1": {"WeightStorage": "flash"}}},
        "LayerName.fc1.WeightStorage",
        "auto, bram, lutram, uram, offchip",
    ),
    "lanes of a layer with multipliers": ({"LayerName": {"fc1": {"Lanes": 2}}}, "LayerName.fc1.Lanes", "PE"),
}


@pytest.mark.keras
@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_exits_2_naming_the_key(capsys, models, tmp_path, case: str) -> None:
    import yaml

    data, path, hint = BAD_CONFIGS[case]
    cfg = tmp_path / "bad.yml"
    cfg.write_text(yaml.safe_dump(data))
    rc, _, err = run_cli(capsys, "convert", models["good"], "-o", tmp_path / "prj", "-c", cfg)
    assert rc == 2
    assert err.startswith("nn2fpga: error:") and path in err and hint in err, err
    assert not (tmp_path / "prj").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.yml"]  # no temporary directory left behind


@pytest.mark.keras
@pytest.mark.parametrize(
    ("model", "message"),
    [("corrupt", "corrupt.keras"), ("conv", "'conv' (Conv3D)"), ("lambda", "Lambda"), ("missing", "missing.keras")],
)
def test_bad_model_exits_2(capsys, models, tmp_path, model: str, message: str) -> None:
    path = models.get(model, tmp_path / "missing.keras")
    rc, _, err = run_cli(capsys, "convert", path, "-o", tmp_path / "prj")
    assert rc == 2 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "prj").exists()


@pytest.mark.keras
def test_existing_and_unwritable_output(capsys, models, tmp_path) -> None:
    (tmp_path / "prj").mkdir()
    (tmp_path / "prj" / "keep.txt").write_text("user data")
    rc, _, err = run_cli(capsys, "convert", models["good"], "-o", tmp_path / "prj")
    assert rc == 2 and "already exists" in err and "--force" in err
    assert (tmp_path / "prj" / "keep.txt").read_text() == "user data"
    (tmp_path / "afile").write_text("")
    rc, _, err = run_cli(capsys, "convert", models["good"], "-o", tmp_path / "afile" / "prj")
    assert rc == 2 and "afile" in err


@pytest.mark.keras
def test_predict_wrong_shape_and_bad_files(capsys, models, tmp_path) -> None:
    assert run_cli(capsys, "convert", models["good"], "-o", tmp_path / "prj")[0] == 0
    np.save(tmp_path / "x.npy", np.zeros((4, 7)))
    rc, _, err = run_cli(capsys, "predict", tmp_path / "prj", "-i", tmp_path / "x.npy")
    assert rc == 2 and "(4, 7)" in err and "(batch, 8)" in err
    (tmp_path / "junk.npy").write_bytes(b"junk")
    rc, _, err = run_cli(capsys, "predict", tmp_path / "prj", "-i", tmp_path / "junk.npy")
    assert rc == 2 and "junk.npy" in err
    rc, _, err = run_cli(capsys, "predict", tmp_path, "-i", tmp_path / "x.npy")
    assert rc == 2 and "not an nn2fpga project" in err


def test_real_process_exit_code_without_traceback(tmp_path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nn2fpga.cli", "predict", str(tmp_path), "-i", "x.npy"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("nn2fpga: error:") and "Traceback" not in proc.stderr
