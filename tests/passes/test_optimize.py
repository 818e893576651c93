"""The optimize passes against the float64 interpreter: each graph is evaluated before and after the pass.

Every graph holds several matches, so a pass that returns True and then False on the next sweep
shows it rewrote all of them in one sweep. The guard graphs hold only layers a pass must keep.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from nn2fpga.config import Config
from nn2fpga.ir.graph import Graph, walk
from nn2fpga.ir.interpret import float_execute
from nn2fpga.ir.layers import (
    Activation,
    Add,
    BatchNorm,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Input,
    Pool2D,
    Reshape,
    ZeroPad2D,
)
from nn2fpga.ir.types import FixedType
from nn2fpga.passes.manager import run_flows
from nn2fpga.passes.optimize import fold_batchnorm, fold_zeropad, fuse_activation, remove_noops

RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 6, 6, 3))  # a batch of three 6x6 RGB images


def conv(name: str, c_in: int, c_out: int, k: int = 3, shape: tuple[int, ...] = (6, 6), **fields: object) -> Conv2D:
    """A conv with random weights and bias; `padding` defaults to Keras 'same' for stride 1."""
    fields.setdefault("padding", (k // 2,) * 4)
    weight, bias = RNG.normal(size=(k, k, c_in, c_out)), RNG.normal(size=c_out)
    return Conv2D(name, shape=(*shape, c_out), weight=weight, bias=bias, **fields)


def bn(name: str, shape: tuple[int, ...]) -> BatchNorm:
    return BatchNorm(name, shape=shape, scale=RNG.uniform(0.5, 2.0, shape[-1]), bias=RNG.normal(size=shape[-1]))


def evaluate(g: Graph, x: np.ndarray = X) -> list[np.ndarray]:
    """float64 values of the graph outputs, in output order."""
    values = {layer.name: out for layer, out in walk(g, {"x": x}, float_execute) if g.is_output(layer.name)}
    return [values[o] for o in g.outputs]


def kinds(g: Graph) -> list[str]:
    return [layer.kind + (f"({layer.fn})" if isinstance(layer, Activation) else "") for layer in g.layers()]


def apply(p: Callable[[Graph, object], bool], g: Graph) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Run `p` once (one sweep) on `g`; it must change the graph and leave nothing for a second sweep."""
    before = evaluate(g)
    assert p(g, Config()) is True
    assert p(g, Config()) is False  # one sweep rewrote every match
    g.lint()
    return before, evaluate(g)


def test_fold_batchnorm_folds_every_match_in_one_sweep() -> None:
    g = Graph()
    g.add(Input("x", shape=(6, 6, 3)))
    g.add(conv("c1", 3, 4), ["x"])
    g.add(bn("bn1", (6, 6, 4)), ["c1"])
    g.add(bn("bn1b", (6, 6, 4)), ["bn1"])  # two in a row fold into c1 in the same sweep
    g.add(DepthwiseConv2D("d1", shape=(6, 6, 4), weight=RNG.normal(size=(3, 3, 4, 1)), padding=(1, 1, 1, 1)), ["bn1b"])
    g.add(bn("bn2", (6, 6, 4)), ["d1"])  # a depthwise filter without bias: bias = BN bias
    g.add(Reshape("flat", shape=(144,)), ["bn2"])
    g.add(Dense("fc", shape=(5,), weight=RNG.normal(size=(144, 5))), ["flat"])
    g.add(bn("bn3", (5,)), ["fc"])
    g.outputs = ["bn3"]
    g["c1"].fixed = {"weight": FixedType(8, 2)}  # as a QKeras quantizer fixes it
    before, after = apply(fold_batchnorm, g)
    assert kinds(g) == ["Input", "Conv2D", "DepthwiseConv2D", "Reshape", "Dense"] and g.outputs == ["fc"]
    assert g["c1"].fixed == {}  # a folded weight is no longer on its quantizer's grid
    np.testing.assert_allclose(after[0], before[0], rtol=1e-12, atol=1e-12 * np.abs(before[0]).max())


def _fan_out(g: Graph) -> None:
    g.add(Add("add", shape=(6, 6, 4)), ["bn", "c"])  # c feeds the BatchNorm and the Add
    g.outputs = ["add"]


def _nonlinear(g: Graph) -> None:
    g["c"].activation = "relu"  # bn(relu(x)) is not a linear map of x


def _quantized(g: Graph) -> None:
    g["c"].fixed = {"result": FixedType(8, 4)}  # the producer's cast sits between conv and BatchNorm


def _output(g: Graph) -> None:
    g.outputs = ["bn", "c"]  # the unscaled values are wanted too


@pytest.mark.parametrize("guard", [_fan_out, _nonlinear, _quantized, _output])
def test_fold_batchnorm_guards(guard: Callable[[Graph], None]) -> None:
    g = Graph()
    g.add(Input("x", shape=(6, 6, 3)))
    g.add(conv("c", 3, 4), ["x"])
    g.add(bn("bn", (6, 6, 4)), ["c"])
    g.outputs = ["bn"]
    guard(g)
    weight = g["c"].weight
    assert fold_batchnorm(g, Config()) is False
    assert "bn" in g and g["c"].weight is weight


