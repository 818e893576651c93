"""The CPU head of a split model: a float64 NumPy interpreter over a JSON + .npz layer list.

With `Split: <layer>`, the model up to that layer runs on the accelerator and the rest (the
"head", e.g. a classifier) runs here, in float64 with the original float weights, as in the
seed paper (ResNet-50 featurizer on the FPGA, classifier on the CPU).

This module imports only NumPy: the generated project carries a verbatim copy as
`host/head.py`, so the host driver runs without nn2fpga installed. The format (written by
`nn2fpga.runtime.host.write_head`):

    head.json  {"format": 1, "input": {"name", "shape"}, "outputs": [name],
                "layers": [{"name", "kind", "inputs": [names], "shape", <scalar fields>,
                            "arrays": {field: npz key}}]}
    head.npz   the arrays, loaded with allow_pickle=False

One function per layer kind (`OPS`, keyed by the IR kind name, the `kind` the JSON stores).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = 1


def _dense(layer: dict[str, Any], x: np.ndarray) -> np.ndarray:
    y = x @ layer["weight"]
    if layer.get("bias") is not None:
        y = y + layer["bias"]
    return _ACTIVATIONS[layer.get("activation", "linear")](layer, y)


def _softmax(layer: dict[str, Any], x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_ACTIVATIONS: dict[str, Callable[[dict[str, Any], np.ndarray], np.ndarray]] = {
    "linear": lambda layer, x: x,
    "relu": lambda layer, x: np.maximum(x, 0.0),
    "leaky_relu": lambda layer, x: np.where(x >= 0, x, float(layer.get("alpha", 0.3)) * x),
    "sigmoid": lambda layer, x: 1.0 / (1.0 + np.exp(-x)),
    "tanh": lambda layer, x: np.tanh(x),
    "softmax": _softmax,
    "hard_sigmoid": lambda layer, x: np.clip(float(layer["slope"]) * x + float(layer["offset"]), 0.0, 1.0),
}


def _activation(layer: dict[str, Any], x: np.ndarray) -> np.ndarray:
    fn = layer.get("fn", "linear")
    if fn not in _ACTIVATIONS:
        raise ValueError(f"head layer {layer['name']!r}: activation {fn!r} is not supported on the CPU head")
    return _ACTIVATIONS[fn](layer, x)


OPS: dict[str, Callable[..., np.ndarray]] = {
    "Dense": _dense,
    "Activation": _activation,
    "BatchNorm": lambda layer, x: x * layer["scale"] + layer["bias"],
    "Reshape": lambda layer, x: x.reshape((x.shape[0], *layer["shape"])),
    "GlobalPool2D": lambda layer, x: (x.max if layer.get("op") == "max" else x.mean)(axis=(1, 2)),
    "Add": lambda layer, *xs: _ACTIVATIONS[layer.get("activation", "linear")](layer, sum(xs[1:], xs[0])),
    "Concatenate": lambda layer, *xs: np.concatenate(xs, axis=-1),
}


class Head:
    """A loaded head: `run(x)` maps the accelerator's output (batch, *input shape) to the model's output."""

    def __init__(self, doc: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.doc, self.arrays = doc, arrays
        if doc.get("format") != FORMAT:
            raise ValueError(f"head format {doc.get('format')!r} is not supported (expected {FORMAT})")
        self.input_name = doc["input"]["name"]
        self.input_shape = tuple(doc["input"]["shape"])
        self.outputs = list(doc["outputs"])
        self.layers = []
        for entry in doc["layers"]:
            if entry["kind"] not in OPS:
                raise ValueError(
                    f"head layer {entry['name']!r}: {entry['kind']} cannot run on the CPU head; "
                    f"supported: {', '.join(sorted(OPS))}"
                )
            layer = {k: v for k, v in entry.items() if k != "arrays"}
            layer.update({field: arrays[key] for field, key in entry.get("arrays", {}).items()})
            self.layers.append(layer)
        self.shape = tuple(next(lay["shape"] for lay in self.layers if lay["name"] == self.outputs[0]))

    @classmethod
    def load(cls, json_path: str | Path) -> Head:
        """Read `head.json` and the `.npz` it names (beside it)."""
        json_path = Path(json_path)
        doc = json.loads(json_path.read_text())
        with np.load(json_path.with_name(doc["arrays"]), allow_pickle=False) as z:
            arrays = {k: np.asarray(z[k], dtype=np.float64) for k in z.files}
        return cls(doc, arrays)

    def save(self, directory: str | Path) -> str:
        """Write head.json and head.npz into `directory`; returns the JSON file's name."""
        directory = Path(directory)
        (directory / "head.json").write_text(json.dumps(self.doc, indent=1) + "\n")
        np.savez(directory / self.doc["arrays"], **self.arrays)
        return "head.json"

    def run(self, x: np.ndarray) -> np.ndarray:
        """float64 outputs of the first model output for a batch `x` of accelerator outputs."""
        x = np.asarray(x, dtype=np.float64)
        env = {self.input_name: x.reshape((x.shape[0], *self.input_shape))}
        for layer in self.layers:  # stored in topological order
            env[layer["name"]] = OPS[layer["kind"]](layer, *(env[i] for i in layer["inputs"]))
        return env[self.outputs[0]]
