"""`nn2fpga profile`: plots, summaries listing every layer, saturating and underflowing tensors."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from nn2fpga.cli import main  # noqa: E402

pytestmark = pytest.mark.keras
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    pytest.importorskip("keras")
    from nn2fpga.datasets import jet_features, jet_tagger

    d = tmp_path_factory.mktemp("profile")
    jet_tagger(epochs=2).save(d / "jet.keras")
    x, y = jet_features(1000, seed=21)
    np.save(d / "x.npy", x)
    np.save(d / "y.npy", y)
    return d


def _check_report(out, layers: list[str]) -> None:
    for name in ("weights.png", "activations.png", "errors.png"):
        data = (out / name).read_bytes()
        assert data[:8] == PNG and len(data) > 1000, name
    md, page = (out / "summary.md").read_text(), (out / "summary.html").read_text()
    for layer in layers:
        assert f"| {layer} |" in md and f"<td>{layer}</td>" in page, layer
    assert page.startswith("<!doctype html>") and '<img src="weights.png"' in page and "![errors](errors.png)" in md


def test_profile_model_file(files, tmp_path, capsys) -> None:
    import nn2fpga

    config = tmp_path / "cfg.yml"
    config.write_text("Model:\n  Precision: ap_fixed<12,5>\n")
    rc = main(["profile", str(files / "jet.keras"), "--data", str(files / "x.npy"), "-o", str(tmp_path / "r"),
               "-c", str(config), "--labels", str(files / "y.npy")])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0 and "top-1 agreement" in out and "ROC AUC" in out, out
    layers = [layer.name for layer in nn2fpga.convert(str(files / "jet.keras")).graph.layers()]
    _check_report(tmp_path / "r", layers)


def test_profile_lists_saturating_and_underflowing_tensors(files, tmp_path, capsys) -> None:
    config = tmp_path / "cfg.yml"
    # fc1 outputs exceed 2 (saturate); fc2's weights all lie below 16, the lsb of ap_fixed<8,12>
    config.write_text(
        "LayerName:\n  fc1_relu: {Precision: 'ap_fixed<8,2>'}\n  fc2: {Precision: {weight: 'ap_fixed<8,12>'}}\n"
    )
    rc = main(["profile", str(files / "jet.keras"), "--data", str(files / "x.npy"), "-o", str(tmp_path / "r"),
               "-c", str(config)])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0
    md = (tmp_path / "r" / "summary.md").read_text()
    assert "tensors out of range (saturate / wrap): fc1.result" in md
    assert "tensors entirely below their lsb: fc2.weight" in md
    assert "'fc1': " in out and "saturate" in out and "'fc2': every weight value is below the lsb" in out


def test_profile_project_directory_with_calibration(files, tmp_path, capsys) -> None:
    import nn2fpga

    project = nn2fpga.convert(str(files / "jet.keras"), output_dir=tmp_path / "prj")
    rc = main(["profile", str(tmp_path / "prj"), "--data", str(files / "x.npy"), "-o", str(tmp_path / "r")])
    assert rc == 0
    _check_report(tmp_path / "r", [layer.name for layer in project.graph.layers()])
    # --bits on a model file calibrates on the profiled data
    rc = main(["profile", str(files / "jet.keras"), "--data", str(files / "x.npy"), "-o", str(tmp_path / "r8"),
               "--bits", "8"])  # fmt: skip
    assert rc == 0 and "calibration: 8 bits, margin 1" in (tmp_path / "r8" / "summary.md").read_text()
    rc = main(["profile", str(tmp_path / "prj"), "--data", str(files / "y.npy"), "-o", str(tmp_path / "bad")])
    err = capsys.readouterr().err
    assert rc == 2 and "y.npy: shape (1000,) does not fit the model" in err
