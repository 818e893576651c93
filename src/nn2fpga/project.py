"""The Python API: `convert(model) -> Project`, then compile / predict / trace / summary.

project = nn2fpga.convert(model, config="nn2fpga.yml", output_dir="prj")
y = project.predict(x)                       # C simulation (g++), bit-exact with hardware
y_ref = project.predict(x, backend="reference")   # NumPy, bit-exact with csim

With `Split: <layer>` in the config, the parsed float graph is cut after that layer before any
pass runs: the prefix is compiled for the accelerator, the rest becomes the float CPU head
(`nn2fpga.runtime.head`), which `predict` and the generated host driver run on the kernel's output.
"""

from __future__ import annotations

import copy
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from nn2fpga.config import Config
from nn2fpga.ir.errors import ConfigError, UserError, closest
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Activation, Input
from nn2fpga.ir.serialize import load_graph
from nn2fpga.ir.types import FixedType
from nn2fpga.lint import check, lint_firmware, lint_graph
from nn2fpga.passes.manager import DEFAULT_FLOWS, run_flows
from nn2fpga.runtime.head import Head
from nn2fpga.sim import reference

log = logging.getLogger(__name__)

BACKENDS = ("csim", "reference")


def compile_graph(graph: Graph, config: Config) -> tuple[Graph, Graph, dict[str, float]]:
    """Bind the config to the parsed graph, then run the flows: (optimized float graph, final graph, seconds
    per pass). The float graph (after "optimize") is what calibration and profiling evaluate in float."""
    config.bind(graph)
    float_graph, timings = run_flows(graph, config, DEFAULT_FLOWS[:1])
    final, more = run_flows(float_graph, config, DEFAULT_FLOWS[1:])
    return float_graph, final, timings | more


def convert(
    model,
    config=None,
    output_dir: str | os.PathLike | None = None,
    force: bool = False,
    progress: bool = False,
    lint: bool = True,
) -> Project:
    """Convert a Keras model (object or file) into a project; writes it when `output_dir` is given.

    With `lint` (the default) the compiled graph, then the rendered firmware, are checked against the synthesis
    limits (`nn2fpga.lint`) before anything is written: violations raise `nn2fpga.lint.LintError` listing them."""
    from nn2fpga.codegen.ports import check_ports
    from nn2fpga.frontend.keras import from_keras
    from nn2fpga.runtime.host import head_from_graph

    cfg = Config.from_yaml(config)
    graph, head = from_keras(model), None
    check_ports(graph)  # every output ends a branch: it is a top-function argument
    if cfg.split is not None:
        graph, head_graph = split_graph(graph, cfg.split)
        cfg = _without_layers(cfg, {layer.name for layer in head_graph.layers()})
        head = head_from_graph(head_graph)
    if cfg.plan is not None:  # the planner chooses the folding; the project keeps its complete config
        from nn2fpga.passes.plan import plan_graph

        cfg = plan_graph(graph, cfg, progress=progress).config
    float_graph, graph, timings = compile_graph(graph, cfg)
    if lint:
        check(lint_graph(graph, cfg), f"model {graph.name!r}")
    project = Project(graph, cfg, None, head=head)
    project.lint = lint
    project.float_graph = float_graph
    project.timings = timings
    if cfg.calibration is not None:  # the accuracy report: float vs. the calibrated fixed point
        project.calibration = project.profile(progress=progress)
    if output_dir is not None:
        project.write(output_dir, force=force, progress=progress)
    return project


