"""Hostile model files, built by hand (zipfile, h5py, json: no Keras), and the measured run of the CLI on one.

Shared by tests/frontend/test_hostile.py (one test per case) and bench/hostile.py (the table in
docs/reliability.md). Every file is small on disk and quick to make: the bombs declare gigabytes, they do not
hold them. `CASES` maps a case to (builder, a fragment its one-line error must contain).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

GiB = 1 << 30

# ---- a valid Keras 3 model, by hand: Input x (4,) -> Dense d (3) ------------------------------------------


def _tensor(name: str, width: int) -> dict[str, Any]:
    return {"class_name": "__keras_tensor__", "config": {"shape": [None, width], "dtype": "float32",
            "keras_history": [name, 0, 0]}}  # fmt: skip


def _input(name: str = "x", width: int = 4) -> dict[str, Any]:
    return {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, width],
            "dtype": "float32", "name": name}, "registered_name": None, "name": name, "inbound_nodes": []}  # fmt: skip


def _dense(name: str = "d", units: int = 3, width: int = 4, src: str = "x") -> dict[str, Any]:
    return {"module": "keras.layers", "class_name": "Dense", "config": {"name": name, "units": units,
            "activation": "linear", "use_bias": True}, "registered_name": None,
            "build_config": {"input_shape": [None, width]}, "name": name,
            "inbound_nodes": [{"args": [_tensor(src, width)], "kwargs": {}}]}  # fmt: skip


def keras3_config(layers: list[dict[str, Any]] | None = None, out: str = "d") -> dict[str, Any]:
    layers = [_input(), _dense()] if layers is None else layers
    inner = {"name": "m", "layers": layers, "input_layers": ["x", 0, 0], "output_layers": [out, 0, 0]}
    return {"module": "keras.src.models.functional", "class_name": "Functional", "config": inner}


def weights_h5(arrays: dict[str, list[np.ndarray]], edit: Callable[[Any], None] | None = None) -> bytes:
    """model.weights.h5 bytes: layers/<name>/vars/<i> datasets, the group named by its `name` attribute."""
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        for name, values in arrays.items():
            group = f.create_group(f"layers/{name}/vars")
            group.attrs["name"] = name
            for i, v in enumerate(values):
                group.create_dataset(str(i), data=v)
        if edit is not None:
            edit(f)
    return buf.getvalue()


DENSE = {"d": [np.ones((4, 3), np.float32), np.zeros(3, np.float32)]}


def keras_file(path: Path, config: Any = None, weights: bytes | None = None, extra: dict[str, bytes] | None = None,
               method: int = zipfile.ZIP_STORED) -> Path:  # fmt: skip
    text = config if isinstance(config, (str, bytes)) else json.dumps(keras3_config() if config is None else config)
    with zipfile.ZipFile(path, "w", compression=method) as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        z.writestr("config.json", text)
        z.writestr("model.weights.h5", weights_h5(DENSE) if weights is None else weights)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return path


def declare(path: Path, name: str, file_size: int, compress_size: int | None = None) -> Path:
    """Patch the central directory entry of `name`: declared uncompressed (and compressed) sizes."""
    data, at = bytearray(path.read_bytes()), 0
    while True:
        at = data.index(b"PK\x01\x02", at)
        n = int.from_bytes(data[at + 28 : at + 30], "little")
        if data[at + 46 : at + 46 + n].decode() == name:
            break
        at += 4
    if compress_size is not None:
        data[at + 20 : at + 24] = compress_size.to_bytes(4, "little")
    data[at + 24 : at + 28] = file_size.to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


# ---- the cases ---------------------------------------------------------------------------------------------


def bomb(path: Path, name: str = "model.weights.h5", size: int = 64 << 20) -> Path:
    """`name` holds `size` zero bytes deflated (about size / 1000 on disk)."""
    keras_file(path)
    with zipfile.ZipFile(path) as src:
        members = {n: src.read(n) for n in src.namelist() if n != name}
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for n, data in members.items():
            z.writestr(n, data)
        with z.open(name, "w", force_zip64=size >= 0xFFFFFFFF) as f:
            for _ in range(size // len(chunk)):
                f.write(chunk)
    return path


def _lying_config(path: Path) -> Path:
    """config.json deflated from 32 MiB of spaces around {}, its header declaring 200 bytes."""
    keras_file(path, config=b" " * (32 << 20) + b"{}", method=zipfile.ZIP_DEFLATED)
    return declare(path, "config.json", 200)


def dataset_bomb(f: Any) -> None:
    f["layers/d/vars"].create_dataset("2", shape=(GiB,), dtype="float32")  # never written: no storage


def _external(f: Any) -> None:
    f["layers/d/vars"].create_dataset("2", shape=(16,), dtype="float32", external=[("/dev/zero", 0, 64)])


def _h5_legacy(path: Path, config: dict[str, Any], truncate: bool = False) -> Path:
    """A tf_keras .h5 model file: attributes keras_version and model_config, weights under model_weights."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"], f.attrs["backend"] = "2.15.0", "tensorflow"
        f.attrs["model_config"] = json.dumps(config)
        g = f.create_group("model_weights/d/d")
        g.create_dataset("kernel:0", data=np.ones((4, 3), np.float32))
        g.create_dataset("bias:0", data=np.zeros(3, np.float32))
        f.create_dataset("model_weights/padding", data=np.zeros(4096, np.float32))
    if truncate:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def _tf_keras_config(layer: dict[str, Any]) -> dict[str, Any]:
    return {"class_name": "Functional", "config": {"name": "q", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "dtype": "float32", "name": "x"},
         "name": "x", "inbound_nodes": []},
        {**layer, "name": layer["config"]["name"], "inbound_nodes": [[["x", 0, 0, {}]]]}],
        "input_layers": [["x", 0, 0]], "output_layers": [[layer["config"]["name"], 0, 0]]}}  # fmt: skip


