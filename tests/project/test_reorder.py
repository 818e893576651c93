"""Cropping1D/2D and UpSampling1D/2D (nearest) as the pixel re-orderings Crop2D and UpSample2D, Permute as a
Transpose, PReLU with
one slope per channel, and average pooling with padding='same' (the divisor counts the taps inside the input)
(issue 14). Both IO types, 1,000 random inputs at ap_fixed<20,8>: csim == reference bit
for bit, the reference within the derived error bound of Keras; the io_stream cycle counts of the bounded-FIFO
simulation equal the cycle model's."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

import nn2fpga  # noqa: E402
from nn2fpga.estimate.cycles import comparison, cycle_model, table  # noqa: E402
from nn2fpga.ir.errors import ModelError  # noqa: E402
from nn2fpga.testing import assert_csim_matches_reference, error_bound  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.csim]
L = keras.layers
SLOPES = keras.initializers.RandomUniform(-0.5, 1.5, seed=3)

MODELS = {  # (input shape, model body, the kinds it must compile to)
    "crop2d": ((9, 8, 3), lambda i: L.Conv2D(4, 3, name="c")(L.Cropping2D(((1, 2), (2, 0)))(i)), "Crop2D"),
    "upsample2d": ((5, 4, 3), lambda i: L.Conv2D(4, 3, name="c")(L.UpSampling2D((2, 3))(i)), "UpSample2D"),
    "crop1d": ((20, 4), lambda i: L.Conv1D(3, 3, name="c")(L.Cropping1D((3, 1))(i)), "Crop2D"),
    "upsample1d": ((10, 4), lambda i: L.Conv1D(3, 3, name="c")(L.UpSampling1D(3)(i)), "UpSample2D"),
    "prelu_conv": (
        (6, 6, 3),
        lambda i: L.PReLU(SLOPES, shared_axes=[1, 2])(L.Conv2D(5, 3, name="c")(i)),
        "PReLU",
    ),
    "avgpool_same": ((7, 7, 3), lambda i: L.AveragePooling2D(3, 2, padding="same")(L.Conv2D(4, 1)(i)), "Pool2D"),
    "avgpool1d_same": ((15, 4), lambda i: L.AveragePooling1D(4, 3, padding="same")(i), "Pool2D"),
    "permute_hw": ((6, 5, 4), lambda i: L.Conv2D(3, 3, name="c")(L.Permute((2, 1, 3))(i)), "Transpose"),
    "permute_chw": (
        (6, 5, 4),
        lambda i: L.Conv2D(3, 3, name="c")(L.Permute((3, 1, 2))(L.Conv2D(4, 1)(i))),
        "Transpose",
    ),
    "permute1d": ((10, 4), lambda i: L.Conv1D(3, 3, name="c")(L.Permute((2, 1))(i)), "Transpose"),
    "prelu_dense": ((16,), lambda i: L.PReLU(SLOPES)(L.Dense(12, name="d")(i)), "PReLU"),
}


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
@pytest.mark.parametrize("case", sorted(MODELS))
def test_kind(case: str, io_type: str) -> None:
    shape, body, kind = MODELS[case]
    keras.utils.set_random_seed(1)
    i = keras.Input(shape, name="x")
    model = keras.Model(i, L.Flatten()(body(i)) if len(shape) > 1 else body(i))
    _check(model, np.random.default_rng(0).normal(scale=2, size=(1000, *shape)), kind, io_type)


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_embedding(io_type: str) -> None:
    """Indices of 12 particle kinds through a 50 x 8 table, then Conv1D: the input gets ap_uint<6>."""
    keras.utils.set_random_seed(4)
    i = keras.Input((12,), name="ids")
    model = keras.Model(i, L.Dense(3)(L.Flatten()(L.Conv1D(4, 3)(L.Embedding(50, 8, name="emb")(i)))))
    x = np.random.default_rng(0).integers(0, 50, size=(1000, 12)).astype(np.float64)
    project = _check(model, x, "Embedding", io_type)
    assert str(project.graph["ids"].types["result"]) == "ap_uint<6>"


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_dot(io_type: str) -> None:
    """Keras Dot of two 8-vectors (two Dense branches of one input), then a Dense."""
    keras.utils.set_random_seed(5)
    i = keras.Input((16,), name="x")
    dot = L.Dot(axes=1, name="dot")([L.Dense(8, name="a")(i), L.Dense(8, name="b")(i)])
    model = keras.Model(i, L.Dense(2, name="out")(dot))
    _check(model, np.random.default_rng(0).normal(scale=0.5, size=(1000, 16)), "Dot", io_type)


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_squeeze_excite(io_type: str) -> None:
    """A feature map times the per-channel vector its squeeze-and-excitation branch computes (Keras Multiply
    broadcasting (1, 1, C) over the map, as MobileNetV3 and EfficientNet do): ChannelScale; in io_stream the
    map's stream holds the whole map while the branch pools it (deadlock-free, the bounded simulation says)."""
    keras.utils.set_random_seed(6)
    i = keras.Input((6, 6, 3), name="x")
    fmap = L.Conv2D(8, 3, padding="same", name="c")(i)
    se = L.Conv2D(8, 1, activation="sigmoid", name="e")(L.Conv2D(4, 1, activation="relu")(
        L.GlobalAveragePooling2D(keepdims=True)(fmap)))  # fmt: skip
    model = keras.Model(i, L.Flatten()(L.Multiply(name="m")([fmap, se])))
    _check(model, np.random.default_rng(0).normal(size=(1000, 6, 6, 3)), "ChannelScale", io_type)


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_keras_ops_calls(io_type: str) -> None:
    """MobileNetV3's hard_sigmoid written with operators (relu6(x + 3) * (1 / 6)) and a tensor product x * y:
    BatchNorm layers of their own (or folded into the Dense) and a Multiply."""
    keras.utils.set_random_seed(7)
    i = keras.Input((16,), name="x")
    d = L.Dense(8, name="d")(i)
    gate = L.ReLU(6.0)(d + 3.0) * (1.0 / 6.0)
    model = keras.Model(i, L.Dense(3, name="out")(d * gate - 0.5))
    project = _check(model, np.random.default_rng(0).normal(size=(1000, 16)), "BatchNorm", io_type)
    assert "Add" in [layer.kind for layer in project.graph.layers()]


