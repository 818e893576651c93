"""The CPU head of a split model: the float64 interpreter (`nn2fpga.ir.interpret`) over a JSON + .npz layer list.

With `Split: <layer>`, the model up to that layer runs on the accelerator and the rest (the
"head", e.g. a classifier) runs here, in float64 with the original float weights, as in the
seed paper (ResNet-50 featurizer on the FPGA, classifier on the CPU).

The head stores each layer as a `Record` carrying the IR layer's own fields and runs it with
`interpret.float_execute`, the function calibration and profiling use: the float meaning of a kind
exists once. This module and the interpreter import only NumPy: the generated project carries
verbatim copies as `host/head.py` and `host/interpret.py`, so the host driver runs without nn2fpga
installed. The format (written by `nn2fpga.runtime.host.head_from_graph`):

    head.json  {"format": 1, "arrays": npz file, "input": {"name", "shape"}, "outputs": [name],
                "layers": [{"name", "kind", "inputs": [names], "shape", <the kind's scalar fields,
                            null for none>, "arrays": {field: npz key}}]}
    head.npz   the arrays, loaded with allow_pickle=False
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

_INTERPRETER = Path(__file__).resolve().with_name("interpret.py")
if _INTERPRETER.is_file():  # a project's host/head.py: host/interpret.py is the verbatim copy of the interpreter
    _spec = importlib.util.spec_from_file_location("_nn2fpga_host_interpret", _INTERPRETER)  # not in sys.modules
    interpret = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(interpret)
else:  # inside the package
    from nn2fpga.ir import interpret

FORMAT = 1
OPS = interpret.FLOAT_OPS  # the kinds the head runs: every kind the float interpreter defines


class Record(SimpleNamespace):
    """One head layer as the interpreter reads it: the IR layer's fields as attributes (`kind`, `weight`, ...)."""

    def __getitem__(self, field: str) -> Any:  # records read as the dicts they are stored as, too
        return getattr(self, field)


class Head:
    """A loaded head: `run(x)` maps the accelerator's output (batch, *input shape) to the model's output."""

    def __init__(self, doc: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.doc, self.arrays = doc, arrays
        if doc.get("format") != FORMAT:
            raise ValueError(f"head format {doc.get('format')!r} is not supported (expected {FORMAT})")
        self.input_name = doc["input"]["name"]
        self.input_shape = tuple(doc["input"]["shape"])
        self.outputs = list(doc["outputs"])
        self.layers: list[Record] = []
        for entry in doc["layers"]:
            if entry["kind"] not in OPS:
                raise ValueError(
                    f"head layer {entry['name']!r}: {entry['kind']} cannot run on the CPU head; "
                    f"supported: {', '.join(sorted(OPS))}"
                )
            fields = {"bias": None}  # heads written before null fields were stored leave out a missing bias
            fields.update((k, v) for k, v in entry.items() if k != "arrays")
            fields.update((f, arrays[key]) for f, key in entry.get("arrays", {}).items())
            self.layers.append(Record(**fields))
        self.shape = tuple(next(lay.shape for lay in self.layers if lay.name == self.outputs[0]))

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
            env[layer.name] = interpret.float_execute(layer, *(env[i] for i in layer.inputs))
        return env[self.outputs[0]]
