"""CNNs end to end: the graph conversion makes of each (layers, options, shapes, edges), csim == reference bit
for bit, reference ~ Keras within the derived bound."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

from small_cnns import branches, depthwise, pools, strided, three_way_add  # noqa: E402

import nn2fpga  # noqa: E402
from nn2fpga.ir.errors import ModelError  # noqa: E402
from nn2fpga.ir.graph import Graph  # noqa: E402
from nn2fpga.testing import assert_close_to_keras, assert_csim_matches_reference  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.csim]
L = keras.layers


# the options the frontend and the passes decide, shown where a layer has them
OPTIONS = ("kernel", "strides", "padding", "pool", "op", "activation", "fn")


def _layout(graph: Graph) -> list[str]:
    """One line per layer in graph order: name, kind, options, output shape and inputs. Compared whole, so
    a layer that conversion got wrong (padding, a fold, a fusion, a shape) shows in the diff by name."""
    lines = []
    for layer in graph:
        options = [f"{o}={getattr(layer, o)}" for o in OPTIONS if hasattr(layer, o)]
        inputs = [p.name for p in graph.producers(layer.name)]
        lines.append(
            " ".join([layer.name, layer.kind, *options, str(layer.shape), *(["<-", *inputs] if inputs else [])])
        )
    return lines


STRIDED = [  # 'same' at stride 2 pads only the bottom and right
    "x Input (12, 10, 3)",
    "c1 Conv2D kernel=(3, 3) strides=(2, 2) padding=(0, 1, 0, 1) activation=relu (6, 5, 6) <- x",
    "c2 Conv2D kernel=(3, 2) strides=(1, 2) padding=(0, 0, 0, 0) activation=linear (4, 2, 4) <- c1",
    "flat Reshape (32,) <- c2",
]


DEPTHWISE = [
    "x Input (12, 10, 3)",
    "d1 DepthwiseConv2D kernel=(3, 3) strides=(1, 1) padding=(1, 1, 1, 1) activation=relu (12, 10, 3) <- x",
    "d2 DepthwiseConv2D kernel=(2, 2) strides=(2, 2) padding=(0, 0, 0, 0) activation=linear (6, 5, 3) <- d1",
    "gap GlobalPool2D op=avg (3,) <- d2",
]


POOLS = [  # the ZeroPad2D stays: it folds into a convolution only
    "x Input (12, 10, 3)",
    "c Conv2D kernel=(1, 1) strides=(1, 1) padding=(0, 0, 0, 0) activation=linear (12, 10, 5) <- x",
    "mp1 Pool2D strides=(2, 2) padding=(0, 1, 0, 1) pool=(3, 3) op=max (6, 5, 5) <- c",
    "ap Pool2D strides=(2, 2) padding=(0, 0, 0, 0) pool=(2, 2) op=avg (3, 2, 5) <- mp1",
    "zp ZeroPad2D padding=(1, 0, 2, 1) (4, 5, 5) <- ap",
    "mp2 Pool2D strides=(2, 2) padding=(0, 0, 0, 0) pool=(2, 2) op=max (2, 2, 5) <- zp",
    "gmp GlobalPool2D op=max (5,) <- mp2",
]


BRANCHES = [  # bn folded into b, relu fused into sum; the softmax stays a layer of its own
    "x Input (12, 10, 3)",
    "a Conv2D kernel=(3, 3) strides=(1, 1) padding=(1, 1, 1, 1) activation=relu (12, 10, 4) <- x",
    "b Conv2D kernel=(3, 3) strides=(1, 1) padding=(1, 1, 1, 1) activation=linear (12, 10, 4) <- a",
    "sum Add op=add activation=relu (12, 10, 4) <- a b",
    "c Conv2D kernel=(1, 1) strides=(1, 1) padding=(0, 0, 0, 0) activation=linear (12, 10, 3) <- a",
    "cat Concatenate (12, 10, 7) <- sum c",
    "mp Pool2D strides=(2, 2) padding=(0, 0, 0, 0) pool=(2, 2) op=max (6, 5, 7) <- cat",
    "flat Reshape (210,) <- mp",
    "fc Dense activation=linear (3,) <- flat",
    "fc_softmax Activation fn=softmax (3,) <- fc",
]


THREE_WAY_ADD = [
    "x Input (12, 10, 3)",
    "a Conv2D kernel=(1, 1) strides=(1, 1) padding=(0, 0, 0, 0) activation=linear (12, 10, 4) <- x",
    "b Conv2D kernel=(3, 3) strides=(1, 1) padding=(1, 1, 1, 1) activation=linear (12, 10, 4) <- x",
    "c Conv2D kernel=(5, 5) strides=(1, 1) padding=(2, 2, 2, 2) activation=linear (12, 10, 4) <- x",
    "sum Add op=add activation=linear (12, 10, 4) <- a b c",
    "gap GlobalPool2D op=avg (4,) <- sum",
]


# architecture
@pytest.mark.parametrize(
    ("build", "layout"),
    [
        (strided, STRIDED),
        (depthwise, DEPTHWISE),
        (pools, POOLS),
        (branches, BRANCHES),
        (three_way_add, THREE_WAY_ADD),
    ],
    ids=["strided", "depthwise", "pools", "branches", "three_way_add"],
)
def test_small_cnns(build: Callable[[keras.KerasTensor], keras.KerasTensor], layout: list[str], tmp_path: Path) -> None:
    keras.utils.set_random_seed(3)
    i = keras.Input((12, 10, 3), name="x")
    model = keras.Model(i, build(i))
    x = np.random.default_rng(0).normal(size=(20, 12, 10, 3))
    # io_stream pinned: these maps are small enough for the io_parallel default (tests/codegen/test_cnn_parallel.py)
    config = {"IOType": "io_stream", "Model": {"Precision": "ap_fixed<18,8>"}}
    project = nn2fpga.convert(model, config=config, output_dir=tmp_path / "p")
    assert _layout(project.graph) == layout
    assert_csim_matches_reference(project, x)
    assert_close_to_keras(project, model, x)


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (L.Conv2D(2, 3, dilation_rate=2, name="dil"), "'dil' (Conv2D): dilation_rate"),
        (L.Conv2D(4, 3, groups=2, name="grp"), "'grp' (Conv2D): groups=2"),
        (L.DepthwiseConv2D(3, depth_multiplier=2, name="dm"), "'dm' (DepthwiseConv2D): depth_multiplier=2"),
        (L.UpSampling2D(interpolation="bilinear", name="up"), "'up' (UpSampling2D): interpolation='bilinear'"),
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