def _qdense(quantizer: Any) -> dict[str, Any]:
    return {"class_name": "QDense", "config": {"name": "qd", "units": 3, "activation": "linear", "use_bias": True,
            "kernel_quantizer": quantizer, "bias_quantizer": None}}  # fmt: skip


QACTIVATION = {"class_name": "QActivation", "config": {"name": "qa", "activation": "os_system(1)"}}
EVIL_QUANTIZER = {"module": "qkeras.quantizers", "class_name": "quantized_evil", "config": {"bits": 4}}


def _nested_lambda() -> dict[str, Any]:
    lam = {"module": "keras.layers", "class_name": "Lambda", "config": {"name": "evil", "function": {
           "class_name": "__lambda__", "config": {"code": "4wEAAAAA", "defaults": None, "closure": None}}},
           "build_config": {"input_shape": [None, 4]}}  # fmt: skip
    inner = {"module": "keras", "class_name": "Sequential", "config": {"name": "inner", "layers": [
             {**_input("inner_in"), "inbound_nodes": None}, lam]}, "build_config": {"input_shape": [None, 4]},
             "name": "inner", "inbound_nodes": [{"args": [_tensor("x", 4)], "kwargs": {}}]}  # fmt: skip
    return keras3_config([_input(), inner], out="inner")


def _deep() -> bytes:
    return b"[" * 100_000 + b"]" * 100_000


def _directory(path: Path) -> Path:
    """The end-of-directory record declares a 16 MiB central directory."""
    data = bytearray(keras_file(path).read_bytes())
    at = data.rindex(b"PK\x05\x06")
    data[at + 12 : at + 16] = (16 << 20).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


def _wide_config() -> dict[str, Any]:
    return keras3_config([_input(width=10**9), _dense(width=10**9)])


def _big_kernel() -> dict[str, Any]:
    return keras3_config([_input(width=1 << 16), _dense(units=1 << 16, width=1 << 16)])


