"""The headline model: keras.applications.ResNet50 (same architecture, small 64x64 input) end to end."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

import nn2fpga  # noqa: E402
from nn2fpga.datasets import calibrate_batchnorm  # noqa: E402
from nn2fpga.testing import assert_close_to_keras, assert_csim_matches_reference  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.csim]

# 22-bit results and weights: the 2048-wide featurizer then stays within cosine 0.999 of float Keras.
CONFIG = {"Model": {"Precision": {"result": "ap_fixed<22,7>", "weight": "ap_fixed<22,2>", "bias": "ap_fixed<22,7>"}}}


@pytest.fixture(scope="module")
def resnet():
    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=2)
    calibrate_batchnorm(model, np.random.default_rng(1).normal(size=(8, 64, 64, 3)))
    return model


@pytest.fixture(scope="module")
def project(resnet, tmp_path_factory):
    return nn2fpga.convert(resnet, config=CONFIG, output_dir=tmp_path_factory.mktemp("resnet") / "prj")


def test_resnet50_csim_is_bit_exact(project) -> None:
    x = np.random.default_rng(2).normal(size=(3, 64, 64, 3))
    assert_csim_matches_reference(project, x)


def test_resnet50_reference_matches_keras(project, resnet) -> None:
    x = np.random.default_rng(3).normal(size=(4, 64, 64, 3))
    assert_close_to_keras(project, resnet, x)
    featurizer = keras.Model(resnet.inputs, resnet.get_layer("avg_pool").output)
    ours = project.trace(x)["avg_pool"].reshape(len(x), -1)
    theirs = featurizer.predict(x, verbose=0).reshape(len(x), -1)
    cosine = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    assert ours.shape[1] == 2048
    assert cosine.min() >= 0.999, cosine


def test_resnet50_structure(project) -> None:
    kinds = [layer.kind for layer in project.graph.layers()]
    # every BatchNorm folded, every ReLU after a conv fused; the stem's padding folded into conv1
    assert "BatchNorm" not in kinds and kinds.count("Conv2D") == 53 and kinds.count("Add") == 16
    assert project.graph["conv1_conv"].padding == (3, 3, 3, 3)
    cpp = (project.path / "firmware" / f"{project.name}.cpp").read_text()
    assert "#pragma HLS DATAFLOW" in cpp and cpp.count("n2f::fork_stream") == 16
