"""Host driver of an nn2fpga project: float in, packed kernel words, float out (DESIGN section 6).

The generated project carries a verbatim copy of this file as `host/driver.py`, next to
`host/fixed.py` (a verbatim copy of `nn2fpga/ir/types.py`), `host/binding.py` (of `nn2fpga/sim/binding.py`,
the ctypes binding of the csim library), `host/head.py` and `host/model.json` (the kernel's shapes and
types). It needs only NumPy and ctypes (`pyxrt` for a card), so it runs where nn2fpga is not installed:

    import importlib.util, sys
    spec = importlib.util.spec_from_file_location("prj_driver", "prj/host/driver.py")
    driver = importlib.util.module_from_spec(spec); spec.loader.exec_module(driver)
    with driver.Driver("csim") as d:        # or "reference", or Driver("xrt", xclbin="prj.xclbin")
        y = d.predict(x)                    # x: (batch, *input shape) floats
        y = d.predict({"a": xa, "b": xb})   # several inputs: by name (or a list in model order)

The kernel is `extern "C" void <project>_kernel(const ap_uint<512> *in, ap_uint<512> *out, int n)`:
each value travels as its raw W-bit two's-complement pattern in the smallest int{8,16,32,64}_t, a
sample's values lie contiguously and little-endian, and each sample is padded to whole 64-byte words
(`binding.pack_words`, docs/host.md); a model with several inputs (outputs) has each one's words so, one
after another in model order (`binding.pack_ports`), and `predict` returns a list of outputs in model order.
`pack` converts floats with the input type's rounding and overflow (`FixedType.to_raw`, the one NumPy model
of the conversion) and lays them out so; every backend consumes and produces these bytes, the csim library
included (the card's memory image), and `unpack` turns output bytes into exact float64 values. With a split
model (`Split:` in the config), `predict` runs the CPU head (`host/head.py`) on the kernel's outputs;
`accelerate` returns them as they are.

Backends (`BACKENDS`): `csim` calls the batch entry point of the project's g++-built shared
library (the kernel on one or more threads); `reference` runs the bit-exact NumPy interpreter
(imports nn2fpga); `xrt` runs the kernel of an xclbin on an Alveo card through pyxrt, with several
runs in flight.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

_HERE = Path(__file__).resolve().parent


def _sibling(name: str) -> Any:
    """The module `name`.py beside this file (host/fixed.py, host/head.py), under a private name."""
    key = f"_nn2fpga_host_{abs(hash(str(_HERE)))}_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, _HERE / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module  # dataclasses look their module up while the class is created
        spec.loader.exec_module(module)
    return sys.modules[key]


FixedType = _sibling("fixed").FixedType
if (_HERE / "binding.py").is_file():  # a project's host/binding.py, a verbatim copy of nn2fpga/sim/binding.py
    binding = _sibling("binding")
else:  # inside the package
    from nn2fpga.sim import binding


class _CSim:
    """The project's C simulation library (the kernel the hardware has), built or reused from the cache by nn2fpga
    when it is importable, else the newest csim/lib<project>-*.so."""

    def __init__(self, driver: Driver, threads: int = 1, **_: Any) -> None:
        project_dir, project = driver.project_dir, driver.meta["project"]
        try:
            from nn2fpga.sim.csim import build
        except ImportError:
            libs = sorted((project_dir / "csim").glob(f"lib{project}-*.so"), key=lambda p: p.stat().st_mtime)
            if not libs:
                raise RuntimeError(f"{project_dir}/csim has no lib{project}-*.so: build it with nn2fpga") from None
            path = libs[-1]
        else:
            path = build(project_dir, project)
        self.lib = binding.Library(path, project_dir / "weights", driver.in_ports, driver.out_ports)
        self.threads = threads

    def run(self, packed: np.ndarray, out: np.ndarray) -> None:
        out[...] = self.lib.predict_words(packed, self.threads)

    def close(self) -> None:
        pass


class _Reference:
    """The bit-exact NumPy reference on the project's quantized graph (needs nn2fpga)."""

    def __init__(self, driver: Driver, **_: Any) -> None:
        from nn2fpga.ir.serialize import load_graph
        from nn2fpga.sim import reference

        self.graph, self.reference, self.driver = load_graph(driver.project_dir / "ir"), reference, driver

    def run(self, packed: np.ndarray, out: np.ndarray) -> None:
        d = self.driver
        raws = binding.unpack_ports(packed, d.in_ports)
        xs = [FixedType.parse(p["type"]).from_raw(r).reshape((len(r), *p["shape"])) for p, r in zip(d.inputs, raws)]
        ys = self.reference.predict(self.graph, {p["name"]: x for p, x in zip(d.inputs, xs)})
        ys = [ys] if len(d.outputs) == 1 else ys
        raw_out = [FixedType.parse(p["type"]).to_raw(y.reshape(len(y), -1)) for p, y in zip(d.outputs, ys)]
        out[...] = binding.pack_ports(raw_out, d.out_ports)

    def close(self) -> None:
        pass


