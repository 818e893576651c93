"""Serving under faults, with a real Triton on loopback (issue 15, item 3; docs/reliability.md).

- The model's backend process (the Python-backend stub running host/driver.py) is killed with SIGKILL during a
  16-client load: clients get errors while it is gone, never a wrong answer; nn2fpga's watchdog reloads the
  model (Triton itself would answer "not healthy" for ever while reporting the model ready) and it serves
  right again.
- A 100 MB request body, a wrong shape, a wrong datatype and a batch above the maximum each get an error while
  the server keeps serving.
- SIGTERM during a 16-client load: every request that was answered is right, the others get an error; the
  server exits.

Every loop is bounded in count and in time. Each test prints its counts (`pytest -s` shows them).
"""

from __future__ import annotations

import os
import signal
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.importorskip("keras")
grpc = pytest.importorskip("tritonclient.grpc")
from tritonclient.utils import InferenceServerException  # noqa: E402

from nn2fpga.runtime.triton import find_tritonserver, free_port, serve_project, stub_processes  # noqa: E402

pytestmark = [pytest.mark.serve, pytest.mark.keras, pytest.mark.csim]
N_IN, CLIENTS, MAX_BATCH, OUTPUT = 16, 16, 8, "probs_softmax"

try:
    find_tritonserver()
except Exception:
    pytest.skip("no tritonserver (install the serve extra)", allow_module_level=True)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    import keras

    import nn2fpga

    keras.utils.set_random_seed(11)
    i = keras.Input((N_IN,), name="features")
    h = keras.layers.Dense(32, activation="relu")(i)
    model = keras.Model(i, keras.layers.Dense(5, activation="softmax", name="probs")(h), name="fault_tagger")
    config = {"Serving": {"MaxBatchSize": MAX_BATCH, "Instances": 1}}
    return nn2fpga.convert(model, config=config, output_dir=tmp_path_factory.mktemp("faults") / "prj")


def _server(project):
    ports = {k: free_port() for k in ("http_port", "grpc_port", "metrics_port")}
    return serve_project(project.path, backend="csim", **ports).start()


def _request(x: np.ndarray):
    tensor = grpc.InferInput("features", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    return [tensor]


class Load:
    """CLIENTS threads, each sending one-sample requests (at most `per_client`, until `stop` or `seconds`),
    counting answers that are right, answers that are wrong and errors."""

    def __init__(self, url: str, project, per_client: int = 100_000, seconds: float = 30.0) -> None:
        rng = np.random.default_rng(3)
        self.x = rng.normal(size=(64, N_IN)).astype(np.float32)
        self.expected = project.predict(self.x, backend="reference").astype(np.float32)
        self.url, self.per_client, self.seconds, self.model = url, per_client, seconds, project.name
        self.stop = threading.Event()
        self.right = self.wrong = self.errors = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, args=(k,)) for k in range(CLIENTS)]

    def _client(self, k: int) -> None:
        client = grpc.InferenceServerClient(self.url)
        end = time.monotonic() + self.seconds
        for j in range(self.per_client):
            if self.stop.is_set() or time.monotonic() > end:
                break
            row = (k * 7 + j) % len(self.x)
            try:
                y = client.infer(self.model, _request(self.x[row : row + 1]), client_timeout=30).as_numpy(OUTPUT)
                ok = np.array_equal(y[0], self.expected[row])
                with self.lock:
                    self.right += ok
                    self.wrong += not ok
            except Exception:  # an error is allowed; a wrong answer is not
                with self.lock:
                    self.errors += 1
                time.sleep(0.05)
        client.close()

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(self.seconds + 40)
        assert not any(t.is_alive() for t in self.threads), "a client hung"

    @property
    def total(self) -> int:
        return self.right + self.wrong + self.errors


def _serves_right(url: str, load: Load, seconds: float) -> bool:
    """Whether one request gets the right answer within `seconds` (bounded retries)."""
    client = grpc.InferenceServerClient(url)
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                y = client.infer(load.model, _request(load.x[:4]), client_timeout=30).as_numpy(OUTPUT)
                return np.array_equal(y, load.expected[:4])
            except InferenceServerException:
                time.sleep(0.5)
        return False
    finally:
        client.close()


