"""Models with several inputs and outputs: a jet-features + particle-list tagger (the particles through Conv1D), in
both IO types, through the kernel, the host driver, `nn2fpga predict` and a real Triton answering tritonclient.

Each input (output) is a top-function argument and takes whole 512-bit words of every sample's memory image, in
model order (nn2fpga.codegen.ports); csim must equal the reference bit for bit, the reference stay within the
derived bound of Keras, and the io_stream kernel must not deadlock with bounded FIFOs.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

import nn2fpga  # noqa: E402
from nn2fpga.ir.errors import ModelError, UserError  # noqa: E402
from nn2fpga.project import Project  # noqa: E402
from nn2fpga.testing import assert_close_to_keras, assert_csim_matches_reference  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.csim]
N_FEATURES, N_PARTICLES, N_FIELDS = 16, 20, 3
PRECISION = {"Model": {"Precision": "ap_fixed<18,8>"}}


def tagger(two_outputs: bool = False):
    """16 jet features through a Dense, 20 particles x (pT, eta, phi) through Conv1D and global pooling, joined; a
    second, auxiliary output from the features branch with `two_outputs`."""
    keras.utils.set_random_seed(3)
    features = keras.Input((N_FEATURES,), name="features")
    particles = keras.Input((N_PARTICLES, N_FIELDS), name="particles")
    p = keras.layers.Conv1D(8, 3, activation="relu", name="conv")(particles)
    p = keras.layers.Conv1D(8, 3, padding="same", activation="relu", name="conv2")(p)
    p = keras.layers.GlobalAveragePooling1D(name="pool")(p)
    f = keras.layers.Dense(8, activation="relu", name="dense")(features)
    joined = keras.layers.Concatenate(name="joined")([f, p])
    out = keras.layers.Dense(5, activation="softmax", name="classes")(joined)
    outputs = [out, keras.layers.Dense(2, name="aux")(f)] if two_outputs else out
    return keras.Model([features, particles], outputs, name="two_input_tagger")


def data(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, N_FEATURES)), rng.normal(size=(n, N_PARTICLES, N_FIELDS))]


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_two_inputs_bit_exact_and_within_bound(io_type: str) -> None:
    model = tagger()
    project = nn2fpga.convert(model, {**PRECISION, "IOType": io_type})
    assert [layer.name for layer in project.graph.inputs()] == ["features", "particles"]
    x = data(1000)
    assert_csim_matches_reference(project, x)
    assert_close_to_keras(project, model, x)
    by_name = project.predict({"particles": x[1], "features": x[0]})
    assert np.array_equal(by_name, project.predict(x, backend="reference"))
    if io_type == "io_stream":  # the load writes the features first, whole: no deadlock with bounded FIFOs
        run = project.simulate([v[:8] for v in x])
        assert run.outputs is not None, run.deadlock
        assert np.array_equal(run.outputs, project.predict([v[:8] for v in x], backend="reference"))


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_two_outputs(io_type: str) -> None:
    model = tagger(two_outputs=True)
    project = nn2fpga.convert(model, {**PRECISION, "IOType": io_type})
    x = data(300, seed=1)
    y = project.predict(x)
    assert isinstance(y, list) and [v.shape for v in y] == [(300, 5), (300, 2)]
    assert_csim_matches_reference(project, x)
    assert_close_to_keras(project, model, x)
    if io_type == "io_stream":
        assert project.simulate([v[:6] for v in x]).outputs is not None


def _two(body):
    keras.utils.set_random_seed(5)
    a, b = keras.Input((8,), name="a"), keras.Input((8,), name="b")
    return keras.Model([a, b], body(a, b))


MERGED_INPUTS = {  # merges of the two model inputs themselves; an input read by two layers (a fork of an argument)
    "add": lambda a, b: keras.layers.Add()([a, b]),
    "concatenate": lambda a, b: keras.layers.Concatenate()([a, b]),
    "subtract": lambda a, b: keras.layers.Subtract()([a, b]),
    "forked input": lambda a, b: keras.layers.Add()([keras.layers.Dense(8)(a), a, keras.layers.Dense(8)(b)]),
}


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
@pytest.mark.parametrize("kind", list(MERGED_INPUTS))
def test_merges_of_model_inputs(kind: str, io_type: str) -> None:
    model = _two(MERGED_INPUTS[kind])
    project = nn2fpga.convert(model, {"Model": {"Precision": "ap_fixed<20,8>"}, "IOType": io_type})
    rng = np.random.default_rng(7)
    x = [rng.normal(size=(1000, 8)), rng.normal(size=(1000, 8))]
    assert_csim_matches_reference(project, x)
    assert_close_to_keras(project, model, x)
    if io_type == "io_stream":
        assert project.simulate([v[:4] for v in x]).outputs is not None


def test_bad_inputs_are_named() -> None:
    project = nn2fpga.convert(tagger(), PRECISION)
    x = data(4)
    with pytest.raises(UserError, match="2 inputs .*features, particles"):
        project.predict(x[0])
    with pytest.raises(UserError, match="missing input 'particles'"):
        project.predict({"features": x[0]})
    with pytest.raises(UserError, match="no input named 'jets'"):
        project.predict({"features": x[0], "particles": x[1], "jets": x[1]})
    with pytest.raises(UserError, match="input 'particles' has shape"):
        project.predict([x[0], x[1][:, :5]])
    with pytest.raises(UserError, match="different batch sizes"):
        project.predict([x[0], x[1][:3]])


def test_an_output_read_by_another_layer_is_refused() -> None:
    inp = keras.Input((6,), name="x")
    hidden = keras.layers.Dense(4, name="hidden")(inp)
    out = keras.layers.Dense(2, name="final")(hidden)
    with pytest.raises(ModelError, match="model output 'hidden' is also read by layer 'final'"):
        nn2fpga.convert(keras.Model(inp, [hidden, out]), PRECISION)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nn2fpga.cli", *args], capture_output=True, text=True, timeout=600)


def test_driver_and_cli_predict(tmp_path) -> None:
    """The project's own host driver takes the inputs by name; `nn2fpga predict` takes NAME=X.npy per input or
    one .npz and writes an .npz for several outputs; mistakes exit 2 naming the input."""
    import importlib.util

    model = tagger(two_outputs=True)
    model.save(tmp_path / "tagger.keras")
    (tmp_path / "c.yml").write_text("IOType: io_stream\nModel:\n  Precision: ap_fixed<18,8>\n")
    done = _cli("convert", str(tmp_path / "tagger.keras"), "-o", str(tmp_path / "prj"), "-c", str(tmp_path / "c.yml"))
    assert done.returncode == 0, done.stderr
    project = Project.load(tmp_path / "prj")
    x = data(64, seed=2)
    expected = project.predict(x, backend="reference")
    spec = importlib.util.spec_from_file_location("multi_io_driver", tmp_path / "prj" / "host" / "driver.py")
    driver = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(driver)
    with driver.Driver("csim", tmp_path / "prj") as d:
        got = d.predict({"features": x[0], "particles": x[1]})
        assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))
        with pytest.raises(ValueError, match="missing input 'particles'"):
            d.predict({"features": x[0]})
    np.save(tmp_path / "f.npy", x[0])
    np.save(tmp_path / "p.npy", x[1])
    np.savez(tmp_path / "x.npz", features=x[0], particles=x[1])
    runs = [("-i", f"features={tmp_path / 'f.npy'}", "-i", f"particles={tmp_path / 'p.npy'}"),
            ("-i", str(tmp_path / "x.npz"))]  # fmt: skip
    for k, inputs in enumerate(runs):
        out = tmp_path / f"y{k}.npz"
        done = _cli("predict", str(tmp_path / "prj"), *inputs, "-o", str(out))
        assert done.returncode == 0, done.stderr
        with np.load(out) as y:
            assert y.files == project.graph.outputs
            assert all(np.array_equal(y[name], e) for name, e in zip(y.files, expected))
    bad = _cli("predict", str(tmp_path / "prj"), "-i", f"features={tmp_path / 'f.npy'}", "-o", str(tmp_path / "z.npz"))
    assert bad.returncode == 2 and "missing input 'particles'" in bad.stderr and "Traceback" not in bad.stderr
    bad = _cli("predict", str(tmp_path / "prj"), "-i", str(tmp_path / "x.npz"), "-o", str(tmp_path / "z.npy"))
    assert bad.returncode == 2 and "give -o FILE.npz" in bad.stderr and not (tmp_path / "z.npy").exists()


@pytest.mark.serve
def test_triton_serves_two_inputs_bit_exact(tmp_path) -> None:
    """A real Triton on loopback: tritonclient sends both inputs (FP32), the answers equal the project's own csim
    bit for bit, and a request missing an input gets an error while the server keeps serving."""
    grpc = pytest.importorskip("tritonclient.grpc")
    from tritonclient.utils import InferenceServerException

    from nn2fpga.runtime.triton import find_tritonserver, free_port, serve_project

    try:
        find_tritonserver()
    except Exception:
        pytest.skip("no tritonserver (install the serve extra)")
    project = nn2fpga.convert(tagger(), {**PRECISION, "IOType": "io_stream"}, output_dir=tmp_path / "prj")
    x = [v.astype(np.float32) for v in data(40, seed=4)]
    expected = project.predict(x)
    out_name = project.graph.outputs[0]
    ports = {k: free_port() for k in ("http_port", "grpc_port", "metrics_port")}
    with serve_project(project.path, **ports) as server:
        client = grpc.InferenceServerClient(server.grpc_url)
        got = []
        for start in range(0, 40, 8):
            inputs = [grpc.InferInput(name, [8, *v.shape[1:]], "FP32") for name, v in zip(("features", "particles"), x)]
            for tensor, v in zip(inputs, x):
                tensor.set_data_from_numpy(v[start : start + 8])
            got.append(client.infer(project.name, inputs).as_numpy(out_name))
        assert np.array_equal(np.concatenate(got).astype(np.float64), expected)
        lone = grpc.InferInput("features", [2, N_FEATURES], "FP32")
        lone.set_data_from_numpy(x[0][:2])
        with pytest.raises(InferenceServerException, match="particles"):
            client.infer(project.name, [lone])
        inputs = [grpc.InferInput(name, [1, *v.shape[1:]], "FP32") for name, v in zip(("features", "particles"), x)]
        for tensor, v in zip(inputs, x):
            tensor.set_data_from_numpy(v[:1])
        assert np.array_equal(client.infer(project.name, inputs).as_numpy(out_name).astype(np.float64), expected[:1])
        client.close()
