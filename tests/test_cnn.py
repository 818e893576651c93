"""CNNs end to end: csim == reference bit for bit, reference ~ Keras within the derived bound."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

import nn2fpga  # noqa: E402
from nn2fpga.ir.errors import ModelError  # noqa: E402
from nn2fpga.testing import assert_close_to_keras, assert_csim_matches_reference  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.csim]
L = keras.layers


def _strided(i):
    x = L.Conv2D(6, 3, strides=2, padding="same", activation="relu")(i)
    x = L.Conv2D(4, (3, 2), strides=(1, 2), padding="valid")(x)
    return L.Flatten()(x)


def _depthwise(i):
    x = L.DepthwiseConv2D(3, padding="same", activation="relu")(i)
    x = L.DepthwiseConv2D(2, strides=2)(x)
    return L.GlobalAveragePooling2D()(x)


def _pools(i):
    x = L.Conv2D(5, 1)(i)
    x = L.MaxPooling2D(3, strides=2, padding="same")(x)
    x = L.AveragePooling2D(2)(x)
    x = L.ZeroPadding2D(((1, 0), (2, 1)))(x)
    x = L.MaxPooling2D(2)(x)
    return L.GlobalMaxPooling2D()(x)


def _branches(i):
    a = L.Conv2D(4, 3, padding="same", activation="relu")(i)
    b = L.Conv2D(4, 3, padding="same")(a)
    b = L.BatchNormalization()(b)
    s = L.Activation("relu")(L.Add()([a, b]))
    c = L.Concatenate()([s, L.Conv2D(3, 1)(a)])
    x = L.MaxPooling2D(2)(c)
    return L.Dense(3, activation="softmax")(L.Flatten()(x))


def _three_way_add(i):
    a = L.Conv2D(4, 1)(i)
    b = L.Conv2D(4, 3, padding="same")(i)
    c = L.Conv2D(4, 5, padding="same")(i)
    return L.GlobalAveragePooling2D()(L.Add()([a, b, c]))


# architecture
@pytest.mark.parametrize("build", [_strided, _depthwise, _pools, _branches, _three_way_add], ids=lambda f: f.__name__)
def test_small_cnns(build, tmp_path) -> None:
    keras.utils.set_random_seed(3)
    i = keras.Input((12, 10, 3))
    model = keras.Model(i, build(i))
    x = np.random.default_rng(0).normal(size=(20, 12, 10, 3))
    # io_stream pinned: these maps are small enough for the io_parallel default (tests/test_cnn_parallel.py)
    config = {"IOType": "io_stream", "Model": {"Precision": "ap_fixed<18,8>"}}
    project = nn2fpga.convert(model, config=config, output_dir=tmp_path / "p")
    assert project.graph.layers()  # converted
    assert_csim_matches_reference(project, x)
    assert_close_to_keras(project, model, x)


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (L.Conv2D(2, 3, dilation_rate=2, name="dil"), "'dil' (Conv2D): dilation_rate"),
        (L.Conv2D(4, 3, groups=2, name="grp"), "'grp' (Conv2D): groups=2"),
        (L.DepthwiseConv2D(3, depth_multiplier=2, name="dm"), "'dm' (DepthwiseConv2D): depth_multiplier=2"),
        (L.AveragePooling2D(3, strides=2, padding="same", name="ap"), "'ap' (AveragePooling2D)"),
    ],
)
def test_unsupported_options_name_layer_and_option(layer, message: str) -> None:
    i = keras.Input((8, 8, 4))
    with pytest.raises(ModelError, match=message.replace("(", r"\(").replace(")", r"\)")):
        nn2fpga.convert(keras.Model(i, layer(i)))


def test_channels_first_is_refused() -> None:
    model = keras.Sequential([keras.Input((3, 8, 8)), L.Conv2D(2, 3, data_format="channels_first", name="cf")])
    with pytest.raises(ModelError, match="'cf' \\(Conv2D\\): data_format='channels_first'"):
        nn2fpga.convert(model)