def split_graph(graph: Graph, layer: str) -> tuple[Graph, Graph]:
    """Cut float `graph` after `layer`: (prefix ending at `layer`, head whose Input is named `layer`).

    The prefix holds `layer` and everything it depends on; the head holds the rest and must read
    nothing from the prefix but `layer`'s output. Raises ConfigError (naming `Split`) otherwise.
    """
    names = [lay.name for lay in graph.layers()]
    if layer not in graph:
        raise ConfigError(f"Split: no layer named {layer!r} in model {graph.name!r}{closest(layer, names)}; layers: "
                          + ", ".join(names))  # fmt: skip
    if len(graph.inputs()) != 1 or len(graph.outputs) != 1:
        raise ConfigError("Split: only models with one input and one output can be split")
    # The frontend names a Dense's own activation "<dense>_<fn>": the Keras layer ends after it.
    users = graph.users(layer)
    if len(users) == 1 and isinstance(users[0], Activation) and users[0].name == f"{layer}_{users[0].fn}":
        layer = users[0].name
    front = {layer}  # `layer` and its ancestors: consumers come before their producers in reverse order
    for lay in reversed(graph.layers()):
        if lay.name in front:
            front.update(p.name for p in graph.producers(lay.name))
    if graph.outputs[0] in front:
        raise ConfigError(f"Split: {layer!r} is the model's output; nothing would be left for the CPU")
    g = graph.copy()
    prefix, head = Graph(graph.name), Graph(f"{graph.name}_head")
    head.add(Input(layer, shape=g[layer].shape))
    for lay in g.layers():
        inputs = [p.name for p in g.producers(lay.name)]
        if lay.name in front:
            prefix.add(lay, inputs)
            continue
        crossing = [p for p in inputs if p in front and p != layer]
        if crossing:
            raise ConfigError(
                f"Split: layer {lay.name!r} after the cut reads {crossing[0]!r} from before it; split at a layer "
                "that every path from the input to the output goes through"
            )
        head.add(lay, inputs)
    prefix.outputs, head.outputs = [layer], list(graph.outputs)
    prefix.lint()
    head.lint()
    return prefix, head


def _without_layers(cfg: Config, names: set[str]) -> Config:
    """`cfg` without LayerName entries for the CPU head's layers (they run in float, unconfigured)."""
    dropped = sorted(set(cfg.layer_name) & names)
    if not dropped:
        return cfg
    log.warning("LayerName settings of %s do not apply: those layers run on the CPU in float", ", ".join(dropped))
    cfg = copy.copy(cfg)
    cfg.layer_name = {k: v for k, v in cfg.layer_name.items() if k not in names}
    return cfg


