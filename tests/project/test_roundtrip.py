"""The written nn2fpga.yml records every decision: converting again with it gives the same project, byte
for byte (firmware, weights, IR, report, host driver, Triton repository and the config itself)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

import nn2fpga  # noqa: E402
from nn2fpga.datasets import calibrate_batchnorm, jet_tagger  # noqa: E402

pytestmark = pytest.mark.keras
L = keras.layers


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_round_trip(model, config, tmp_path: Path) -> nn2fpga.project.Project:
    first = nn2fpga.convert(model, config=config, output_dir=tmp_path / "first")
    again = nn2fpga.convert(model, config=first.path / "nn2fpga.yml", output_dir=tmp_path / "again")
    a, b = _files(first.path), _files(again.path)
    assert sorted(a) == sorted(b)
    differ = [name for name in a if a[name] != b[name]]
    assert not differ, f"files differ after converting with the written config: {differ[:5]}"
    return first


def _small_cnn():
    i = keras.Input((20, 20, 3))
    a = L.Conv2D(8, 3, padding="same", activation="relu")(i)
    b = L.BatchNormalization()(L.Conv2D(8, 3, padding="same")(a))
    x = L.MaxPooling2D(2)(L.Activation("relu")(L.Add()([a, b])))
    return keras.Model(i, L.Dense(3, activation="softmax")(L.Flatten()(x)))


def test_jet_tagger_round_trip(tmp_path) -> None:
    first = assert_round_trip(jet_tagger(epochs=1, n_train=500), {"Model": {"ReuseFactor": 1}}, tmp_path)
    assert first.graph.io_type == "io_parallel"


def test_small_cnn_io_stream_round_trip(tmp_path) -> None:
    model = _small_cnn()
    first = assert_round_trip(model, {"IOType": "io_stream", "Model": {"Precision": "ap_fixed<18,8>"}}, tmp_path)
    assert "IOType: io_stream" in (first.path / "nn2fpga.yml").read_text()
    assert any(max(layer.fifo_depths, default=0) > 2 for layer in first.graph.layers())  # the skip's deeper FIFO


def test_resnet50_round_trip(tmp_path) -> None:
    model = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=2)
    calibrate_batchnorm(model, np.random.default_rng(1).normal(size=(4, 64, 64, 3)))
    first = assert_round_trip(model, None, tmp_path)
    text = (first.path / "nn2fpga.yml").read_text()
    assert "IOType: io_stream" in text and "WeightLiterals: at_build" in text  # auto decisions, recorded
