"""The 1-D layers (Conv1D, DepthwiseConv1D, SeparableConv1D, Max/AveragePooling1D, Global pooling 1D,
ZeroPadding1D, causal padding) as the 2-D layers on a one-row view, and SeparableConv2D as a depthwise and a
pointwise convolution (issue 14). Both IO types, 1,000 random inputs at ap_fixed<20,8>: csim == reference bit
for bit, the reference within the derived error bound of Keras."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

import nn2fpga  # noqa: E402
from nn2fpga.ir.errors import ModelError  # noqa: E402
from nn2fpga.testing import assert_csim_matches_reference, error_bound  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.csim]
L = keras.layers


MODELS = {
    "conv1d": lambda i: L.Flatten()(L.Conv1D(3, 3, padding="same", activation="relu", name="c")(L.Conv1D(5, 3)(i))),
    "conv1d_causal": lambda i: L.GlobalAveragePooling1D()(L.Conv1D(3, 3, padding="causal", name="c")(i)),
    "depthwise1d": lambda i: L.GlobalMaxPooling1D()(L.DepthwiseConv1D(3, strides=2, name="c")(i)),
    "separable1d": lambda i: L.Flatten()(L.SeparableConv1D(6, 3, activation="tanh", name="c")(i)),
    "pools1d": lambda i: L.Flatten()(
        L.AveragePooling1D(2)(L.MaxPooling1D(3, strides=2, padding="same")(L.ZeroPadding1D((1, 2))(i)))
    ),
}
MODELS_2D = {
    "separable2d": lambda i: L.GlobalAveragePooling2D()(
        L.SeparableConv2D(4, 3, padding="same", strides=2, activation="relu", name="c")(i)
    ),
}


def _check(model, io_type: str) -> nn2fpga.Project:
    x = np.random.default_rng(0).normal(size=(1000, *model.input_shape[1:]))
    project = nn2fpga.convert(model, config={"Model": {"Precision": "ap_fixed<20,8>"}, "IOType": io_type})
    assert_csim_matches_reference(project, x)
    ours, theirs = project.predict(x, backend="reference"), model.predict(x, verbose=0)
    bound = error_bound(project.graph, x)
    assert np.all(np.abs(ours - theirs) <= bound + 1e-6), float(np.max(np.abs(ours - theirs) - bound))
    assert np.mean(bound) < 0.05
    return project


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
@pytest.mark.parametrize("case", sorted(MODELS))
def test_1d_layers(case: str, io_type: str) -> None:
    keras.utils.set_random_seed(1)
    i = keras.Input((20, 4), name="x")
    project = _check(keras.Model(i, MODELS[case](i)), io_type)
    kinds = [layer.kind for layer in project.graph.layers()]
    assert kinds.count("Reshape") <= 2  # into rows once, out at the end: none left between 1-D layers
    assert "ZeroPad2D" not in kinds or case == "pools1d"  # causal padding is folded into the convolution


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_separable_conv2d(io_type: str) -> None:
    keras.utils.set_random_seed(2)
    i = keras.Input((8, 8, 3), name="x")
    project = _check(keras.Model(i, MODELS_2D["separable2d"](i)), io_type)
    dw, pw = project.graph["c_depthwise"], project.graph["c"]
    assert (dw.kind, dw.bias, dw.strides, pw.kind, pw.kernel, pw.activation) == (
        "DepthwiseConv2D", None, (2, 2), "Conv2D", (1, 1), "relu"
    )  # fmt: skip


def test_1d_errors_name_the_layer_and_option() -> None:
    i = keras.Input((20, 4), name="x")
    dilated = keras.Model(i, L.Flatten()(L.Conv1D(2, 3, dilation_rate=2, name="c")(i)))
    with pytest.raises(ModelError, match=r"'c' \(Conv1D\): dilation_rate"):
        nn2fpga.convert(dilated)
    multiplier = keras.Model(i, L.Flatten()(L.SeparableConv1D(2, 3, depth_multiplier=2, name="s")(i)))
    with pytest.raises(ModelError, match=r"'s' \(SeparableConv1D\): depth_multiplier=2 is not supported"):
        nn2fpga.convert(multiplier)
