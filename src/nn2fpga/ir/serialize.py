"""Save and load a Graph as JSON plus .npy arrays (no pickle: loading a project never runs code)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from nn2fpga.ir.errors import UserError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.kinds import LAYER_KINDS
from nn2fpga.ir.layers import Layer
from nn2fpga.ir.types import FixedType

FORMAT = 3  # 2: calibrated types, multiplier limits, FIFO depths, IOType and WeightLiterals; 3: folding
TYPE_DICTS = ("types", "fixed", "calibrated")  # role -> FixedType fields
_KINDS = {k.__name__: k for k in LAYER_KINDS}


def _encode(layer: Layer, arrays: dict[str, np.ndarray], prefix: str, shared: dict) -> dict:
    out: dict = {"kind": layer.kind}
    for f in dataclasses.fields(layer):
        v = getattr(layer, f.name)
        if isinstance(v, np.ndarray):
            key = f"{prefix}.{f.name}"
            t = layer.types.get(f.name)
            if t is not None and (layer.name, f.name) in shared:  # raw integers already saved elsewhere
                out[f.name] = {"file": shared[(layer.name, f.name)], "raw": t.cpp(), "shape": list(v.shape)}
            elif t is not None and t.width <= 53:  # quantized constants: raw integers, 2-8x smaller than float64
                bits = next(b for b in (8, 16, 32, 64) if t.width <= b)
                arrays[key] = t.to_raw(v).astype(f"{'' if t.signed else 'u'}int{bits}")
                out[f.name] = {"array": key, "raw": t.cpp()}
            else:
                arrays[key] = v
                out[f.name] = {"array": key}
        elif isinstance(v, Layer):
            out[f.name] = {"layer": _encode(v, arrays, f"{prefix}.{f.name}", shared)}
        elif f.name in TYPE_DICTS:
            out[f.name] = {k: t.cpp() for k, t in v.items()}
        elif isinstance(v, tuple):
            out[f.name] = list(v)
        else:
            out[f.name] = v
    return out


def _decode(d: dict, directory: Path) -> Layer:
    cls = _KINDS[d["kind"]]
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in d:
            continue
        v = d[f.name]
        if isinstance(v, dict) and "file" in v:
            data = np.load(directory / v["file"], allow_pickle=False).reshape(v["shape"])
            v = FixedType.parse(v["raw"]).from_raw(data)
        elif isinstance(v, dict) and "array" in v:
            data = np.load(directory / f"{v['array']}.npy", allow_pickle=False)
            v = FixedType.parse(v["raw"]).from_raw(data) if "raw" in v else data
        elif isinstance(v, dict) and "layer" in v:
            v = _decode(v["layer"], directory)
        elif f.name in TYPE_DICTS:
            v = {k: FixedType.parse(t) for k, t in v.items()}
        elif f.name in ("shape", "fifo_depths"):
            v = tuple(v)
        kwargs[f.name] = v
    return cls(**kwargs)


def save_graph(graph: Graph, directory: Path, shared: dict[tuple[str, str], str] | None = None) -> None:
    """Write graph.json and .npy arrays. `shared` maps (layer, field) to an existing raw-integer .npy
    (relative to `directory`) holding that field's values, which is referenced instead of copied."""
    directory.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    layers = []
    for i, layer in enumerate(graph.layers()):
        entry = _encode(layer, arrays, f"{i:04d}", shared or {})
        entry["inputs"] = [p.name for p in graph.producers(layer.name)]
        layers.append(entry)
    doc = {"format": FORMAT, "name": graph.name, "outputs": graph.outputs, "layers": layers}
    doc |= {"io_type": graph.io_type, "weight_literals": graph.weight_literals}
    (directory / "graph.json").write_text(json.dumps(doc, indent=1) + "\n")
    for key, value in arrays.items():
        np.save(directory / f"{key}.npy", value, allow_pickle=False)


def load_graph(directory: Path) -> Graph:
    path = Path(directory) / "graph.json"
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: not a readable nn2fpga graph ({e})") from e
    if doc.get("format") != FORMAT:
        raise UserError(
            f"{path}: graph format {doc.get('format')!r} is not supported (expected {FORMAT}); convert the model again"
        )
    g = Graph(doc["name"])
    for entry in doc["layers"]:
        g.add(_decode(entry, Path(directory)), entry["inputs"])
    g.outputs = list(doc["outputs"])
    g.io_type, g.weight_literals = doc["io_type"], doc["weight_literals"]
    return g
