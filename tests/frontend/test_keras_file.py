"""Keras 3 `.keras` files read without Keras (`nn2fpga.frontend.keras_file`): the same Graph, field by
field and bit for bit, as converting the loaded model; no TensorFlow import; Keras takes over for
anything the reader does not handle."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

from small_cnns import branches, depthwise, pools, strided, three_way_add  # noqa: E402
from test_keras import all_activations, jet_tagger  # noqa: E402

from nn2fpga.frontend import keras_file  # noqa: E402
from nn2fpga.frontend.keras import CONVERTERS, from_keras  # noqa: E402
from nn2fpga.frontend.loading import file_config  # noqa: E402
from nn2fpga.ir.errors import ModelError  # noqa: E402
from nn2fpga.ir.graph import Graph  # noqa: E402

pytestmark = pytest.mark.keras
L = keras.layers


def assert_same_graph(got: Graph, want: Graph) -> None:
    """Same layers in the same order, same edges and outputs, every dataclass field equal (arrays exactly)."""
    assert got.name == want.name
    assert [x.name for x in got.layers()] == [x.name for x in want.layers()]
    assert got.outputs == want.outputs
    for a in want.layers():
        b = got[a.name]
        assert type(b) is type(a), a.name
        assert [p.name for p in got.producers(a.name)] == [p.name for p in want.producers(a.name)], a.name
        for f in dataclasses.fields(a):
            va, vb = getattr(a, f.name), getattr(b, f.name)
            if isinstance(va, np.ndarray):
                assert vb.dtype == va.dtype and np.array_equal(va, vb), (a.name, f.name)
            else:
                assert vb == va, (a.name, f.name, vb, va)


def _functional(build, shape: tuple[int, ...], name: str):
    keras.utils.set_random_seed(3)
    i = keras.Input(shape, name="image")
    return keras.Model(i, build(i), name=name)


def _multi():
    a, b = L.Input((5,), name="a"), L.Input((3,), name="b")
    ya = L.Dense(4, activation="leaky_relu", name="da")(a)
    yb = L.Dropout(0.5, name="drop")(L.Dense(2, name="db")(b))
    c = L.Concatenate(name="cat")([ya, L.Dense(6, name="dc")(a)])
    return keras.Model([a, b], [c, yb], name="multi")


def _no_input_layer():
    model = keras.Sequential([L.Dense(3, activation="hard_sigmoid", name="d"), L.Dense(2, name="e")], name="seq")
    model.build((None, 4))
    return model


def _depthwise_nobias(i):
    x = L.DepthwiseConv2D((3, 2), strides=(2, 1), use_bias=False, padding="same", name="dw")(i)
    x = L.AveragePooling2D((2, 3), strides=(1, 2), name="ap")(x)
    return L.Dense(3, name="fc")(L.Flatten(name="fl")(L.Reshape((-1, 3), name="rs")(x)))


def _resnet():
    from nn2fpga.datasets import calibrate_batchnorm

    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=3)
    return calibrate_batchnorm(model, np.random.default_rng(1).normal(size=(2, 32, 32, 3)))


MODELS = {
    "jet_tagger": lambda: jet_tagger(keras),
    "all_activations": lambda: all_activations(keras),
    "multi": _multi,
    "no_input_layer": _no_input_layer,
    **{
        f.__name__.strip("_"): (lambda f=f: _functional(f, (12, 10, 3), f.__name__.strip("_")))
        for f in (strided, depthwise, pools, branches, three_way_add, _depthwise_nobias)
    },
    "resnet50": _resnet,
}


@pytest.mark.parametrize("key", sorted(MODELS))
def test_file_reader_builds_the_same_graph_as_keras(key: str, tmp_path: Path) -> None:
    model = MODELS[key]()
    path = tmp_path / f"{key}.keras"
    model.save(path)
    flavor, config = file_config(path)
    assert keras_file.read(path, config, set(CONVERTERS)) is not None  # the Keras-free path is taken
    assert_same_graph(from_keras(path), from_keras(model))


def test_convert_from_file_imports_no_tensorflow(tmp_path: Path) -> None:
    path = tmp_path / "cnn.keras"
    _functional(branches, (12, 10, 3), "cnn").save(path)
    code = (
        "import sys, numpy as np, nn2fpga\n"
        f"p = nn2fpga.convert({str(path)!r}, output_dir={str(tmp_path / 'prj')!r})\n"
        "y = p.predict(np.zeros((2, 12, 10, 3)), backend='reference')\n"
        "print(y.shape, sorted(m for m in ('tensorflow', 'keras', 'tf_keras') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[-2] == "(2, 3) []"


def test_unknown_content_falls_back_to_keras(tmp_path: Path) -> None:
    i = L.Input((4, 4, 4, 3), name="x")
    path = tmp_path / "conv3d.keras"
    keras.Model(i, L.Conv3D(2, 3, name="c1")(i)).save(path)
    assert keras_file.read(path, file_config(path)[1], set(CONVERTERS)) is None
    with pytest.raises(ModelError, match=r"layer 'c1' \(Conv3D\) is not supported"):
        from_keras(path)  # Keras's error, as before

    shared = L.Dense(4, name="shared")
    a = L.Input((4,), name="a")
    path = tmp_path / "shared.keras"
    keras.Model(a, shared(shared(a))).save(path)
    assert keras_file.read(path, file_config(path)[1], set(CONVERTERS)) is None
    with pytest.raises(ModelError, match="applied more than once"):
        from_keras(path)


@pytest.mark.parametrize("producer", ["d2", "nowhere"])  # a cycle d1 -> d2 -> d1; a tensor no layer produces
def test_broken_layer_graph_falls_back(tmp_path: Path, producer: str) -> None:
    """A config whose layers do not form a graph from the inputs is not guessed at (nor walked forever)."""
    x = L.Input((4,), name="x")
    path = tmp_path / "chain.keras"
    keras.Model(x, L.Dense(4, name="d2")(L.Dense(4, name="d1")(x))).save(path)
    config = file_config(path)[1]
    assert keras_file.read(path, config, set(CONVERTERS)) is not None
    d1 = next(spec for spec in config["config"]["layers"] if spec["config"]["name"] == "d1")
    d1["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0] = producer
    assert keras_file.read(path, config, set(CONVERTERS)) is None


def test_weights_that_do_not_match_the_config_are_refused(tmp_path: Path) -> None:
    """A file whose stored variables disagree with its layer configs is not guessed at: Keras refuses it too."""
    import zipfile

    model = jet_tagger(keras)
    path, edited = tmp_path / "jet.keras", tmp_path / "edited.keras"
    model.save(path)
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(edited, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            if item == "config.json":  # the config now says fc1 has no bias; the file still stores one
                data = data.replace(b'"use_bias": true', b'"use_bias": false', 1)
            dst.writestr(item, data)
    with pytest.raises(ModelError, match=r"edited\.keras: layer 'fc1': .*\], the config needs kernel \(16, 64\)"):
        keras_file.read(edited, file_config(edited)[1], set(CONVERTERS))


def test_damaged_weights_are_a_clear_error(tmp_path: Path) -> None:
    import zipfile

    path, damaged = tmp_path / "jet.keras", tmp_path / "damaged.keras"
    jet_tagger(keras).save(path)
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(damaged, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            dst.writestr(item, data[:1000] if item == "model.weights.h5" else data)
    with pytest.raises(ModelError, match=r"damaged\.keras: model\.weights\.h5: not a readable HDF5 file \(.*truncated"):
        from_keras(damaged)
    out = subprocess.run(
        [sys.executable, "-m", "nn2fpga.cli", "convert", str(damaged), "-o", str(tmp_path / "p")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr and not (tmp_path / "p").exists()
    assert len(out.stderr.strip().splitlines()) == 1 and "damaged.keras" in out.stderr
