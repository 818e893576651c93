"""End to end: Keras model -> project -> csim == reference (bit for bit) and reference ~ Keras."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

import nn2fpga  # noqa: E402
from nn2fpga.datasets import jet_features, jet_tagger  # noqa: E402
from nn2fpga.testing import assert_close_to_keras, assert_csim_matches_reference  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.csim]


@pytest.fixture(scope="module")
def tagger():
    return jet_tagger(epochs=6)


def test_jet_tagger_default_settings(tagger, tmp_path) -> None:
    x, _ = jet_features(10_000, seed=7)
    project = nn2fpga.convert(tagger, output_dir=tmp_path / "prj")
    assert_csim_matches_reference(project, x)
    assert_close_to_keras(project, tagger, x)
    y = project.predict(x)
    k = tagger.predict(x, verbose=0)
    # hls4ml's defaults return a constant 0.2 from this softmax; ours must classify like Keras.
    assert np.ptp(y, axis=0).min() > 0.5
    assert (y.argmax(1) == k.argmax(1)).mean() >= 0.99


def _random_dense(depth: int, width: int, activation: str, batchnorm: bool, seed: int):
    rng = np.random.default_rng(seed)
    layers = [keras.Input((int(rng.integers(1, 24)),))]
    for i in range(depth):
        units = int(rng.integers(1, width + 1))
        layers.append(keras.layers.Dense(units, name=f"d{i}"))
        if batchnorm:
            layers.append(keras.layers.BatchNormalization(name=f"bn{i}"))
        layers.append(keras.layers.Activation(activation, name=f"a{i}"))
    model = keras.Sequential(layers)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights(
                [rng.uniform(0.5, 1.5, n), rng.normal(0, 0.2, n), rng.normal(0, 0.2, n), rng.uniform(0.5, 2.0, n)]
            )
    return model


# network shape
@pytest.mark.parametrize(("depth", "width"), [(1, 1), (2, 16), (3, 64), (6, 32), (2, 128)])
# activation
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid", "tanh", "softmax", "hard_sigmoid", "linear"])
def test_random_dense_networks(depth: int, width: int, activation: str, tmp_path) -> None:
    seed = depth * 1000 + width
    model = _random_dense(depth, width, activation, batchnorm=depth % 2 == 0, seed=seed)
    # precision and folding vary with the case so that every combination is covered across the grid
    precision = [
        "ap_fixed<8,3>",
        "ap_fixed<12,4,AP_RND,AP_SAT>",
        "ap_fixed<16,6>",
        "ap_fixed<18,8,AP_RND_CONV,AP_SAT>",
        "ap_fixed<24,10>",
    ][(depth + width) % 5]
    strategy = ["Latency", "Resource"][width % 2]
    config = {"Model": {"Precision": precision, "Strategy": strategy, "ReuseFactor": 1}}
    project = nn2fpga.convert(model, config=config)
    dense = [lay for lay in project.graph.layers() if lay.kind == "Dense"]
    rf = max(r for r in (1, 2, 4) if all(d.n_multiplications % r == 0 for d in dense))
    config["Model"]["ReuseFactor"] = rf
    project = nn2fpga.convert(model, config=config, output_dir=tmp_path / "prj")
    x = np.random.default_rng(seed).uniform(-2, 2, (10_000, model.input_shape[-1]))
    assert_csim_matches_reference(project, x)
    # the Keras bound holds without saturation: keep the inputs well inside narrow types' range
    headroom = min(1.0, project.graph.inputs()[0].types["result"].max / 16)
    assert_close_to_keras(project, model, x[:2000] * headroom)
