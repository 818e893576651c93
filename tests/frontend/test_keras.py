"""Keras frontend: Keras 3 and tf_keras models, in memory and saved (.keras, .h5, SavedModel), to the IR.

Graphs are checked by structure (kinds, shapes, names, weights equal to Keras's) and by a float NumPy
evaluation compared with `model.predict`. Bad inputs must raise ModelError naming the file or layer.
TensorFlow is imported inside fixtures, so collecting this module with `-m "not keras"` stays fast.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nn2fpga.frontend.keras import from_keras, load_model
from nn2fpga.frontend.loading import ACCEPTED
from nn2fpga.ir.errors import ModelError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Activation, BatchNorm, Dense, Input, Layer, Reshape

pytestmark = pytest.mark.keras  # every test here needs TensorFlow / Keras

RNG = np.random.default_rng(0)

# ---- a float NumPy evaluation of the graph (the meaning of each IR kind, without quantization) ----------


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


_ACTIVATIONS: dict[str, Callable[[np.ndarray, Activation], np.ndarray]] = {
    "linear": lambda x, a: x,
    "relu": lambda x, a: np.maximum(x, 0.0),
    "leaky_relu": lambda x, a: np.where(x < 0, a.alpha * x, x),
    "sigmoid": lambda x, a: 1.0 / (1.0 + np.exp(-x)),
    "tanh": lambda x, a: np.tanh(x),
    "softmax": lambda x, a: _softmax(x),
    "hard_sigmoid": lambda x, a: np.clip(a.slope * x + a.offset, 0.0, 1.0),
}

_KINDS: dict[type[Layer], Callable[[Any, np.ndarray], np.ndarray]] = {
    Dense: lambda d, x: x @ d.weight + (0.0 if d.bias is None else d.bias),
    Activation: lambda a, x: _ACTIVATIONS[a.fn](x, a),
    BatchNorm: lambda b, x: x * b.scale + b.bias,
    Reshape: lambda r, x: x.reshape((x.shape[0], *r.shape)),
}


def run_graph(graph: Graph, *xs: np.ndarray) -> list[np.ndarray]:
    """Float64 outputs of `graph` for a batch per input (in graph.inputs() order)."""
    values = {layer.name: np.asarray(x, np.float64) for layer, x in zip(graph.inputs(), xs, strict=True)}
    for layer in graph.layers():
        if not isinstance(layer, Input):
            values[layer.name] = _KINDS[type(layer)](layer, values[graph.producer(layer.name).name])
            assert values[layer.name].shape[1:] == layer.shape, layer.name
    return [values[name] for name in graph.outputs]


def predict(model: Any, *xs: np.ndarray) -> list[np.ndarray]:
    out = model.predict([x.astype(np.float32) for x in xs] if len(xs) > 1 else xs[0].astype(np.float32), verbose=0)
    return [np.asarray(o, np.float64) for o in (out if isinstance(out, list) else [out])]


def assert_matches_keras(graph: Graph, model: Any, *shapes: tuple[int, ...], atol: float = 1e-5) -> None:
    xs = [RNG.normal(0.0, 2.0, (64, *s)).astype(np.float32) for s in shapes]  # the same inputs on both sides
    for got, want in zip(run_graph(graph, *xs), predict(model, *xs), strict=True):
        np.testing.assert_allclose(got, want, atol=atol, rtol=0)


def kinds(graph: Graph) -> list[tuple[str, str, tuple[int, ...]]]:
    return [
        (layer.name, layer.kind + (f"({layer.fn})" if isinstance(layer, Activation) else ""), layer.shape)
        for layer in graph.layers()
    ]


# ---- models (built once per module) ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def k3() -> Any:
    return pytest.importorskip("keras")


@pytest.fixture(scope="module")
def tk() -> Any:
    return pytest.importorskip("tf_keras")


def jet_tagger(K: Any) -> Any:
    """16 -> 64 relu -> 32 relu -> 32 relu -> 5 softmax, with Dropout (dropped), as a Sequential model."""
    L = K.layers
    return K.Sequential(
        [
            L.Input((16,), name="x"),
            L.Dense(64, activation="relu", name="fc1"),
            L.Dropout(0.25, name="drop1"),
            L.Dense(32, activation="relu", name="fc2"),
            L.Dense(32, activation="relu", name="fc3"),
            L.GaussianNoise(0.1, name="noise"),
            L.Dense(5, activation="softmax", name="output"),
        ],
        name="jet_tagger",
    )


def all_activations(K: Any) -> Any:
    """A Functional model with BatchNormalization (trained-looking statistics) and every supported activation."""
    L = K.layers
    x = L.Input((4, 3), name="x")
    y = L.BatchNormalization(name="bn_in")(x)  # rank-2 input, last axis
    y = L.Flatten(name="flat")(y)
    y = L.Dense(12, activation="tanh", name="d_tanh")(y)
    y = L.BatchNormalization(name="bn")(y)
    y = L.Activation("sigmoid", name="act_sigmoid")(y)
    y = L.Dense(12, activation="hard_sigmoid", name="d_hsig")(y)
    y = L.Dense(12, use_bias=False, name="d_nobias")(y)
    y = L.LeakyReLU(0.1, name="lrelu")(y)
    y = L.Reshape((3, 4), name="reshape")(y)
    y = L.BatchNormalization(center=False, scale=False, name="bn_plain")(y)
    y = L.Flatten(name="flat2")(y)
    y = L.Dense(10, activation="relu", name="d_relu")(y)
    y = L.ActivityRegularization(name="actreg")(y)
    y = L.ReLU(name="relu")(y)
    y = L.Dense(10, name="d_lin")(y)
    y = L.ReLU(negative_slope=0.05, name="relu_leaky")(y)
    y = L.Activation("linear", name="act_linear")(y)
    y = L.Dense(6, activation="sigmoid", name="d_sig")(y)
    y = L.Softmax(name="softmax")(y)
    model = K.Model(x, y, name="all_activations")
    for layer in model.layers:  # trained-looking statistics; the moving variance (last weight) must be positive
        if type(layer).__name__ == "BatchNormalization":
            weights = [RNG.normal(0.0, 1.0, w.shape) for w in layer.get_weights()]
            weights[-1] = RNG.uniform(0.5, 2.0, weights[-1].shape)
            layer.set_weights(weights)
    return model


@pytest.fixture(scope="module")
def k3_jet(k3: Any) -> Any:
    return jet_tagger(k3)


@pytest.fixture(scope="module")
def tk_jet(tk: Any) -> Any:
    return jet_tagger(tk)


@pytest.fixture(scope="module")
def k3_acts(k3: Any) -> Any:
    return all_activations(k3)


@pytest.fixture(scope="module")
def tk_acts(tk: Any) -> Any:
    return all_activations(tk)


@pytest.fixture(scope="module")
def models(k3_jet: Any, tk_jet: Any, k3_acts: Any, tk_acts: Any) -> dict[str, Any]:
    return {"k3_jet": k3_jet, "tk_jet": tk_jet, "k3_acts": k3_acts, "tk_acts": tk_acts}


SAVES = {  # (model, file name): both Keras versions write .keras and .h5; tf_keras also a SavedModel directory
    "k3_jet.keras": "k3_jet",
    "k3_jet.h5": "k3_jet",
    "k3_acts.keras": "k3_acts",
    "tk_jet.keras": "tk_jet",
    "tk_jet.h5": "tk_jet",
    "tk_jet_savedmodel": "tk_jet",
    "tk_acts.h5": "tk_acts",
}


@pytest.fixture(scope="module")
def saved(models: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("saved")
    with quiet():
        for file, key in SAVES.items():
            models[key].save(str(root / file))
    return root


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "HDF5 is legacy" and friends
        yield


# ---- structure -------------------------------------------------------------------------------------------

JET_KINDS = [
    ("x", "Input", (16,)),
    ("fc1", "Dense", (64,)),
    ("fc1_relu", "Activation(relu)", (64,)),
    ("fc2", "Dense", (32,)),
    ("fc2_relu", "Activation(relu)", (32,)),
    ("fc3", "Dense", (32,)),
    ("fc3_relu", "Activation(relu)", (32,)),
    ("output", "Dense", (5,)),
    ("output_softmax", "Activation(softmax)", (5,)),
]


@pytest.mark.parametrize("key", ["k3_jet", "tk_jet"])  # Keras 3, tf_keras
def test_jet_tagger_structure(models: dict[str, Any], key: str) -> None:
    model = models[key]
    graph = from_keras(model)
    assert graph.name == "jet_tagger"
    assert kinds(graph) == JET_KINDS  # activations split off, Dropout / GaussianNoise dropped
    assert graph.outputs == ["output_softmax"]
    for name in ("fc1", "fc2", "fc3", "output"):
        dense, layer = graph[name], model.get_layer(name)
        assert dense.weight.dtype == np.float64 and dense.bias.dtype == np.float64
        np.testing.assert_array_equal(dense.weight, np.asarray(layer.get_weights()[0], np.float64))
        np.testing.assert_array_equal(dense.bias, np.asarray(layer.get_weights()[1], np.float64))
    assert all(not layer.types for layer in graph.layers())  # filled by the quantize flow
    assert from_keras(model, name="jet").name == "jet"


@pytest.mark.parametrize("key", ["k3_jet", "tk_jet", "k3_acts", "tk_acts"])  # models x Keras versions
def test_numpy_evaluation_matches_predict(models: dict[str, Any], key: str) -> None:
    model = models[key]
    assert_matches_keras(from_keras(model), model, tuple(model.inputs[0].shape[1:]))


@pytest.mark.parametrize("key", ["k3_acts", "tk_acts"])  # Keras 3, tf_keras
def test_all_activations_structure(models: dict[str, Any], key: str) -> None:
    graph = from_keras(models[key])
    fns = {layer.name: layer.fn for layer in graph.layers() if isinstance(layer, Activation)}
    assert fns == {
        "d_tanh_tanh": "tanh",
        "act_sigmoid": "sigmoid",
        "d_hsig_hard_sigmoid": "hard_sigmoid",
        "lrelu": "leaky_relu",
        "d_relu_relu": "relu",
        "relu": "relu",
        "relu_leaky": "leaky_relu",
        "act_linear": "linear",
        "d_sig_sigmoid": "sigmoid",
        "softmax": "softmax",
    }
    assert graph["lrelu"].alpha == 0.1 and graph["relu_leaky"].alpha == 0.05
    assert graph["d_nobias"].bias is None
    assert "actreg" not in graph and graph.producer("relu").name == "d_relu_relu"
    assert [graph[n].kind for n in ("flat", "reshape", "flat2")] == ["Reshape"] * 3
    assert (graph["flat"].shape, graph["reshape"].shape, graph["bn_in"].shape) == ((12,), (3, 4), (4, 3))


def test_hard_sigmoid_slope_per_keras_version(k3_acts: Any, tk_acts: Any) -> None:
    # Keras 3: clip(x / 6 + 0.5, 0, 1); tf_keras: clip(0.2 x + 0.5, 0, 1)
    assert (from_keras(k3_acts)["d_hsig_hard_sigmoid"].slope, from_keras(tk_acts)["d_hsig_hard_sigmoid"].slope) == (
        1 / 6,
        0.2,
    )
    assert from_keras(k3_acts)["d_hsig_hard_sigmoid"].offset == 0.5


def test_keras3_leaky_relu_activation_string(k3: Any) -> None:
    model = k3.Sequential([k3.Input((3,)), k3.layers.Dense(4, activation="leaky_relu", name="d")])
    graph = from_keras(model)
    assert graph["d_leaky_relu"].alpha == 0.2  # Keras 3's default negative_slope, measured
    assert_matches_keras(graph, model, (3,))


@pytest.mark.parametrize("key", ["k3_acts", "tk_acts"])  # Keras 3, tf_keras
def test_batchnorm_scale_bias_match_keras_inference(models: dict[str, Any], key: str) -> None:
    model, graph = models[key], from_keras(models[key])
    for name in ("bn_in", "bn", "bn_plain"):
        bn, layer = graph[name], model.get_layer(name)
        x = RNG.normal(0.0, 1.0, (32, *bn.shape)).astype(np.float32)  # the same inputs on both sides
        want = np.asarray(layer(x, training=False), np.float64)
        assert bn.scale.dtype == np.float64 and bn.bias.dtype == np.float64
        # Keras computes in float32: 1e-6 plus a few float32 ulps of the output
        np.testing.assert_allclose(x * bn.scale + bn.bias, want, atol=1e-6, rtol=1e-6)
    np.testing.assert_allclose(
        graph["bn_plain"].scale, 1.0 / np.sqrt(model.get_layer("bn_plain").get_weights()[1] + 1e-3)
    )


def test_multiple_inputs_and_outputs(k3: Any) -> None:
    L = k3.layers
    a, b = L.Input((5,), name="a"), L.Input((3,), name="b")
    ya = L.Dense(4, activation="tanh", name="da")(a)
    yb = L.Dropout(0.5, name="drop")(L.Dense(2, name="db")(b))  # an output behind a no-op
    yc = L.Dense(6, name="dc")(a)  # fan-out of input a
    model = k3.Model([a, b], [ya, yb, yc], name="multi")
    graph = from_keras(model)
    assert [layer.name for layer in graph.inputs()] == ["a", "b"]
    assert graph.outputs == ["da_tanh", "db", "dc"]
    xs = [RNG.normal(size=(8, 5)), RNG.normal(size=(8, 3))]
    for got, want in zip(run_graph(graph, *xs), predict(model, *xs), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_sequential_built_without_input_layer(k3: Any, tk: Any) -> None:
    m3 = k3.Sequential([k3.layers.Dense(3, name="d")])
    m3.build((None, 4))
    m2 = tk.Sequential([tk.layers.Dense(3, input_shape=(4,), name="d")])
    for model in (m3, m2):
        assert [(k, s) for _, k, s in kinds(from_keras(model))] == [("Input", (4,)), ("Dense", (3,))]


# ---- saved models ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("file", sorted(SAVES))  # formats x Keras versions
def test_saved_model_round_trip(saved: Path, models: dict[str, Any], file: str) -> None:
    model = models[SAVES[file]]
    graph, want = from_keras(saved / file), from_keras(model)
    assert kinds(graph) == kinds(want)
    for layer in want.layers():
        for role, array in layer.weights().items():
            np.testing.assert_array_equal(graph[layer.name].weights()[role], array)
    assert_matches_keras(graph, model, tuple(model.inputs[0].shape[1:]))
    assert from_keras(str(saved / file)).outputs == want.outputs  # str paths too


@pytest.mark.parametrize("file", ["k3_jet.h5", "tk_jet.keras", "tk_jet_savedmodel"])  # Keras chosen by the file
def test_keras_version_chosen_by_file(saved: Path, file: str) -> None:
    expected = "keras" if file.startswith("k3") else "tf_keras"
    assert type(load_model(saved / file)).__module__.split(".")[0] == expected


def test_in_memory_model_is_returned_as_is(k3_jet: Any) -> None:
    assert load_model(k3_jet) is k3_jet


# ---- bad inputs ------------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.keras"
    with pytest.raises(ModelError, match="nope.keras: no such file") as e:
        from_keras(path)
    assert ACCEPTED in str(e.value)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_corrupt_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"corrupt{suffix}"
    path.write_bytes(RNG.bytes(4096))
    with pytest.raises(ModelError, match=f"corrupt{suffix}.*{ACCEPTED}"):
        from_keras(path)


def test_zip_without_config(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "empty.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", "{}")
    with pytest.raises(ModelError, match="empty.keras: not a valid .keras file"):
        from_keras(path)


def test_weights_only_h5(tmp_path: Path, k3_jet: Any) -> None:
    path = tmp_path / "jet.weights.h5"
    k3_jet.save_weights(str(path))
    with pytest.raises(ModelError, match="jet.weights.h5: .*weights only"):
        from_keras(path)


def test_directory_not_saved_model(tmp_path: Path) -> None:
    (tmp_path / "some.txt").write_text("x")
    with pytest.raises(ModelError, match=f"{tmp_path.name}: .*not a SavedModel"):
        from_keras(tmp_path)


def test_not_a_model() -> None:
    with pytest.raises(ModelError, match="cannot convert a list"):
        from_keras([1, 2])


@pytest.mark.parametrize("flavor", ["k3", "tk"])  # Keras 3, tf_keras
def test_unsupported_layer(k3: Any, tk: Any, flavor: str) -> None:
    K = {"k3": k3, "tk": tk}[flavor]
    model = K.Sequential([K.Input((5, 5, 5, 2)), K.layers.Conv3D(4, 3, name="conv3"), K.layers.Flatten()])
    with pytest.raises(ModelError, match=r"layer 'conv3' \(Conv3D\) is not supported; supported: Activation, "):
        from_keras(model)


def _lambda_model(K: Any, sink: list[str]) -> Any:
    x = K.Input((3,), name="x")
    y = K.layers.Lambda(lambda t: (sink.append("ran"), t * 2)[1], name="evil")(x)
    return K.Model(x, K.layers.Dense(2, name="d")(y))


def test_lambda_in_memory(k3: Any) -> None:
    with pytest.raises(ModelError, match=r"layer 'evil' \(Lambda\) runs arbitrary Python code"):
        from_keras(_lambda_model(k3, []))


@pytest.mark.parametrize("file", ["evil.keras", "evil.h5"])
def test_saved_lambda_refused_before_loading(
    k3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file: str
) -> None:
    sink: list[str] = []
    model = _lambda_model(k3, sink)
    with quiet():
        model.save(str(tmp_path / file))
    sink.clear()

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was deserialized")

    monkeypatch.setattr(k3.saving, "load_model", never)
    with pytest.raises(ModelError, match=rf"{file}: layer 'evil' \(Lambda\) runs arbitrary Python code"):
        from_keras(tmp_path / file)
    assert sink == []


def test_saved_model_lambda_refused(tk: Any, tmp_path: Path) -> None:
    with quiet():
        _lambda_model(tk, []).save(str(tmp_path / "evil_sm"))
    with pytest.raises(ModelError, match=r"evil_sm: layer 'evil' \(Lambda\)"):
        from_keras(tmp_path / "evil_sm")


def _single(K: Any, layer: Any, shape: tuple[int, ...] = (4,)) -> Any:
    return K.Sequential([K.Input(shape), layer])


@pytest.mark.parametrize(
    "build, message",
    [  # one bad layer each
        (
            lambda K: _single(K, K.layers.ReLU(max_value=1.0, threshold=2.0, name="thr")),
            r"layer 'thr' \(ReLU\): ReLU max_value 1.0 must exceed its threshold 2.0",
        ),
        (lambda K: _single(K, K.layers.Dense(2, name="d"), (3, 4)), r"'d' \(Dense\): Dense on a rank-2 input"),
        (
            lambda K: _single(K, K.layers.Dense(2, activation="exponential", name="g")),
            r"'g' \(Dense\): activation 'exponential'",
        ),
        (lambda K: _single(K, K.layers.Softmax(axis=1, name="sm"), (3, 4)), r"'sm' \(Softmax\): softmax .* last axis"),
        (lambda K: _single(K, K.layers.BatchNormalization(axis=1, name="bn"), (3, 4)), r"'bn' \(BatchNormalization\)"),
    ],
)
def test_bad_layers(k3: Any, build: Callable[[Any], Any], message: str) -> None:
    with pytest.raises(ModelError, match=message):
        from_keras(build(k3))


def test_keras_ops_call_refused(k3: Any) -> None:
    x = k3.Input((3,))
    model = k3.Model(x, k3.ops.exp(k3.layers.Dense(2, name="d")(x)))
    with pytest.raises(ModelError, match=r"operation 'exp' \(Exp, a keras.ops call\) is not supported"):
        from_keras(model)


def test_subclassed_and_unbuilt_models_refused(k3: Any) -> None:
    class Net(k3.Model):
        def call(self, x: Any) -> Any:
            return x

    for model in (Net(name="net"), k3.Sequential([k3.layers.Dense(2)], name="unbuilt")):
        with pytest.raises(ModelError, match="has no layer graph"):
            from_keras(model)


def test_shared_layer_refused(k3: Any) -> None:
    x = k3.Input((3,))
    d = k3.layers.Dense(3, name="shared")
    with pytest.raises(ModelError, match="'shared' is applied more than once"):
        from_keras(k3.Model(x, d(d(x))))


def test_import_does_not_load_tensorflow() -> None:
    code = (
        "import sys, nn2fpga, nn2fpga.frontend.keras; sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_fused_activation_name_clash(k3: Any) -> None:
    model = k3.Sequential(
        [k3.Input((3,)), k3.layers.Dense(2, activation="relu", name="d"), k3.layers.ReLU(name="d_relu")]
    )
    with pytest.raises(ModelError, match=r"layer 'd_relu' \(ReLU\): cannot name its IR layer 'd_relu'"):
        from_keras(model)