def test_backend_killed_under_load(project) -> None:
    with _server(project) as server:
        stubs = [pid for pid, (state, model) in stub_processes(server.process.pid).items() if model]
        assert stubs, "no Python-backend stub under tritonserver"
        with Load(server.grpc_url, project) as load:
            time.sleep(2.0)
            before = load.right
            for pid in stubs:
                os.kill(pid, signal.SIGKILL)
            time.sleep(6.0)
            after_kill = load.right - before
        recovered = _serves_right(server.grpc_url, load, 60)
        print(
            f"\nbackend killed under load: {load.total} requests ({before} right before the kill, {after_kill} "
            f"right after it): {load.right} right, {load.wrong} wrong, {load.errors} errors; watchdog reloads "
            f"{server.restarts}; serves right afterwards: {recovered}"
        )
        assert load.wrong == 0  # errors while the model reloads, never a wrong answer
        assert before > 0 and after_kill > 0 and recovered  # the watchdog reloaded the model under load
        assert server.restarts == 1 and server.process.poll() is None


def test_bad_requests_while_loaded(project) -> None:
    with _server(project) as server:
        client = grpc.InferenceServerClient(server.grpc_url)
        with Load(server.grpc_url, project, per_client=60) as load:
            bad = {
                "wrong shape": _request(np.zeros((1, N_IN - 1), np.float32)),
                "batch above the maximum": _request(np.zeros((MAX_BATCH + 1, N_IN), np.float32)),
            }
            wrong_type = grpc.InferInput("features", [1, N_IN], "FP64")
            wrong_type.set_data_from_numpy(np.zeros((1, N_IN), np.float64))
            bad["wrong datatype"] = [wrong_type]
            for what, inputs in bad.items():
                with pytest.raises(InferenceServerException):
                    client.infer(project.name, inputs, client_timeout=30)
                    pytest.fail(f"{what}: no error")
            big = grpc.InferInput("features", [1, 25 * 2**20], "FP32")  # a 100 MB gRPC message
            big.set_data_from_numpy(np.zeros((1, 25 * 2**20), np.float32))
            with pytest.raises(InferenceServerException):
                client.infer(project.name, [big], client_timeout=60)
            head = b'{"inputs": [{"name": "features", "shape": [1, 16], "datatype": "FP32", "data": ['
            bodies = {  # the middle two make Triton 2.51 itself die of SIGSEGV (docs/reliability.md)
                "100 MB body": head + b"0," * (50 * 2**20),
                "4 MB not JSON": b"x" * (4 * 2**20),
                "JSON 200,000 levels deep": b"[" * 200_000,
                "3 MB of JSON": head + b"0," * (3 * 2**19) + b"0]}]}",
            }
            for what, body in bodies.items():
                url = f"http://{server.http_url}/v2/models/{project.name}/infer"
                req = urllib.request.Request(url, data=body, method="POST")
                try:
                    urllib.request.urlopen(req, timeout=60)
                    pytest.fail(f"{what}: an answer")
                except urllib.error.HTTPError as e:
                    assert e.code in (400, 413), what
                    assert "error" in e.read().decode(), what
                except (ConnectionError, urllib.error.URLError):  # sent on after the refusal: the connection closed
                    pass
                assert server.process.poll() is None, f"{what}: the server died"
            assert server.guard.refused == len(bodies)
        print(
            f"\nbad requests under load: {load.total} good requests: {load.right} right, {load.wrong} wrong, "
            f"{load.errors} errors"
        )
        assert load.wrong == 0 and load.right > 0
        assert _serves_right(server.grpc_url, load, 10)
        client.close()
        assert server.process.poll() is None


def test_shutdown_during_load(project) -> None:
    server = _server(project)
    try:
        with Load(server.grpc_url, project, seconds=40) as load:
            time.sleep(2.0)
            before = load.total
            server.process.send_signal(signal.SIGTERM)
            rc = server.process.wait(60)
    finally:
        server.stop()
    print(
        f"\nshutdown under load: {load.total} requests ({before} before SIGTERM): {load.right} right, "
        f"{load.wrong} wrong, {load.errors} errors; server exit status {rc}"
    )
    assert load.wrong == 0 and before > 0 and load.right >= before
    assert rc is not None