def _check(model, x: np.ndarray, kind: str, io_type: str) -> nn2fpga.Project:
    project = nn2fpga.convert(model, config={"Model": {"Precision": "ap_fixed<20,8>"}, "IOType": io_type})
    assert kind in [layer.kind for layer in project.graph.layers()]
    assert_csim_matches_reference(project, x)
    ours, theirs = project.predict(x, backend="reference"), model.predict(x, verbose=0)
    bound = error_bound(project.graph, x)
    assert np.all(np.abs(ours - theirs) <= bound + 1e-6), float(np.max(np.abs(ours - theirs) - bound))
    assert np.mean(bound) < 0.05
    if io_type == "io_stream":  # every process counted by the bounded simulation as the cycle model says
        run = project.simulate(x[:2])
        assert not run.deadlock, run.deadlock
        model = cycle_model(project.graph, project.name, project.config.clock_period)
        rows = comparison(model, run.trips())
        assert all(r["agrees"] is not False for r in rows), table(model, run.trips())
        assert {p.name for p in model.processes if p.counted} <= run.counts.keys()
    return project


def test_errors_name_the_layer_and_option() -> None:
    i = keras.Input((6, 6, 3), name="x")
    per_position = keras.Model(i, L.PReLU(SLOPES, name="p")(i))
    with pytest.raises(ModelError, match=r"'p' \(PReLU\): .*one per channel: shared_axes=\[1, 2\]"):
        nn2fpga.convert(per_position)
    ids = keras.Input((5,), name="ids")
    masked = keras.Model(ids, L.Embedding(10, 4, mask_zero=True, name="e")(ids))
    with pytest.raises(ModelError, match=r"'e' \(Embedding\): mask_zero=True is not supported"):
        nn2fpga.convert(masked)
    normalized = keras.Model(i, L.Dot(axes=1, normalize=True, name="d")([L.Flatten()(i), L.Flatten()(i)]))
    with pytest.raises(ModelError, match=r"'d' \(Dot\): normalize=True is not supported"):
        nn2fpga.convert(normalized)
    bilinear = keras.Model(i, L.UpSampling2D(interpolation="bilinear", name="u")(i))
    with pytest.raises(ModelError, match=r"'u' \(UpSampling2D\): interpolation='bilinear' is not supported"):
        nn2fpga.convert(bilinear)