class _Xrt:
    """The kernel in an xclbin on an Alveo card (pyxrt): one buffer pair per run, `inflight` runs at once.

    Not exercised in nn2fpga's tests (no card); it sends the bytes `pack` makes, which the csim backend's
    library reads as the kernel's memory words, and gives back bytes for `unpack`.
    """

    def __init__(
        self, driver: Driver, xclbin: str | os.PathLike | None = None, device: int = 0, inflight: int = 4, **_: Any
    ) -> None:
        import pyxrt

        if xclbin is None:
            raise ValueError("the xrt backend needs xclbin=<path to the linked .xclbin>")
        self.pyxrt, self.inflight = pyxrt, max(1, inflight)
        self.device = pyxrt.device(device)
        uuid = self.device.load_xclbin(str(xclbin))
        self.kernel = pyxrt.kernel(self.device, uuid, driver.meta["kernel"])
        # uram / offchip weights: one buffer per weight port, written once; URAM banks load on the first run
        spec = driver.meta.get("weights") or {"ports": [], "reload": False}
        self.weight_bos, self.reload = [], spec["reload"]
        if spec["ports"]:
            image = np.fromfile(driver.project_dir / spec["file"], dtype=np.uint8)
            for k, port in enumerate(spec["ports"]):
                part = image[64 * port["offset"] : 64 * (port["offset"] + port["lines"])]
                bo = pyxrt.bo(self.device, part.nbytes, pyxrt.bo.normal, self.kernel.group_id(3 + k))
                bo.write(part.tobytes(), 0)
                bo.sync(pyxrt.xclBOSyncDirection.XCL_BO_SYNC_BO_TO_DEVICE, part.nbytes, 0)
                self.weight_bos.append(bo)
        self.loaded = False

    def _start(self, bo_in, bo_out, count: int):
        args = [bo_in, bo_out, count, *self.weight_bos]
        if self.reload:
            args.append(0 if self.loaded else 1)
        return self.kernel(*args)

    def run(self, packed: np.ndarray, out: np.ndarray) -> None:
        px, n = self.pyxrt, packed.shape[0]
        chunk = -(-n // self.inflight)
        runs = []
        for start in range(0, n, chunk):  # start every run before waiting for any (the first alone if it loads)
            part = packed[start : start + chunk]
            bo_in = px.bo(self.device, part.nbytes, px.bo.normal, self.kernel.group_id(0))
            bo_out = px.bo(self.device, out[start : start + chunk].nbytes, px.bo.normal, self.kernel.group_id(1))
            bo_in.write(part.tobytes(), 0)
            bo_in.sync(px.xclBOSyncDirection.XCL_BO_SYNC_BO_TO_DEVICE, part.nbytes, 0)
            runs.append((start, len(part), bo_in, bo_out, self._start(bo_in, bo_out, len(part))))
            if self.reload and not self.loaded:
                runs[-1][-1].wait()
                self.loaded = True
        for start, count, _, bo_out, run in runs:
            run.wait()
            nbytes = out[start : start + count].nbytes
            bo_out.sync(px.xclBOSyncDirection.XCL_BO_SYNC_BO_FROM_DEVICE, nbytes, 0)
            words = np.frombuffer(bytes(bo_out.read(nbytes, 0)), dtype=out.dtype)
            out[start : start + count] = words.reshape(count, -1)

    def close(self) -> None:
        self.kernel = self.device = None


BACKENDS = {"csim": _CSim, "reference": _Reference, "xrt": _Xrt}


class Driver:
    """One project's kernel behind a backend; `predict` maps float inputs to float outputs."""

    def __init__(self, backend: str = "csim", project_dir: str | os.PathLike | None = None, **options: Any) -> None:
        """`project_dir` defaults to the project holding this file; `options` go to the backend
        (csim: threads; xrt: xclbin, device, inflight)."""
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        self.project_dir = Path(project_dir).resolve() if project_dir is not None else _HERE.parent
        self.meta = json.loads((self.project_dir / "host" / "model.json").read_text())
        self.inputs, self.outputs = self.meta["inputs"], self.meta["outputs"]  # the kernel's, in model order
        self.input_types = [FixedType.parse(p["type"]) for p in self.inputs]
        self.output_types = [FixedType.parse(p["type"]) for p in self.outputs]
        self.in_ports = [(int(np.prod(p["shape"])), p["raw"]) for p in self.inputs]  # binding.Ports
        self.out_ports = [(int(np.prod(p["shape"])), p["raw"]) for p in self.outputs]
        self.input_type, self.output_type = self.input_types[0], self.output_types[0]  # the first of each
        self.in_dtype, self.out_dtype = (binding.RAW_DTYPES[ports[0][1]] for ports in (self.in_ports, self.out_ports))
        self.in_bytes = sum(binding.sample_words(n, binding.RAW_DTYPES[r]) for n, r in self.in_ports) * 64  # per sample
        self.out_bytes = sum(binding.sample_words(n, binding.RAW_DTYPES[r]) for n, r in self.out_ports) * 64
        head = self.meta.get("head")
        self.head = _sibling("head").Head.load(self.project_dir / "host" / head) if head else None
        self.model_outputs = self.meta["model_outputs"]  # after the CPU head of a split model
        self.backend = backend
        self._impl = BACKENDS[backend](self, **options)

    # ---- packing (shared by every backend) ------------------------------------------------------------

    def inputs_of(self, x: Any) -> list[np.ndarray]:
        """Float64 arrays in input order for `x`: one array (one input), a list in model order, or a dict by name;
        ValueError naming the input that is missing, unknown or of the wrong shape."""
        names = [p["name"] for p in self.inputs]
        if isinstance(x, dict):
            unknown = sorted(set(x) - set(names))
            missing = [n for n in names if n not in x]
            if unknown or missing:
                what = f"no input {unknown[0]!r}" if unknown else f"missing input {missing[0]!r}"
                raise ValueError(f"{what}; the inputs are {', '.join(names)}")
            xs = [x[n] for n in names]
        else:
            xs = list(x) if isinstance(x, (list, tuple)) and len(names) > 1 else [x]
            if len(xs) != len(names):
                raise ValueError(f"{len(xs)} input arrays for the inputs {', '.join(names)}")
        xs = [np.asarray(v, dtype=np.float64) for v in xs]
        for p, v in zip(self.inputs, xs):
            if v.ndim == 0 or v.shape[1:] != tuple(p["shape"]) or len(v) != len(xs[0]):
                raise ValueError(f"input {p['name']!r} has shape {v.shape}; expected ({len(xs[0])}, "
                                 f"{', '.join(map(str, p['shape']))})")  # fmt: skip
        return xs

    def pack(self, x: Any) -> np.ndarray:
        """The kernel's input memory (batch, in_bytes) uint8 for floats `x` (batch, *input shape; several inputs as
        `inputs_of` takes them): each sample's raw values, little-endian in their containers, zeros to a whole
        number of 64-byte words, input after input."""
        xs = self.inputs_of(x)
        raws = [t.to_raw(v.reshape(len(v), n)) for t, v, (n, _) in zip(self.input_types, xs, self.in_ports)]
        return binding.pack_ports(raws, self.in_ports)

    def unpack(self, packed: np.ndarray) -> np.ndarray | list[np.ndarray]:
        """Exact float64 values (batch, *kernel output shape) of the kernel's output memory (batch, out_bytes);
        a list of them, one per output, for several outputs."""
        raws = binding.unpack_ports(packed, self.out_ports)
        ys = [t.from_raw(r).reshape((len(r), *p["shape"])) for t, r, p in zip(self.output_types, raws, self.outputs)]
        return ys[0] if len(ys) == 1 else ys

    # ---- running ------------------------------------------------------------------------------------

    def run_raw(self, packed: np.ndarray) -> np.ndarray:
        """The output memory (batch, out_bytes) for input memory (batch, in_bytes), as `pack` makes it: one
        kernel call on the backend."""
        packed = np.ascontiguousarray(packed, dtype=np.uint8).reshape(-1, self.in_bytes)
        out = np.empty((packed.shape[0], self.out_bytes), dtype=np.uint8)
        if packed.shape[0]:
            self._impl.run(packed, out)
        return out

    def accelerate(self, x: Any) -> np.ndarray | list[np.ndarray]:
        """The kernel's outputs (the featurizer's, for a split model), float64, bit-exact."""
        return self.unpack(self.run_raw(self.pack(x)))

    def predict(self, x: Any) -> np.ndarray | list[np.ndarray]:
        """The model's outputs (batch, *output shape), float64 (a list of them for several outputs): the kernel,
        then the CPU head if split."""
        y = self.accelerate(x)
        return self.head.run(y) if self.head is not None else y

    def close(self) -> None:
        self._impl.close()

    def __enter__(self) -> Driver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":  # python host/driver.py X.npy Y.npy [backend]
    args = sys.argv[1:]
    if len(args) not in (2, 3):
        sys.exit("usage: python host/driver.py X.npy Y.npy [csim|reference|xrt]")
    with Driver(args[2] if len(args) == 3 else "csim") as d:  # several inputs or outputs: .npz by name
        data = np.load(args[0], allow_pickle=False)
        y = d.predict(dict(data) if args[0].endswith(".npz") else data)
        if isinstance(y, list):
            np.savez(args[1], **{p["name"]: v for p, v in zip(d.model_outputs, y)})
        else:
            np.save(args[1], y)
