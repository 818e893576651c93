"""Start and stop NVIDIA Triton Inference Server on model repositories (DESIGN section 7).

`find_tritonserver` takes `tritonserver` from PATH, else the binary inside the `nvidia-pytriton`
wheel (the `serve` extra). The wheel keeps one Python-backend stub per Python version under
`pytriton/tritonserver/python_backend_stubs/3.X/` and none where the server looks, so
`TritonServer` assembles a private backend directory of symbolic links (libtriton_python.so,
triton_python_backend_utils.py, the stub for the running Python) in a temporary directory and
passes it as `--backend-directory`; nothing is written into site-packages. The stub embeds
libpython: LD_LIBRARY_PATH starts with this interpreter's LIBDIR so it loads the matching one,
and PATH starts with this interpreter's bin directory so the stub runs with this environment's
site-packages (the project's venv).

Every endpoint binds `host` (127.0.0.1 by default: --grpc-address, --metrics-address; HTTP is served by
`nn2fpga.runtime.guard` on `host`, which forwards checked requests to Triton's HTTP endpoint on a private
loopback port: some bodies crash Triton 2.51, docs/reliability.md).

A model's Python-backend stub that dies (killed, out of memory) leaves Triton answering "Stub process is not
healthy" for ever while it reports the model ready. So the server runs with explicit model control (every
model loaded at start), and a watchdog thread reloads the model of any stub that has died (`restarts` counts
them): requests in the meantime get errors, never wrong answers (tests/runtime/test_serve_faults.py).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from nn2fpga.ir.errors import UserError
from nn2fpga.runtime.guard import HttpGuard

log = logging.getLogger(__name__)

INSTALL_HINT = "install the serve extra (pip install 'nn2fpga[serve]') or put tritonserver on PATH"
WATCH_PERIOD_S = 0.5  # how often the watchdog looks at the Python-backend stubs
MAX_BODY = 64 * 2**20  # HTTP request bodies through the guard (nn2fpga.runtime.guard)
MAX_JSON = 2 * 2**20  # their JSON part: Triton 2.51 crashes on 4 MB that is not JSON


def stub_processes(server_pid: int) -> dict[int, tuple[str, str]]:
    """The Python-backend stubs under the tritonserver process `server_pid`: pid -> (state letter, model name of
    a model instance's stub; "" for a zombie, whose command line is gone, and for the short-lived stub a model
    load starts, named after the model, not an instance). Linux /proc; {} elsewhere."""
    stubs = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            args = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        comm, fields = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
        if int(fields[1]) == server_pid and comm.startswith("triton_python"):
            model = Path(os.fsdecode(args[1])).parent.parent.name if len(args) > 8 and args[1] else ""
            instance = os.fsdecode(args[8]) if len(args) > 8 else ""
            stubs[int(stat.parent.name)] = (fields[0], model if instance != model else "")
    return stubs


@dataclass(frozen=True)
class TritonInstall:
    """Where the server binary, its libraries and the Python backend live."""

    binary: Path
    lib_dirs: tuple[Path, ...]
    python_backend: Path | None  # directory with libtriton_python.so (None: the server's own backends)
    stub: Path | None


def find_tritonserver() -> TritonInstall:
    """`tritonserver` on PATH, else the one in the nvidia-pytriton wheel; UserError when neither exists."""
    on_path = shutil.which("tritonserver")
    if on_path:  # a full Triton install (container, tarball): its own backends directory applies
        return TritonInstall(Path(on_path), (), None, None)
    try:
        import pytriton
    except ImportError:
        raise UserError(f"no tritonserver found: {INSTALL_HINT}") from None
    root = Path(pytriton.__file__).resolve().parent / "tritonserver"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    binary, stub = root / "bin" / "tritonserver", root / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not binary.is_file():
        raise UserError(f"the nvidia-pytriton wheel holds no server binary at {binary}; {INSTALL_HINT}")
    if not stub.is_file():
        raise UserError(f"the nvidia-pytriton wheel has no Python backend stub for Python {version} ({stub})")
    libs = tuple(p for p in (root.parent.parent / "nvidia_pytriton.libs", root / "external_libs") if p.is_dir())
    return TritonInstall(binary, libs, root / "backends" / "python", stub)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` right now (tests and benchmarks start servers on these)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class TritonServer:
    """A tritonserver process on `repositories`; use as a context manager, or `start()` / `stop()`."""

    def __init__(
        self,
        repositories: list[Path] | Path,
        host: str = "127.0.0.1",
        http_port: int = 8000,
        grpc_port: int = 8001,
        metrics_port: int = 8002,
        env: dict[str, str] | None = None,
        log_file: Path | None = None,
        guard: bool = True,
        max_body: int = MAX_BODY,
        max_json: int = MAX_JSON,
    ) -> None:
        """`guard`: HTTP through `nn2fpga.runtime.guard` (bodies of at most `max_body` bytes, their JSON part at
        most `max_json`), Triton's own HTTP endpoint on a private loopback port."""
        self.repositories = [
            Path(r).resolve() for r in (repositories if isinstance(repositories, list) else [repositories])
        ]
        self.host, self.http_port, self.grpc_port, self.metrics_port = host, http_port, grpc_port, metrics_port
        self.guard = HttpGuard(host, http_port, free_port(), max_body, max_json) if guard else None
        # where Triton's HTTP endpoint is: behind the guard, a private loopback port
        self._triton_http = f"127.0.0.1:{self.guard.upstream}" if self.guard else None
        self.extra_env = dict(env or {})
        self.log_file = log_file
        self.process: subprocess.Popen | None = None
        self.restarts = 0  # models reloaded by the watchdog after their stub died
        self._watching = threading.Event()
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._log = None

    # ---- endpoints ----------------------------------------------------------------------------------

    @property
    def http_url(self) -> str:
        return f"{self._client_host}:{self.http_port}"

    @property
    def _admin(self) -> str:  # Triton's own HTTP endpoint (health, repository), not through the guard
        return self._triton_http or self.http_url

    @property
    def grpc_url(self) -> str:
        return f"{self._client_host}:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self._client_host}:{self.metrics_port}/metrics"

    @property
    def _client_host(self) -> str:
        return "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host

    # ---- process ------------------------------------------------------------------------------------

    def command(self, install: TritonInstall, backend_dir: Path | None) -> list[str]:
        cmd = [str(install.binary)]
        cmd += [f"--model-repository={r}" for r in self.repositories]
        if backend_dir is not None:
            cmd.append(f"--backend-directory={backend_dir}")
        ports = {"http": self.guard.upstream if self.guard else self.http_port, "grpc": self.grpc_port,
                 "metrics": self.metrics_port}  # fmt: skip
        cmd += [f"--{kind}-address={'127.0.0.1' if kind == 'http' and self.guard else self.host}" for kind in ports]
        cmd += [f"--{kind}-port={port}" for kind, port in ports.items()]
        cmd += ["--allow-gpu-metrics=false", "--strict-readiness=true", "--exit-timeout-secs=5", "--log-verbose=0"]
        cmd += ["--model-control-mode=explicit", "--load-model=*"]  # the watchdog may reload a model
        return cmd

    def environment(self, install: TritonInstall) -> dict[str, str]:
        env = dict(os.environ)
        libdir = sysconfig.get_config_var("LIBDIR") or ""
        parts = [libdir, *map(str, install.lib_dirs), env.get("LD_LIBRARY_PATH", "")]
        env["LD_LIBRARY_PATH"] = ":".join(p for p in parts if p)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 120.0, models: list[str] | None = None) -> TritonServer:
        """Start the server and wait until it and `models` (default: every model directory) are ready."""
        install = find_tritonserver()
        if self.guard is not None:  # its port first: a port in use fails before the server starts
            try:
                self.guard.start()
            except OSError as e:
                raise UserError(f"HTTP: {e}") from e
        self._tmp = tempfile.TemporaryDirectory(prefix="nn2fpga-triton-")
        backend_dir = None
        if install.python_backend is not None:
            backend_dir = Path(self._tmp.name) / "backends"
            (backend_dir / "python").mkdir(parents=True)
            for f in ("libtriton_python.so", "triton_python_backend_utils.py"):
                (backend_dir / "python" / f).symlink_to(install.python_backend / f)
            (backend_dir / "python" / "triton_python_backend_stub").symlink_to(install.stub)
        self.log_file = self.log_file or Path(self._tmp.name) / "tritonserver.log"
        self._log = open(self.log_file, "ab")  # noqa: SIM115  (closed in stop)
        cmd = self.command(install, backend_dir)
        log.info("starting %s", " ".join(cmd))
        # Its own session, so a Ctrl-C in the terminal reaches us first and we stop it in order.
        self.process = subprocess.Popen(
            cmd, env=self.environment(install), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        if models is None:
            models = sorted(p.name for r in self.repositories for p in r.iterdir() if (p / "config.pbtxt").is_file())
        try:
            self._wait_ready(models, timeout)
        except BaseException:
            self.stop()
            raise
        self._watching.set()
        threading.Thread(target=self._watch, args=(self.process,), name="nn2fpga-triton-watchdog", daemon=True).start()
        return self

    def _watch(self, process: subprocess.Popen) -> None:
        """Reload the model of every Python-backend stub that dies while the server runs."""
        alive: dict[int, str] = {}  # stub pid -> its model
        while self._watching.is_set() and process.poll() is None:
            stubs = stub_processes(process.pid)
            alive.update({pid: model for pid, (state, model) in stubs.items() if state != "Z" and model})
            for pid in [pid for pid in alive if pid not in stubs or stubs[pid][0] == "Z"]:
                model = alive.pop(pid)
                if not self._watching.is_set():
                    return
                log.warning("the backend process of model %r died; reloading the model", model)
                self.restarts += 1
                try:  # a load of a loaded, unchanged model does nothing: unload first (unavailable till loaded)
                    for action in ("unload", "load"):
                        url = f"http://{self._admin}/v2/repository/models/{model}/{action}"
                        request = urllib.request.Request(url, data=b"{}", method="POST")
                        urllib.request.urlopen(request, timeout=120).close()
                except (urllib.error.URLError, OSError) as e:
                    log.warning("reloading model %r failed: %s", model, e)
            time.sleep(WATCH_PERIOD_S)

    def _wait_ready(self, models: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        paths = ["/v2/health/ready", *(f"/v2/models/{m}/ready" for m in models)]
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise UserError(
                    f"tritonserver exited with status {self.process.returncode} while starting; "
                    f"log: {self.log_file}\n{self.log_tail()}"
                )
            if all(self._get(p) == 200 for p in paths):
                return
            failed = [m for m in self._index() if m.get("state") == "UNAVAILABLE" and m.get("name") in models]
            if failed:  # a model that failed to load never becomes ready: say why now
                m = failed[0]
                raise UserError(
                    f"Triton could not load model {m['name']!r}: {m.get('reason', '?')}; log: {self.log_file}"
                )
            time.sleep(0.2)
        raise UserError(f"tritonserver was not ready after {timeout:.0f} s; log: {self.log_file}\n{self.log_tail()}")

    def _get(self, path: str) -> int:
        try:
            with urllib.request.urlopen(f"http://{self._admin}{path}", timeout=2) as r:
                return r.status
        except (urllib.error.URLError, OSError):
            return 0

    def _index(self) -> list[dict]:
        """The repository index (name, state, reason of every model), or [] while the server is not up."""
        req = urllib.request.Request(f"http://{self._admin}/v2/repository/index", data=b"{}", method="POST")
        try:
            with urllib.request.urlopen(req, timeout=2) as r:
                return json.loads(r.read())
        except (urllib.error.URLError, OSError, ValueError):
            return []

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(Path(self.log_file).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (Triton unloads the models and exits), SIGKILL to its process group after `timeout`."""
        rc = None
        self._watching.clear()
        if self.guard is not None:
            self.guard.stop()
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    log.warning("tritonserver did not exit within %.0f s; killing it", timeout)
                    os.killpg(self.process.pid, signal.SIGKILL)  # its own session: the server and its stubs
                    self.process.wait()
            rc = self.process.returncode
            try:  # what is left of its session (a stub outliving the server, e.g. after SIGTERM under load)
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return rc

    def __enter__(self) -> TritonServer:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_project(project_dir: Path, backend: str | None = None, **server_options) -> TritonServer:
    """A (not yet started) TritonServer on the project's triton/ repository; builds csim first when used."""
    project_dir = Path(project_dir).resolve()
    repo = project_dir / "triton"
    if not repo.is_dir() or not any((p / "config.pbtxt").is_file() for p in repo.iterdir()):
        raise UserError(f"{project_dir} has no Triton model repository (triton/); convert the model again")
    if backend is not None and backend not in ("csim", "reference", "xrt"):
        raise UserError(f"unknown backend {backend!r}; choose one of csim, reference, xrt")
    from nn2fpga.config import Config

    config = Config.from_yaml(project_dir / "nn2fpga.yml")
    if (backend or config.serving["Backend"]) == "csim":  # build once here, not in every model instance
        from nn2fpga.sim.csim import build

        build(project_dir, json.loads((project_dir / "report.json").read_text())["project"])
    env = dict(server_options.pop("env", None) or {})
    if backend is not None:
        env["NN2FPGA_SERVE_BACKEND"] = backend
    return TritonServer(repo, env=env, **server_options)
