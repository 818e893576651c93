"""Render a project directory from the graph: one Jinja environment, atomic writes.

The project is rendered into a temporary sibling directory and renamed into place, so a failure
never leaves a half-written project; an existing directory is refused unless `force`.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import jinja2
import numpy as np

from nn2fpga import toolchain
from nn2fpga.codegen.context import project_context
from nn2fpga.codegen.stream import stream_context
from nn2fpga.estimate.memory import memory_use
from nn2fpga.estimate.model import estimate, with_estimate
from nn2fpga.ir.errors import UserError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.serialize import save_graph
from nn2fpga.version import __version__

log = logging.getLogger(__name__)


@functools.cache
def environment() -> jinja2.Environment:
    """The one Jinja environment of the project templates (created on first use)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(toolchain.template_dir() / "project")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(cpp_const_type=cpp_const_type, cpp_literal=cpp_literal, tcl_quote=tcl_quote)
    return env


def cpp_const_type(value: object) -> str:
    """C++ type of a config-struct constant, from its Python type."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str) and value.startswith("n2f::"):
        return "n2f::strategy_t"
    return "int"


def cpp_literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # round-trips exactly; the value is representable in its type
    return str(value)


# backslash-escape what Tcl substitutes or parses inside a double-quoted word; a newline becomes \n
_TCL_ESCAPES = str.maketrans({"\n": "\\n", **{ch: "\\" + ch for ch in '\\"$[]{}'}})


def tcl_quote(text: str) -> str:
    """`text` as a double-quoted Tcl word (also a valid list element) that stands for exactly `text`."""
    return '"' + text.translate(_TCL_ESCAPES) + '"'


def render(template: str, **context: object) -> str:
    return environment().get_template(template).render(**context)


def write_project(
    graph: Graph,
    config,
    project: str,
    out_dir: Path,
    force: bool = False,
    progress: bool = False,
    extra: Callable[[Path, dict], None] | None = None,
) -> Path:
    """Write the generated project for `graph` to `out_dir`; `extra(root, context)` adds files (the serving
    part: host driver, Triton repository) before the project is renamed into place.

    The graph carries every hardware decision (the hardware flow ran): this only renders them.
    """
    out_dir = Path(out_dir).resolve()
    if out_dir.exists() and not force:
        raise UserError(f"output directory {out_dir} already exists; use --force (force=True) to replace it")
    parent = out_dir.parent
    if not parent.is_dir():
        raise UserError(f"cannot write {out_dir}: the parent directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UserError(f"cannot write {out_dir}: the directory {parent} is not writable")
    ctx = (stream_context if graph.io_type == "io_stream" else project_context)(graph, project, config)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=parent))
    try:
        _write_all(tmp, graph, config, ctx, progress)
        if extra is not None:
            extra(tmp, ctx)
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.", dir=parent))
            os.replace(out_dir, old / "prj")
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("wrote project %s to %s", project, out_dir)
    return out_dir


_BODY = "\x00literals\x00"


def _write_all(root: Path, graph: Graph, config, ctx: dict, progress: bool) -> None:
    project = ctx["project"]
    ctx = {**ctx, "weight_literals": graph.weight_literals}
    fw = root / "firmware"
    (fw / "weights").mkdir(parents=True)
    (root / "weights").mkdir()
    (root / "csim").mkdir()
    (root / "tb").mkdir()
    files = {
        fw / "defines.h": "defines.h.j2",
        fw / "parameters.h": "parameters.h.j2",
        fw / f"{project}.h": "top.h.j2",
        fw / f"{project}.cpp": "top_stream.cpp.j2" if ctx["io_type"] == "io_stream" else "top.cpp.j2",
        fw / "kernel.cpp": "kernel.cpp.j2",
        fw / "kernel.h": "kernel.h.j2",
        root / "csim" / "bridge.cpp": "bridge.cpp.j2",
        root / "tb" / f"{project}_test.cpp": "testbench.cpp.j2",
        root / "build_prj.tcl": "build_prj.tcl.j2",
        root / "link.cfg": "link.cfg.j2",
        root / "build_xclbin.sh": "build_xclbin.sh.j2",
    }
    for path, template in files.items():
        path.write_text(render(template, **ctx))
    # The C++ layer library travels with the project (Vitis HLS builds it from there).
    shutil.copytree(toolchain.template_dir() / "n2f", fw / "n2f")
    constants = ctx["all_constants"]
    if progress:
        from tqdm import tqdm

        constants = tqdm(constants, desc="writing weights", unit="array", leave=False)
    literals = ctx["weight_literals"]
    for c in constants:
        np.save(root / "weights" / f"{c.var}.npy", c.raw(), allow_pickle=False)
        if literals == "inline" and c.onchip:
            (fw / "weights" / f"{c.var}.h").write_text(render("weights.h.j2", c=c, body=c.initializer()))
    if literals == "at_build":  # build_prj.tcl writes firmware/weights/*.h from weights/*.npy
        parts = [render("weights.h.j2", c=c, body=_BODY).split(_BODY) for c in ctx["constants"]]
        entries = [
            {"var": c.var, "frac": c.dtype.frac, "head": h, "tail": t} for c, (h, t) in zip(ctx["constants"], parts)
        ]
        (fw / "weights.tcl").write_text(render("weights.tcl.j2", **{**ctx, "constants": entries}))
    (root / "nn2fpga.yml").write_text(config.resolved_yaml(graph))
    # the IR's constants are the same raw integers as weights/*.npy: refer to them instead of a copy
    shared = {c.source: f"../weights/{c.var}.npy" for c in ctx["all_constants"] if c.source is not None}
    if ctx.get("weight_ports"):  # uram / offchip weights: their DDR image, every port's lines in turn
        image = np.concatenate([p["image"].reshape(-1) for p in ctx["weight_ports"]])
        image.tofile(root / "weights" / "streamed.bin")
    save_graph(graph, root / "ir", shared)
    memory = memory_use(graph)  # RAMB18, URAM, LUTs as memory of each layer's weights
    report = {
        "nn2fpga_version": __version__,
        "project": project,
        "part": config.part,
        "clock_period_ns": config.clock_period,
        "io_type": ctx["io_type"],
        "weight_literals": literals,
        "inputs": [p.meta(p.layer) for p in ctx["inputs"]],
        "outputs": [p.meta(p.layer) for p in ctx["outputs"]],
        "layers": [
            {
                "name": lay.name,
                "kind": lay.kind,
                "shape": list(lay.shape),
                "types": {k: v.cpp() for k, v in lay.types.items()},
                "reuse_factor": lay.reuse_factor if lay.HAS_MULTIPLIERS else None,
                "strategy": lay.strategy if lay.HAS_MULTIPLIERS else None,
                "multipliers": lay.multiplier_limit,
                "pe": getattr(lay, "pe", None) or None,
                "simd": getattr(lay, "simd", None) or None,
                "weight_storage": getattr(lay, "weight_storage", None) or None,
                "memory": dict(zip(("bram18", "uram", "lutram"), memory.get(lay.name, (0, 0, 0)))),
                "lanes": lay.lanes if graph.io_type == "io_stream" else None,
                "fifo_depths": list(lay.fifo_depths),
            }
            for lay in graph.layers()
        ],
    }
    (root / "report.json").write_text(json.dumps(with_estimate(report, estimate(graph, config.part,
                                      config.clock_period, project)), indent=2) + "\n")  # fmt: skip
