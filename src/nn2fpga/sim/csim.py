"""C simulation: build a project with g++ into one shared library (cached by source hash) and call it.

The library exports the same kernel the hardware has (raw words in, raw words out) plus
`n2f_predict`, which splits a batch across threads (called through `nn2fpga.sim.binding`, the one
ctypes binding). Constants are loaded at run time from the project's weights/*.npy, so even large
models compile quickly.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from nn2fpga import toolchain
from nn2fpga.ir.errors import CompileError, UserError
from nn2fpga.ir.rules import raw_container
from nn2fpga.ir.types import FixedType
from nn2fpga.sim.binding import Library

log = logging.getLogger(__name__)

CXX = os.environ.get("CXX", "g++")
# -march=native: 4x faster dense loops (bench/dense_csim.py); the cache key includes the CPU's flags.
# -fno-gnu-unique: a template's static storage (the URAM banks and off-chip decode of n2f/stream.h) is otherwise a
# STB_GNU_UNIQUE symbol, one per process: two projects with a layer of the same name (config_conv_2 in
# MobileNetV3Small and Large) loaded in one process would share it, whatever dlopen's flags (seen: wrong csim outputs).
OPT_FLAGS = (
    "-O2 -march=native -ffp-contract=off -fPIC -shared -pthread -DN2F_WEIGHTS_FROM_FILES -w -fno-gnu-unique".split()
)


def cache_dir() -> Path:
    """Where built libraries are kept: $NN2FPGA_CACHE/csim, else $XDG_CACHE_HOME/nn2fpga/csim (~/.cache)."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(os.environ.get("NN2FPGA_CACHE") or Path(cache) / "nn2fpga") / "csim"


def _sources(project_dir: Path, project: str) -> list[Path]:
    firmware = project_dir / "firmware"
    return [firmware / f"{project}.cpp", firmware / "kernel.cpp", project_dir / "csim" / "bridge.cpp"]


def source_hash(project_dir: Path, project: str, flags: Sequence[str] = ()) -> str:
    """Hash of every source the build reads (firmware, library, headers) and of the flags (`flags`: extra
    ones, such as the bounded-FIFO mode's, which make a library of their own)."""
    h = hashlib.sha256()
    h.update(" ".join([CXX, *OPT_FLAGS, *flags, *toolchain.cflags()]).encode())
    h.update(_cpu_flags().encode())
    files = sorted((project_dir / "firmware").rglob("*.h")) + _sources(project_dir, project)
    files += sorted(p for d in toolchain.include_dirs() for p in Path(d).glob("*.h"))
    for f in files:
        if f.parent.name == "weights" and f.parent.parent.name == "firmware":
            continue  # synthesis literals; csim reads weights/*.npy
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:24]


def _cpu_flags() -> str:
    """The host CPU's feature flags (a library built with -march=native runs only on such CPUs)."""
    try:
        return next(ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith(("flags", "Features")))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def _run_with_progress(cmd: list[str], desc: str, progress: bool) -> subprocess.CompletedProcess:
    """subprocess.run, with a seconds-elapsed progress bar on stderr while it runs (when `progress`)."""
    with (
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc,
        tqdm(desc=desc, bar_format="{desc}: {elapsed}", leave=False, disable=not progress) as bar,
    ):
        while True:
            try:  # retrying communicate() after its timeout loses no output
                out, err = proc.communicate(timeout=0.5)
                return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
            except subprocess.TimeoutExpired:
                bar.refresh()


def build(project_dir: Path, project: str, progress: bool = False, flags: Sequence[str] = ()) -> Path:
    """Compile (or reuse from the cache) the project's shared library, with extra g++ `flags` before the
    usual ones; returns its private copy."""
    project_dir = Path(project_dir)
    digest = source_hash(project_dir, project, flags)
    cached = cache_dir() / f"{project}-{digest}.so"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        log_path = project_dir / "csim" / "build.log"
        with tempfile.TemporaryDirectory(dir=cached.parent) as tmp:
            out = Path(tmp) / "lib.so"
            cmd = [CXX, *OPT_FLAGS, *flags, *toolchain.cflags(), f"-I{project_dir / 'firmware'}"]
            cmd += [*map(str, _sources(project_dir, project)), "-o", str(out)]
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


class CSim(Library):
    """A loaded C simulation library with its weights and the types of the project's inputs and outputs."""

    def __init__(
        self, library: Path, project_dir: Path, inputs: Sequence[tuple[int, FixedType]],
        outputs: Sequence[tuple[int, FixedType]],
    ) -> None:  # fmt: skip
        """`inputs` / `outputs`: each port's values per sample and type, in model order."""
        self.input_types, self.output_types = [t for _, t in inputs], [t for _, t in outputs]
        try:
            super().__init__(library, Path(project_dir) / "weights", *(
                [(n, raw_container(t)) for n, t in ports] for ports in (inputs, outputs)))  # fmt: skip
        except ValueError as e:
            raise UserError(str(e)) from e

    def predict(self, x, threads: int = 1) -> np.ndarray | list[np.ndarray]:
        """Float inputs (batch, ...), one array per input (or one array), -> float outputs (batch, n), one per
        output (an array for one output), bit-exact with the kernel."""
        xs = list(x) if isinstance(x, (list, tuple)) else [x]
        raws = [t.to_raw(np.asarray(v, dtype=np.float64).reshape(len(v), n)) for t, v, (n, _) in zip(
            self.input_types, xs, self.inputs)]  # fmt: skip
        ys = [t.from_raw(r) for t, r in zip(self.output_types, self.predict_ports(raws, threads))]
        return ys[0] if len(ys) == 1 else ys