def test_fuse_activation_fuses_every_relu_in_one_sweep() -> None:
    g = Graph()
    g.add(Input("x", shape=(6, 6, 3)))
    g.add(conv("c1", 3, 4), ["x"])
    g.add(Activation("r1", shape=(6, 6, 4), fn="relu"), ["c1"])
    g.add(conv("c2", 4, 4), ["r1"])
    g.add(Activation("r2", shape=(6, 6, 4), fn="relu"), ["c2"])
    g.add(Add("add", shape=(6, 6, 4)), ["r2", "r1"])  # r1 feeds two layers; c1 feeds only r1
    g.add(Activation("r3", shape=(6, 6, 4), fn="relu"), ["add"])
    g.add(Reshape("flat", shape=(144,)), ["r3"])
    g.add(Dense("fc", shape=(5,), weight=RNG.normal(size=(144, 5))), ["flat"])
    g.add(Activation("r4", shape=(5,), fn="relu"), ["fc"])
    g.outputs = ["r4"]
    relus = {name: g[name] for name in ("r1", "r2", "r3", "r4")}
    before, after = apply(fuse_activation, g)
    assert "Activation(relu)" not in kinds(g) and g.outputs == ["fc"]
    for host, act in zip(("c1", "c2", "add", "fc"), relus.values()):
        assert g[host].activation == "relu" and g[host].fused is act  # its result precision still applies
    np.testing.assert_array_equal(after[0], before[0])  # the same float operations: bit for bit


def test_fuse_activation_guards() -> None:
    g = Graph()
    g.add(Input("x", shape=(6, 6, 3)))
    g.add(conv("c1", 3, 4), ["x"])
    g.add(Activation("fan_out", shape=(6, 6, 4), fn="relu"), ["c1"])
    g.add(Activation("tanh", shape=(6, 6, 4), fn="tanh"), ["c1"])  # c1 feeds two layers
    g.add(Pool2D("pool", shape=(3, 3, 4)), ["tanh"])
    g.add(Activation("after_pool", shape=(3, 3, 4), fn="relu"), ["pool"])  # a pool is not a linear sum
    g.add(conv("c2", 4, 4, shape=(3, 3), activation="relu"), ["after_pool"])
    g.add(Activation("double", shape=(3, 3, 4), fn="relu"), ["c2"])  # c2 already applies a ReLU
    g.add(conv("c3", 4, 4, shape=(3, 3)), ["double"])
    g.add(Activation("of_output", shape=(3, 3, 4), fn="relu"), ["c3"])
    g.outputs = ["fan_out", "of_output", "c3"]
    assert fuse_activation(g, Config()) is False
    assert kinds(g).count("Activation(relu)") == 4


def test_remove_noops_removes_every_linear_activation() -> None:
    g = Graph()
    g.add(Input("x", shape=(6, 6, 3)))
    g.add(Activation("lin1", shape=(6, 6, 3)), ["x"])
    g.add(conv("c1", 3, 4), ["lin1"])
    g.add(Activation("lin2", shape=(6, 6, 4)), ["c1"])
    g.add(Activation("lin3", shape=(6, 6, 4)), ["lin2"])
    g.add(Activation("cast", shape=(6, 6, 4), fixed={"result": FixedType(8, 4)}), ["c1"])  # a quantizer stays
    g.outputs = ["lin3", "cast"]
    before, after = apply(remove_noops, g)
    assert kinds(g) == ["Input", "Conv2D", "Activation(linear)"] and g.outputs == ["c1", "cast"]
    for a, b in zip(after, before):
        np.testing.assert_array_equal(a, b)


def test_fold_zeropad_folds_chains_and_fan_out_in_one_sweep() -> None:
    g = Graph()
    g.add(Input("x", shape=(6, 6, 3)))
    g.add(ZeroPad2D("p1", shape=(8, 8, 3), padding=(1, 1, 1, 1)), ["x"])
    g.add(ZeroPad2D("p2", shape=(9, 9, 3), padding=(0, 1, 0, 1)), ["p1"])  # a chain folds whole
    g.add(conv("c1", 3, 2, shape=(7, 7), padding=(0, 0, 0, 0)), ["p2"])
    g.add(ZeroPad2D("p3", shape=(8, 8, 3), padding=(1, 1, 1, 1)), ["x"])
    g.add(conv("c2", 3, 2, padding=(0, 0, 0, 0)), ["p3"])
    g.add(conv("c3", 3, 2, shape=(3, 3), strides=(2, 2), padding=(1, 0, 1, 0)), ["p3"])  # pads add up
    g.add(ZeroPad2D("p4", shape=(8, 8, 3), padding=(1, 1, 1, 1)), ["x"])
    g.add(Pool2D("pool", shape=(4, 4, 3)), ["p4"])  # max pooling pads with -inf, not zeros: p4 stays
    g.outputs = ["c1", "c2", "c3", "pool"]
    before, after = apply(fold_zeropad, g)
    assert [layer.name for layer in g.layers() if isinstance(layer, ZeroPad2D)] == ["p4"]
    assert (g["c1"].padding, g["c2"].padding, g["c3"].padding) == ((1, 2, 1, 2), (1, 1, 1, 1), (2, 1, 2, 1))
    for a, b in zip(after, before):
        np.testing.assert_array_equal(a, b)


@pytest.mark.keras
@pytest.mark.parametrize("name", ["ResNet101", "ResNet152"])
def test_optimize_flow_folds_every_batchnorm_and_relu_of_a_resnet(name: str) -> None:
    keras = pytest.importorskip("keras")
    from nn2fpga.frontend.keras import from_keras

    model = getattr(keras.applications, name)(weights=None, input_shape=(64, 64, 3), classes=10)
    graph = from_keras(model)
    del model
    relus = kinds(graph).count("Activation(relu)")
    out, _ = run_flows(graph, Config(), ("optimize",))
    left = kinds(out)
    assert "BatchNorm" not in left and "Activation(relu)" not in left
    # every ReLU now lives on in the conv or add before it
    assert sum(getattr(layer, "activation", "linear") == "relu" for layer in out.layers()) == relus >= 100