class Project:
    """A converted model: its final graph, its config and (once written) its directory."""

    def __init__(self, graph: Graph, config: Config, path: Path | None, head: Head | None = None) -> None:
        self.graph = graph
        self.head = head  # the float CPU part of a split model
        self.config = config
        self.path = Path(path) if path is not None else None
        self.name = config.resolved_project_name(graph)
        self.timings: dict[str, float] = {}
        self.float_graph: Graph | None = None  # the optimized float graph (None for a loaded project)
        self.calibration = None  # nn2fpga.profile.Report when the config has a Calibration section
        self._csim = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.lint = True  # write() scans the firmware before the project moves into place (convert(lint=False): off)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Project:
        """Open a project directory written by `convert`."""
        path = Path(path)
        if not (path / "ir" / "graph.json").is_file():
            raise UserError(f"{path} is not an nn2fpga project (no ir/graph.json); create one with nn2fpga convert")
        head_file = path / "host" / "head.json"
        head = Head.load(head_file) if head_file.is_file() else None
        return cls(load_graph(path / "ir"), Config.from_yaml(path / "nn2fpga.yml"), path, head)

    def write(self, output_dir: str | os.PathLike, force: bool = False, progress: bool = False) -> Path:
        from nn2fpga.codegen.render import write_project
        from nn2fpga.profile import write_calibration
        from nn2fpga.runtime.host import write_serving

        def serving(root: Path, ctx: dict) -> None:  # host/ (driver) and triton/ (model repository)
            write_serving(root, self.graph, self.config, ctx, self.head)
            if self.lint:  # dynamic memory, containers, recursion in what Vitis HLS compiles: nothing is written
                check(lint_firmware(root / "firmware"), f"project {self.name}")

        self.path = write_project(
            self.graph, self.config, self.name, Path(output_dir), force=force, progress=progress, extra=serving
        )
        if self.calibration is not None:
            write_calibration(self.calibration, self.path)
        self._csim = None
        return self.path

    def _directory(self) -> Path:
        if self.path is None:  # an in-memory project compiles from a private temporary directory
            self._tmp = tempfile.TemporaryDirectory(prefix="nn2fpga-")
            self.write(Path(self._tmp.name) / self.name)
        return self.path

    def _io(self) -> tuple[list[tuple[int, FixedType]], list[tuple[int, FixedType]]]:
        """The values per sample and type of each kernel input and output, in model order."""
        outs = [self.graph[name] for name in self.graph.outputs]
        return [[(lay.size, lay.types["result"]) for lay in layers] for layers in (self.graph.inputs(), outs)]

    def compile(self, progress: bool = False):
        """Build (or reuse) the C simulation library and load it; returns the CSim handle."""
        if self._csim is None:
            from nn2fpga.sim.csim import CSim, build

            path = self._directory()
            self._csim = CSim(build(path, self.name, progress=progress), path, *self._io())
        return self._csim

    def _shaped(self, out, batch: int):
        """Kernel outputs (one (batch, n) array, or one per output) in the model's output shapes, through the
        CPU head of a split model."""
        outs = [out] if len(self.graph.outputs) == 1 else list(out)
        shaped = [y.reshape((batch, *self.graph[n].shape)) for y, n in zip(outs, self.graph.outputs)]
        return shaped[0] if len(shaped) == 1 else shaped

    def simulate(self, x, progress: bool = False, smallest=()):
        """Bounded-FIFO dataflow simulation of the batch `x` (io_stream only; `nn2fpga.sim.bounded`): a Run with
        the outputs (as `predict`; None after a deadlock), every stream's depth and high-water mark, the report,
        each process's loop iterations, and the smallest depth of the streams named in `smallest` (True: every
        stream deeper than 2)."""
        from nn2fpga.sim import bounded

        if self.graph.io_type != "io_stream":
            raise UserError(
                f"project {self.name} is io_parallel: it has no streams to bound (convert with IOType: io_stream)"
            )
        xs = self._check(x)
        run = bounded.simulate(self._directory(), self.name, xs, self._io(), progress=progress, smallest=smallest)
        if run.outputs is not None:
            run.outputs = self._shaped(run.outputs, len(xs[0]))
            run.outputs = self.head.run(run.outputs) if self.head is not None else run.outputs
        return run

    def _check(self, x) -> list[np.ndarray]:
        """The inputs as float64 arrays in model order: `x` is one array (a model with one input), a list in
        model order, or a mapping by input name (`nn2fpga predict -i name=X.npy`). UserError for anything else."""
        names = [layer.name for layer in self.graph.inputs()]
        if isinstance(x, dict):
            unknown = sorted(set(x) - set(names))
            if unknown:
                raise UserError(f"no input named {unknown[0]!r}; the model's inputs are {', '.join(names)}")
            missing = [n for n in names if n not in x]
            if missing:
                raise UserError(f"missing input {missing[0]!r}; the model's inputs are {', '.join(names)}")
            xs = [x[n] for n in names]
        elif isinstance(x, (list, tuple)) and len(names) > 1:
            if len(x) != len(names):
                raise UserError(f"{len(x)} input arrays for the {len(names)} inputs {', '.join(names)}")
            xs = list(x)
        elif len(names) > 1:
            raise UserError(f"the model has {len(names)} inputs ({', '.join(names)}): give one array each, as a "
                            "list in that order or by name")  # fmt: skip
        else:
            xs = [x]
        out = []
        for name, v in zip(names, xs):
            v = np.asarray(v)
            if v.dtype.kind not in "fiub":
                raise UserError(f"input {name!r} must be numeric, got dtype {v.dtype}")
            out.append(v.astype(np.float64))
        reference.check_input(self.graph, dict(zip(names, out)))
        if len({len(v) for v in out}) > 1:
            raise UserError(f"the inputs have different batch sizes: {', '.join(str(len(v)) for v in out)}")
        return out

    def _named(self, xs: list[np.ndarray]) -> dict[str, np.ndarray]:
        return {layer.name: v for layer, v in zip(self.graph.inputs(), xs)}

    def predict(self, x, backend: str = "csim", threads: int | None = None, head: bool = True):
        """Outputs for a batch `x`: (batch, *output shape), or a list of those for a model with several outputs.
        `x` is (batch, *input shape), or for several inputs a list in model order or a mapping by input name.

        For a split model, the accelerator's outputs go through the float CPU head, unless `head` is False.
        """
        if backend not in BACKENDS:
            raise UserError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        xs = self._check(x)
        if backend == "reference":
            out = reference.predict(self.graph, self._named(xs))
        else:
            threads = threads or min(os.cpu_count() or 1, 8)
            out = self._shaped(self.compile().predict(xs, threads=threads), len(xs[0]))
        return self.head.run(out) if head and self.head is not None else out

    def trace(self, x) -> dict[str, np.ndarray]:
        """Every layer's output (reference backend), keyed by layer name."""
        return reference.run(self.graph, self._named(self._check(x)), trace=True)

    def estimate(self):
        """Resources, cycles and latency per layer and in total on the configured part and clock
        (`nn2fpga.estimate.model.Estimate`)."""
        from nn2fpga.estimate.model import estimate

        return estimate(self.graph, self.config.part, self.config.clock_period, self.name)

    def summary(self) -> str:
        """The graph's table, the weight memories per layer and in total against the part, the estimate's totals."""
        from nn2fpga.estimate.devices import device
        from nn2fpga.estimate.memory import MEMORIES, memory_use

        use = {name: u for name, u in memory_use(self.graph).items() if any(u)}
        lines = [self.graph.summary(), "", "weights  " + "  ".join(label for _, label in MEMORIES)]
        lines += [f"  {name}: " + ", ".join(map(str, u)) for name, u in use.items()]
        part = device(self.config.part)
        totals = [sum(u[i] for u in use.values()) for i in range(len(MEMORIES))]
        lines.append(f"total on {part.name}: " + ", ".join(
            f"{t} of {getattr(part, key)} {label}" for t, (key, label) in zip(totals, MEMORIES)))  # fmt: skip
        from nn2fpga.estimate.report import summary_line

        lines.append(summary_line(self.estimate()))
        return "\n".join(lines)

    def profile(self, x=None, labels=None, progress: bool = False):
        """Float vs. fixed per tensor on inputs `x` (default: the config's calibration data): a profile.Report.

        The float side is the optimized graph of the converted model. For a project loaded from disk the
        original weights are gone, so the float side uses the quantized constants (activation error only).
        """
        from nn2fpga.passes.calibrate import calibration_data, check_data, check_labels, load_array
        from nn2fpga.profile import profile_graphs

        spec = self.config.calibration or {}
        if x is None:
            if not spec:
                raise UserError("profile: no data given and the config has no Calibration section")
            x = calibration_data(self.config, self.graph)
            labels = spec.get("labels") if labels is None else labels
        else:
            x = check_data(*load_array(x, "profile data", self.config), self.graph)
        if labels is not None:
            n_classes = self.graph[self.graph.outputs[0]].size
            labels = check_labels(*load_array(labels, "labels", self.config), len(x), n_classes)
        float_graph = self.float_graph if self.float_graph is not None else self.graph
        report = profile_graphs(float_graph, self.graph, x, labels, progress=progress)
        if spec:
            report.calibration = {"bits": spec["bits"], "margin": spec["margin"], "data": str(spec["data"])
                                  if isinstance(spec["data"], (str, Path)) else "array"}  # fmt: skip
        return report
