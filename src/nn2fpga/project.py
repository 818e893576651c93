"""The Python API: `convert(model) -> Project`, then compile / predict / trace / summary.

project = nn2fpga.convert(model, config="nn2fpga.yml", output_dir="prj")
y = project.predict(x)                       # C simulation (g++), bit-exact with hardware
y_ref = project.predict(x, backend="reference")   # NumPy, bit-exact with csim
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from nn2fpga.config import Config
from nn2fpga.errors import UserError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.serialize import load_graph
from nn2fpga.passes.manager import run_flows
from nn2fpga.sim import reference

log = logging.getLogger(__name__)

BACKENDS = ("csim", "reference")


def compile_graph(graph: Graph, config: Config) -> tuple[Graph, dict[str, float]]:
    """Bind the config to the parsed graph, then run the optimize, quantize and hardware flows."""
    config.bind(graph)
    return run_flows(graph, config)


def convert(
    model, config=None, output_dir: str | os.PathLike | None = None, force: bool = False, progress: bool = False
) -> Project:
    """Convert a Keras model (object or file) into a project; writes it when `output_dir` is given."""
    from nn2fpga.frontend.keras import from_keras

    cfg = Config.from_yaml(config)
    graph, timings = compile_graph(from_keras(model), cfg)
    project = Project(graph, cfg, None)
    project.timings = timings
    if output_dir is not None:
        project.write(output_dir, force=force, progress=progress)
    return project


class Project:
    """A converted model: its final graph, its config and (once written) its directory."""

    def __init__(self, graph: Graph, config: Config, path: Path | None) -> None:
        self.graph = graph
        self.config = config
        self.path = Path(path) if path is not None else None
        self.name = config.resolved_project_name(graph)
        self.timings: dict[str, float] = {}
        self._csim = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    @classmethod
    def load(cls, path: str | os.PathLike) -> Project:
        """Open a project directory written by `convert`."""
        path = Path(path)
        if not (path / "ir" / "graph.json").is_file():
            raise UserError(f"{path} is not an nn2fpga project (no ir/graph.json); create one with nn2fpga convert")
        return cls(load_graph(path / "ir"), Config.from_yaml(path / "nn2fpga.yml"), path)

    def write(self, output_dir: str | os.PathLike, force: bool = False, progress: bool = False) -> Path:
        from nn2fpga.codegen.render import write_project

        self.path = write_project(self.graph, self.config, self.name, Path(output_dir), force=force, progress=progress)
        self._csim = None
        return self.path

    def _directory(self) -> Path:
        if self.path is None:  # an in-memory project compiles from a private temporary directory
            self._tmp = tempfile.TemporaryDirectory(prefix="nn2fpga-")
            self.write(Path(self._tmp.name) / self.name)
        return self.path

    def compile(self):
        """Build (or reuse) the C simulation library and load it; returns the CSim handle."""
        if self._csim is None:
            from nn2fpga.sim.csim import CSim, build

            path = self._directory()
            report = json.loads((path / "report.json").read_text())
            lib = build(path, self.name)
            in_t = self.graph.inputs()[0].types["result"]
            out_t = self.graph[self.graph.outputs[0]].types["result"]
            self._csim = CSim(lib, path, in_t, out_t, report["input"]["raw"], report["output"]["raw"])
        return self._csim

    def _check(self, x) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype.kind not in "fiub":
            raise UserError(f"input data must be numeric, got dtype {x.dtype}")
        x = x.astype(np.float64)
        reference.check_input(self.graph, {self.graph.inputs()[0].name: x})
        return x

    def predict(self, x, backend: str = "csim", threads: int | None = None) -> np.ndarray:
        """Outputs for a batch `x` of shape (batch, *input_shape)."""
        if backend not in BACKENDS:
            raise UserError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        x = self._check(x)
        if backend == "reference":
            return reference.predict(self.graph, x)
        threads = threads or min(os.cpu_count() or 1, 8)
        out = self.compile().predict(x, threads=threads)
        return out.reshape((x.shape[0], *self.graph[self.graph.outputs[0]].shape))

    def trace(self, x) -> dict[str, np.ndarray]:
        """Every layer's output (reference backend), keyed by layer name."""
        return reference.run(self.graph, self._check(x), trace=True)

    def summary(self) -> str:
        return self.graph.summary()
