"""Write a project's host driver (`host/`) and Triton model repository (`triton/`).

    host/driver.py    verbatim copy of nn2fpga/runtime/driver.py (NumPy + ctypes, pyxrt for a card)
    host/fixed.py     verbatim copy of nn2fpga/ir/types.py: the driver packs with FixedType itself
    host/head.py      verbatim copy of nn2fpga/runtime/head.py (float CPU head of a split model)
    host/interpret.py verbatim copy of nn2fpga/ir/interpret.py: the float interpreter the head runs
    host/binding.py   verbatim copy of nn2fpga/sim/binding.py: the ctypes binding of the csim library
    host/model.json   the kernel's inputs and outputs (names, shapes, types, raw word types), the model's outputs
    host/head.json, host/head.npz   the CPU head, when the config splits the model
    triton/<project>/config.pbtxt, triton/<project>/1/model.py   Python-backend model calling the driver

Copies instead of templates: the driver is ordinary, linted, tested Python, and a project written
by one nn2fpga version keeps working (and packing identically) without it.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

import nn2fpga.ir.interpret
import nn2fpga.ir.types
import nn2fpga.runtime.driver
import nn2fpga.runtime.head
import nn2fpga.sim.binding
from nn2fpga.codegen.render import render
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Input, Layer
from nn2fpga.runtime.head import FORMAT, Head

FLOAT32_EXACT_BITS = 24  # values of a fixed-point type this narrow are exact in float32
# fields every kind shares: the head stores name and shape; the rest are precision and hardware decisions
_COMMON_FIELDS = {f.name for f in dataclasses.fields(Layer)}


def _copy_module(module: Any, dest: Path) -> None:
    text = Path(module.__file__).read_text()
    dest.write_text(f"# Copied verbatim from {module.__name__} by nn2fpga; do not edit.\n{text}")


def head_from_graph(head: Graph) -> Head:
    """The runnable CPU head of float graph `head` (its Input stands for the accelerator's output): each layer's
    name, shape and its kind's own fields (arrays in the .npz, None as null), what `nn2fpga.ir.interpret` reads."""
    arrays: dict[str, np.ndarray] = {}
    layers = []
    (inp,) = head.inputs()
    for i, layer in enumerate(head.layers()):
        if isinstance(layer, Input):
            continue
        entry: dict[str, Any] = {
            "name": layer.name,
            "kind": layer.kind,
            "inputs": [p.name for p in head.producers(layer.name)],
            "shape": list(layer.shape),
            "arrays": {},
        }
        for f in dataclasses.fields(layer):
            value = getattr(layer, f.name)
            if f.name in _COMMON_FIELDS or isinstance(value, Layer):
                continue
            if isinstance(value, np.ndarray):
                key = f"{i:04d}.{f.name}"
                arrays[key] = value.astype(np.float64)
                entry["arrays"][f.name] = key
            else:
                entry[f.name] = list(value) if isinstance(value, tuple) else value
        layers.append(entry)
    doc = {
        "format": FORMAT,
        "arrays": "head.npz",
        "input": {"name": inp.name, "shape": list(inp.shape)},
        "outputs": list(head.outputs),
        "layers": layers,
    }
    return Head(doc, arrays)


def triton_datatype(type_text: str | None) -> str:
    """TYPE_FP32 when every value of the fixed-point output type is exact in float32 (else TYPE_FP64)."""
    if type_text is None:  # a float head's output
        return "TYPE_FP32"
    t = nn2fpga.ir.types.FixedType.parse(type_text)
    return "TYPE_FP32" if t.width <= FLOAT32_EXACT_BITS and -126 <= -t.frac <= 104 else "TYPE_FP64"


def _write_triton_model(model_dir: Path, model_py: str, **config: Any) -> None:
    """A Python-backend model directory: config.pbtxt (the config template filled with `config`), 1/model.py."""
    (model_dir / "1").mkdir(parents=True)
    (model_dir / "config.pbtxt").write_text(render("triton_config.pbtxt.j2", name=model_dir.name, **config))
    (model_dir / "1" / "model.py").write_text(model_py)


def write_serving(root: Path, graph: Graph, config, ctx: dict, head: Head | None = None) -> None:
    """Write `root/host/` and `root/triton/` for the compiled (prefix) `graph` and the optional CPU `head`."""
    project = ctx["project"]
    host = root / "host"
    host.mkdir()
    _copy_module(nn2fpga.runtime.driver, host / "driver.py")
    _copy_module(nn2fpga.ir.types, host / "fixed.py")
    _copy_module(nn2fpga.runtime.head, host / "head.py")
    _copy_module(nn2fpga.sim.binding, host / "binding.py")
    _copy_module(nn2fpga.ir.interpret, host / "interpret.py")
    kernel_outputs = [p.meta(p.layer) for p in ctx["outputs"]]
    model_outputs = (
        [{"name": head.outputs[0], "shape": list(head.shape), "type": None}] if head is not None else kernel_outputs
    )
    meta = {
        "project": project,
        "kernel": f"{project}_kernel",
        "inputs": [p.meta(p.layer) for p in ctx["inputs"]],  # in model order, as the kernel's words hold them
        "outputs": kernel_outputs,
        "head": head.save(host) if head is not None else None,
        "model_outputs": model_outputs,
        # uram / offchip weights: kernel arguments after n, each `lines` 64-byte lines of weights/streamed.bin from
        # `offset`, then `reload` (1 fills the URAM banks) when `reload` is true
        "weights": {
            "file": "weights/streamed.bin",
            "ports": [{"name": p["mem"], "offset": p["offset"], "lines": p["lines"]} for p in ctx["weight_ports"]],
            "reload": ctx["load"],
        },
    }
    (host / "model.json").write_text(json.dumps(meta, indent=2) + "\n")

    _write_triton_model(
        root / "triton" / project,
        render("triton_model.py.j2", project=project),
        serving=config.serving,
        inputs=meta["inputs"],
        outputs=[{**o, "datatype": triton_datatype(o["type"])} for o in model_outputs],
    )


def identity_repository(directory: Path, name: str, shape: tuple[int, ...], max_batch_size: int = 64) -> Path:
    """A Triton repository with one Python-backend identity model (FP32 in = out): the engine's ceiling."""
    model_dir = Path(directory) / name
    if model_dir.exists():
        shutil.rmtree(model_dir)
    serving = {"MaxBatchSize": max_batch_size, "DynamicBatching": True, "PreferredBatchSizes": [],
               "MaxQueueDelayMicroseconds": 100, "Instances": 1, "Backend": "identity"}  # fmt: skip
    _write_triton_model(
        model_dir,
        render("triton_identity.py.j2"),
        serving=serving,
        inputs=[{"name": "x", "shape": list(shape)}],
        outputs=[{"name": "y", "shape": list(shape), "datatype": "TYPE_FP32"}],
    )
    return Path(directory)
