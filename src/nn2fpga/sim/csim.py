"""C simulation: build a project with g++ into one shared library (cached by source hash) and call it.

The library exports the same kernel the hardware has (raw words in, raw words out) plus
`n2f_predict`, which splits a batch across threads. Constants are loaded at run time from the
project's weights/*.bin, so even large models compile quickly.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from nn2fpga import toolchain
from nn2fpga.ir.errors import CompileError, UserError
from nn2fpga.ir.types import FixedType

log = logging.getLogger(__name__)

CXX = os.environ.get("CXX", "g++")
# -march=native: 4x faster dense loops (bench/dense_csim.py); the cache key includes the CPU's flags.
OPT_FLAGS = [
    "-O2",
    "-march=native",
    "-ffp-contract=off",
    "-fPIC",
    "-shared",
    "-pthread",
    "-DN2F_WEIGHTS_FROM_FILES",
    "-w",
]
_CTYPES = {
    "int8_t": ctypes.c_int8,
    "uint8_t": ctypes.c_uint8,
    "int16_t": ctypes.c_int16,
    "uint16_t": ctypes.c_uint16,
    "int32_t": ctypes.c_int32,
    "uint32_t": ctypes.c_uint32,
    "int64_t": ctypes.c_int64,
    "uint64_t": ctypes.c_uint64,
}


def cache_dir() -> Path:
    root = os.environ.get("NN2FPGA_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"), "nn2fpga"
    )
    return Path(root) / "csim"


def _sources(project_dir: Path, project: str) -> list[Path]:
    return [
        project_dir / "firmware" / f"{project}.cpp",
        project_dir / "firmware" / "kernel.cpp",
        project_dir / "csim" / "bridge.cpp",
    ]


def _command(project_dir: Path, project: str, out: Path) -> list[str]:
    return [
        CXX,
        *OPT_FLAGS,
        *toolchain.cflags(),
        f"-I{project_dir / 'firmware'}",
        *map(str, _sources(project_dir, project)),
        "-o",
        str(out),
    ]


def source_hash(project_dir: Path, project: str) -> str:
    """Hash of every source the build reads (firmware, library, headers) and of the flags."""
    h = hashlib.sha256()
    h.update(" ".join([CXX, *OPT_FLAGS, *toolchain.cflags()]).encode())
    h.update(_cpu_flags().encode())
    files = sorted((project_dir / "firmware").rglob("*.h")) + _sources(project_dir, project)
    files += sorted(p for d in toolchain.include_dirs() for p in Path(d).glob("*.h"))
    for f in files:
        if f.parent.name == "weights" and f.parent.parent.name == "firmware":
            continue  # synthesis literals; csim reads weights/*.bin
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:24]


def _cpu_flags() -> str:
    """The host CPU's feature flags (a library built with -march=native runs only on such CPUs)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def _run_with_progress(cmd: list[str], desc: str, progress: bool) -> subprocess.CompletedProcess:
    """subprocess.run, with a seconds-elapsed progress bar on stderr while it runs (when `progress`)."""
    if not progress:
        return subprocess.run(cmd, capture_output=True, text=True)
    import threading

    from tqdm import tqdm

    done = threading.Event()
    with tqdm(desc=desc, unit="s", bar_format="{desc}: {elapsed}", leave=False) as bar:

        def tick() -> None:
            while not done.wait(0.5):
                bar.refresh()

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            return subprocess.run(cmd, capture_output=True, text=True)
        finally:
            done.set()
            ticker.join()


def build(project_dir: Path, project: str, progress: bool = False) -> Path:
    """Compile (or reuse from the cache) the project's shared library; returns its private copy."""
    project_dir = Path(project_dir)
    digest = source_hash(project_dir, project)
    cached = cache_dir() / f"{project}-{digest}.so"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        log_path = project_dir / "csim" / "build.log"
        with tempfile.TemporaryDirectory(dir=cached.parent) as tmp:
            out = Path(tmp) / "lib.so"
            cmd = _command(project_dir, project, out)
            log.info("compiling C simulation: %s", " ".join(cmd))
            proc = _run_with_progress(cmd, f"compiling {project} (g++)", progress)
            log_path.write_text(" ".join(cmd) + "\n\n" + proc.stdout + proc.stderr)
            if proc.returncode != 0:
                errors = [ln for ln in proc.stderr.splitlines() if "error" in ln][:5] or proc.stderr.splitlines()[:5]
                raise CompileError(f"g++ failed building {project_dir} (log: {log_path}):\n" + "\n".join(errors))
            os.replace(out, cached)
    # A private copy per project: dlopen() shares one copy per file, and weights are globals.
    private = project_dir / "csim" / f"lib{project}-{digest}.so"
    if not private.exists():
        tmp = private.with_suffix(".tmp")
        shutil.copyfile(cached, tmp)
        os.replace(tmp, private)
    return private


class CSim:
    """A loaded C simulation library with its weights."""

    def __init__(
        self, library: Path, project_dir: Path, input_type: FixedType, output_type: FixedType, in_raw: str, out_raw: str
    ) -> None:
        self.lib = ctypes.CDLL(str(library))
        self.input_type, self.output_type = input_type, output_type
        self.in_dtype, self.out_dtype = np.dtype(_CTYPES[in_raw]), np.dtype(_CTYPES[out_raw])
        self.lib.n2f_predict.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long, ctypes.c_int]
        self.lib.n2f_load_weights.argtypes = [ctypes.c_char_p]
        n_in, n_out = ctypes.c_int(), ctypes.c_int()
        self.lib.n2f_sizes(ctypes.byref(n_in), ctypes.byref(n_out))
        self.n_in, self.n_out = n_in.value, n_out.value
        if self.lib.n2f_load_weights(str(Path(project_dir) / "weights").encode()) != 0:
            raise UserError(f"{project_dir}/weights: missing or truncated weight files (see stderr)")

    def predict_raw(self, raw: np.ndarray, threads: int = 1) -> np.ndarray:
        raw = np.ascontiguousarray(raw, dtype=self.in_dtype).reshape(-1, self.n_in)
        out = np.empty((raw.shape[0], self.n_out), dtype=self.out_dtype)
        self.lib.n2f_predict(raw.ctypes.data, out.ctypes.data, raw.shape[0], threads)
        return out

    def predict(self, x: np.ndarray, threads: int = 1) -> np.ndarray:
        """Float inputs (batch, ...) -> float outputs (batch, n_out), bit-exact with the kernel."""
        x = np.asarray(x, dtype=np.float64)
        raw = self.input_type.to_raw(x.reshape(x.shape[0], -1))
        return self.output_type.from_raw(self.predict_raw(raw, threads))
