"""`nn2fpga serve` on the jet tagger: a real Triton on loopback, tritonclient over gRPC and HTTP.

The server is started by the tests (the CLI in a subprocess, free loopback ports) and stopped
with SIGTERM, which must end it cleanly.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.importorskip("keras")
grpc = pytest.importorskip("tritonclient.grpc")
http = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402

from nn2fpga.runtime.triton import find_tritonserver, free_port, serve_project  # noqa: E402

pytestmark = [pytest.mark.serve, pytest.mark.keras, pytest.mark.csim]
MODEL = "jet_tagger"


def _have_triton() -> bool:
    try:
        find_tritonserver()
        return True
    except Exception:
        return False


if not _have_triton():
    pytest.skip("no tritonserver (install the serve extra)", allow_module_level=True)


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    import nn2fpga
    from nn2fpga.datasets import jet_tagger

    d = tmp_path_factory.mktemp("serve")
    model = jet_tagger(epochs=2, n_train=4000)
    serving = {"MaxBatchSize": 64, "PreferredBatchSizes": [16, 64], "Instances": 1}
    full = nn2fpga.convert(model, config={"Serving": serving}, output_dir=d / "full")
    split = nn2fpga.convert(model, config={"Split": "fc2"}, output_dir=d / "split")
    return full, split


@pytest.fixture(scope="module")
def server(projects):
    """`nn2fpga serve` in a subprocess on free loopback ports; stopped with SIGTERM at the end."""
    full, _ = projects
    ports = {k: free_port() for k in ("http", "grpc", "metrics")}
    cmd = [sys.executable, "-m", "nn2fpga.cli", "serve", str(full.path), "--http-port", str(ports["http"]),
           "--grpc-port", str(ports["grpc"]), "--metrics-port", str(ports["metrics"])]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # printed once the model is ready
        assert line.startswith("serving:"), line + proc.stderr.read()
        assert f"127.0.0.1:{ports['grpc']}" in line
        yield {"grpc": f"127.0.0.1:{ports['grpc']}", "http": f"127.0.0.1:{ports['http']}", "proc": proc}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = None
    assert rc == 0


def _infer(client, module, x: np.ndarray, name: str = "features", datatype: str = "FP32") -> np.ndarray:
    inp = module.InferInput(name, list(x.shape), datatype)
    inp.set_data_from_numpy(x)
    return client.infer(MODEL, [inp]).as_numpy("output_softmax")


def test_metadata_and_config(server) -> None:
    g = grpc.InferenceServerClient(server["grpc"])
    h = http.InferenceServerClient(server["http"])
    for meta in (g.get_model_metadata(MODEL, as_json=True), h.get_model_metadata(MODEL)):
        assert meta["name"] == MODEL
        assert [(t["name"], t["datatype"], [int(d) for d in t["shape"]]) for t in meta["inputs"]] == [
            ("features", "FP32", [-1, 16])
        ]
        assert [(t["name"], t["datatype"], [int(d) for d in t["shape"]]) for t in meta["outputs"]] == [
            ("output_softmax", "FP32", [-1, 5])
        ]
    config = h.get_model_config(MODEL)
    assert config["backend"] == "python" and config["max_batch_size"] == 64
    assert config["dynamic_batching"]["preferred_batch_size"] == [16, 64]
    assert config["instance_group"][0]["count"] == 1 and config["instance_group"][0]["kind"] == "KIND_CPU"
    assert g.is_model_ready(MODEL) and h.is_server_live()


def test_1000_requests_bit_exact(server, projects) -> None:
    full, _ = projects
    rng = np.random.default_rng(11)
    x = rng.normal(size=(1000, 16)).astype(np.float32)
    expected = full.predict(x, backend="reference").astype(np.float32)
    g = grpc.InferenceServerClient(server["grpc"])
    h = http.InferenceServerClient(server["http"])
    got = np.stack([_infer(*((g, grpc) if i % 2 else (h, http)), x[i : i + 1])[0] for i in range(1000)])
    assert np.array_equal(got, expected)
    # a batch of 64 in one request, too
    assert np.array_equal(_infer(g, grpc, x[:64]), expected[:64])


def test_32_concurrent_clients(server, projects) -> None:
    full, _ = projects
    x = np.random.default_rng(12).normal(size=(32, 200, 16)).astype(np.float32)
    expected = full.predict(x.reshape(-1, 16), backend="reference").astype(np.float32).reshape(32, 200, 5)
    failed, wrong = [0] * 32, [0] * 32

    def client(i: int) -> None:
        c = grpc.InferenceServerClient(server["grpc"])
        for j in range(200):
            try:
                y = _infer(c, grpc, x[i, j : j + 1])
                wrong[i] += not np.array_equal(y[0], expected[i, j])
            except Exception:
                failed[i] += 1
        c.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert (sum(failed), sum(wrong)) == (0, 0)


def test_malformed_requests_get_errors(server, projects) -> None:
    full, _ = projects
    g = grpc.InferenceServerClient(server["grpc"])
    h = http.InferenceServerClient(server["http"])
    ok = np.zeros((1, 16), np.float32)
    bad = [
        ("wrong input name", lambda c, m: _infer(c, m, ok, name="x")),
        ("wrong shape", lambda c, m: _infer(c, m, np.zeros((1, 15), np.float32))),
        ("wrong datatype", lambda c, m: _infer(c, m, np.zeros((1, 16), np.float64), datatype="FP64")),
        ("oversize batch", lambda c, m: _infer(c, m, np.zeros((65, 16), np.float32))),
        ("NaN input", lambda c, m: _infer(c, m, np.full((1, 16), np.nan, np.float32))),
    ]
    for what, call in bad:
        for c, m in ((g, grpc), (h, http)):
            with pytest.raises(InferenceServerException):
                call(c, m)
                pytest.fail(f"{what}: no error")
    for body in (b"", b"{", b'{"inputs": []}'):
        req = urllib.request.Request(f"http://{server['http']}/v2/models/{MODEL}/infer", data=body, method="POST")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code in (400, 500)  # Triton answers 500 for `{"inputs": []}`, 400 for unparsable JSON
    # still serving, still right
    assert np.array_equal(_infer(g, grpc, ok), full.predict(ok, backend="reference").astype(np.float32))
    assert server["proc"].poll() is None


def test_split_model_served(projects) -> None:
    _, split = projects
    x = np.random.default_rng(13).normal(size=(200, 16)).astype(np.float32)
    expected = split.predict(x, backend="reference").astype(np.float32)
    ports = {k: free_port() for k in ("http_port", "grpc_port", "metrics_port")}
    with serve_project(split.path, backend="csim", **ports).start() as srv:
        c = grpc.InferenceServerClient(srv.grpc_url)
        got = np.concatenate([_infer(c, grpc, x[i : i + 8]) for i in range(0, 200, 8)])
    assert np.array_equal(got, expected)


def test_serve_errors(tmp_path, projects) -> None:
    from nn2fpga.ir.errors import UserError

    with pytest.raises(UserError, match="no Triton model repository"):
        serve_project(tmp_path)
    # a port already taken: start() says so (the HTTP guard binds it before the server starts)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        srv = serve_project(
            projects[0].path, backend="reference", http_port=busy.getsockname()[1], grpc_port=free_port(),
            metrics_port=free_port(),
        )  # fmt: skip
        t0 = time.monotonic()
        with pytest.raises(UserError, match=f"cannot listen on 127.0.0.1:{busy.getsockname()[1]}.*in use"):
            srv.start(timeout=60)
    assert time.monotonic() - t0 < 30 and srv.process is None


def test_small_cnn_served_bit_exact(tmp_path) -> None:
    """An io_stream CNN project serves through the same driver and kernel interface: metadata and config
    match, 1,000 requests over gRPC and HTTP are bit-exact, 32 clients x 200 requests give 0 failed/wrong."""
    import keras

    import nn2fpga

    keras.utils.set_random_seed(5)
    i = keras.Input((12, 12, 3), name="image")
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(i)
    x = keras.layers.MaxPooling2D(2)(x)
    y = keras.layers.Conv2D(6, 3, padding="same")(x)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([x, y]))
    model = keras.Model(i, keras.layers.Dense(4, activation="softmax", name="probs")(x), name="small_cnn")
    config = {"IOType": "io_stream", "Model": {"Precision": "ap_fixed<18,8>"}, "Serving": {"MaxBatchSize": 8}}
    project = nn2fpga.convert(model, config=config, output_dir=tmp_path / "cnn")
    x = np.random.default_rng(14).normal(size=(1000, 12, 12, 3)).astype(np.float32)
    expected = project.predict(x, backend="reference").astype(np.float32)
    ports = {k: free_port() for k in ("http_port", "grpc_port", "metrics_port")}
    with serve_project(project.path, backend="csim", **ports).start() as srv:
        g, h = grpc.InferenceServerClient(srv.grpc_url), http.InferenceServerClient(srv.http_url)
        meta = g.get_model_metadata(project.name, as_json=True)
        assert [(t["name"], [int(d) for d in t["shape"]]) for t in meta["inputs"]] == [("image", [-1, 12, 12, 3])]
        assert [(t["name"], [int(d) for d in t["shape"]]) for t in meta["outputs"]] == [("probs_softmax", [-1, 4])]
        assert h.get_model_config(project.name)["max_batch_size"] == 8

        def infer(client, module, xs):
            inp = module.InferInput("image", list(xs.shape), "FP32")
            inp.set_data_from_numpy(xs)
            return client.infer(project.name, [inp]).as_numpy("probs_softmax")

        got = np.stack([infer(*((g, grpc) if k % 2 else (h, http)), x[k : k + 1])[0] for k in range(1000)])
        assert np.array_equal(got, expected)

        failed, wrong = [0] * 32, [0] * 32

        def client(c: int) -> None:
            conn = grpc.InferenceServerClient(srv.grpc_url)
            for j in range(200):
                k = (c * 200 + j) % 1000
                try:
                    wrong[c] += not np.array_equal(infer(conn, grpc, x[k : k + 1])[0], expected[k])
                except Exception:
                    failed[c] += 1
            conn.close()

        threads = [threading.Thread(target=client, args=(c,)) for c in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sum(failed) == 0 and sum(wrong) == 0


def test_loadtest_sends_real_samples(server, tmp_path) -> None:
    """`loadtest --data`: requests carry the given samples (cycling); a file of the wrong shape is refused."""
    from nn2fpga.ir.errors import UserError
    from nn2fpga.runtime.loadtest import loadtest

    x = np.random.default_rng(3).normal(size=(64, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    steps = loadtest(server["grpc"], MODEL, [1, 4], duration=1.0, data=str(tmp_path / "x.npy"), processes=1)
    assert all(s.requests > 0 and s.failed == 0 for s in steps)
    np.save(tmp_path / "bad.npy", x[:, :8])
    with pytest.raises(UserError, match=r"samples of shape \(8,\) \(n = 64\); model 'jet_tagger' takes \(16,\)"):
        loadtest(server["grpc"], MODEL, [1], duration=1.0, data=str(tmp_path / "bad.npy"))