def _truncated_weights(path: Path) -> Path:
    data = weights_h5({"d": [np.ones((64, 3), np.float32), np.zeros(3, np.float32)]})
    return keras_file(path, weights=data[: len(data) // 2])


Builder = Callable[[Path], Path]
CASES: dict[str, tuple[str, Builder, str]] = {
    # case: (file name, builder, fragment of the error); `valid` converts (exit 0)
    "valid": ("valid.keras", keras_file, ""),
    "path traversal": ("traversal.keras", lambda p: keras_file(p, extra={"../../evil.sh": b"#!/bin/sh"}),
                       "'../../evil.sh' is a path that leaves the archive"),
    "absolute path": ("absolute.keras", lambda p: keras_file(p, extra={"/tmp/evil": b"x"}),
                      "'/tmp/evil' is a path that leaves the archive"),
    "backslash path": ("backslash.keras", lambda p: keras_file(p, extra={"..\\evil": b"x"}),
                       "'..\\\\evil' is a path that leaves the archive"),
    "assets member": ("assets.keras", lambda p: keras_file(p, extra={"assets/vocab.txt": b"a\nb"}),
                      "'assets/vocab.txt' is not a member nn2fpga reads"),
    "bomb, 4 GiB declared": ("bomb_declared.keras", lambda p: declare(keras_file(p), "model.weights.h5", 4 * GiB - 1),
                             "declares 4294967295 bytes from"),
    "bomb, 64 MiB of zeros": ("bomb_zeros.keras", bomb, "a ratio above 100 (a decompression bomb)"),
    "bomb, 1.5 GiB stored": ("bomb_total.keras",
                             lambda p: declare(keras_file(p), "model.weights.h5", 3 * GiB // 2, 3 * GiB // 2),
                             "the members declare 1610"),
    "size header lies": ("lying.keras", _lying_config, "Bad CRC-32 for file 'config.json'"),
    "zip directory 16 MiB": ("directory.keras", _directory, "the zip directory declares 16777216 bytes"),
    "bzip2 member": ("bzip2.keras", lambda p: keras_file(p, method=zipfile.ZIP_BZIP2), "compression method 12"),
    "JSON 100k deep": ("deep.keras", lambda p: keras_file(p, config=_deep()), "more than 64 levels deep"),
    "input 10^9 wide": ("wide.keras", lambda p: keras_file(p, config=_wide_config()),
                        "layer 'x': batch_shape [None, 1000000000] declares 1000000000 values per sample"),
    "kernel 2^32 values": ("kernel.keras", lambda p: keras_file(p, config=_big_kernel()),
                           "layer 'd' (Dense): its weights would hold 4294967296 values"),
    "weights do not match": ("mismatch.keras", lambda p: keras_file(p, weights=weights_h5(
                             {"d": [np.ones((4, 5), np.float32), np.zeros(5, np.float32)]})),
                             "layer 'd': model.weights.h5 stores variables of shapes [(4, 5), (5,)], the config "
                             "needs kernel (4, 3), bias (3,)"),
    "HDF5 dataset bomb": ("h5bomb.keras", lambda p: keras_file(p, weights=weights_h5(DENSE, dataset_bomb)),
                          "dataset /layers/d/vars/2 declares 4294967296 bytes from 0 stored"),
    "HDF5 external data": ("external.keras", lambda p: keras_file(p, weights=weights_h5(DENSE, _external)),
                           "dataset /layers/d/vars/2 stores its data outside the file"),
    "truncated weights": ("truncated.keras", _truncated_weights, "model.weights.h5: not a readable HDF5 file"),
    "truncated .h5": ("truncated.h5", lambda p: _h5_legacy(p, _tf_keras_config(_qdense(None)), truncate=True),
                      "truncated.h5: not a readable HDF5 file"),
    "unknown quantizer": ("quantizer.h5", lambda p: _h5_legacy(p, _tf_keras_config(_qdense(EVIL_QUANTIZER))),
                          "layer 'qd': kernel_quantizer {'module': 'qkeras.quantizers', 'class_name': "
                          "'quantized_evil'"),
    "unknown quantizer string": ("qstring.h5", lambda p: _h5_legacy(p, _tf_keras_config(QACTIVATION)),
                                 "layer 'qa': activation 'os_system(1)' names 'os_system', not a QKeras quantizer"),
    "Lambda in a nested model": ("nested.keras", lambda p: keras_file(p, config=_nested_lambda()),
                                 "layer 'evil' (Lambda) runs arbitrary Python code"),
}  # fmt: skip


def keras_path_mismatch(path: Path) -> Path:
    """A complete tf_keras .h5 Dense model whose config says 5 units while the weights hold 3: only Keras can
    read it (TensorFlow is imported), so it is left out of the tests and measured by bench/hostile.py."""
    _h5_legacy(path, _tf_keras_config({"class_name": "Dense", "config": {"name": "d", "units": 5}}))
    with h5py.File(path, "a") as f:
        weights = f["model_weights"]
        weights.attrs["layer_names"], weights.attrs["backend"] = [b"x", b"d"], b"tensorflow"
        f.create_group("model_weights/x").attrs["weight_names"] = []
        weights["d"].attrs["weight_names"] = [b"d/kernel:0", b"d/bias:0"]
    return path


# ---- the measured run -------------------------------------------------------------------------------------

# Runs `nn2fpga.cli.main` (what the console script runs) on each argument list of the JSON in argv[2], in turn;
# per run: the exit status, what reached file descriptor 2 (Python's and C libraries' writes alike), seconds, the
# peak resident memory (Linux VmHWM, reset before each run; ru_maxrss would include the parent's memory at the
# fork) and whether TensorFlow is imported by then. The JSON list goes to the file descriptor in argv[1]; the
# process exits with the last run's status.
_PROBE = """
import json, os, resource, sys, time
from nn2fpga.cli import main

def peak_mb():
    try:
        return int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024
    except (OSError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

results, stderr = [], os.dup(2)
for argv in json.loads(sys.argv[2]):
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    sink = os.memfd_create("stderr")
    os.dup2(sink, 2)
    t0 = time.perf_counter()
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    except BaseException:  # as Python reports an uncaught exception: a traceback, status 1
        import traceback
        traceback.print_exc()
        rc = 1
    seconds = time.perf_counter() - t0
    sys.stderr.flush()
    os.dup2(stderr, 2)
    os.lseek(sink, 0, 0)
    with os.fdopen(sink, errors="replace") as f:
        err = f.read()
    results.append({"returncode": rc, "stderr": err, "seconds": seconds, "peak_mb": peak_mb(),
                    "tensorflow": "tensorflow" in sys.modules})
with os.fdopen(int(sys.argv[1]), "w") as f:
    json.dump(results, f)
sys.exit(results[-1]["returncode"] if results else 0)
"""


@dataclass
class Run:
    returncode: int
    stderr: str
    seconds: float  # in the process, the interpreter's start not included
    peak_mb: float  # peak resident memory during the run (the interpreter's own included)
    tensorflow: bool  # whether TensorFlow is imported by the end of the run


def run_cli(argvs: list[list[str]], tmp: Path) -> tuple[int, float, list[Run]]:
    """`nn2fpga ARGV` for each ARGV, in turn in one fresh Python whose TMPDIR is `tmp` (to be left empty):
    (the process's exit status, its wall seconds, the runs)."""
    read, write = os.pipe()
    env = {**os.environ, "TMPDIR": str(tmp), "TF_CPP_MIN_LOG_LEVEL": "3"}
    t0 = time.perf_counter()
    args = [sys.executable, "-c", _PROBE, str(write), json.dumps(argvs)]
    with subprocess.Popen(args, stdout=subprocess.DEVNULL, env=env, pass_fds=(write,)) as p:
        os.close(write)
        with os.fdopen(read) as f:
            report = f.read()
    seconds = time.perf_counter() - t0
    return p.returncode, seconds, [Run(**r) for r in json.loads(report or "[]")]
