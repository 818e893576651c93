"""Render a project directory from the graph: one Jinja environment, atomic writes.

The project is rendered into a temporary sibling directory and renamed into place, so a failure
never leaves a half-written project; an existing directory is refused unless `force`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import jinja2
import numpy as np

from nn2fpga import __version__, toolchain
from nn2fpga.codegen.context import project_context
from nn2fpga.errors import UserError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.serialize import save_graph

log = logging.getLogger(__name__)

_ENV: jinja2.Environment | None = None


def environment() -> jinja2.Environment:
    global _ENV
    if _ENV is None:
        _ENV = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(toolchain.template_dir() / "project")),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            autoescape=False,
        )
    return _ENV


def render(template: str, **context: object) -> str:
    return environment().get_template(template).render(**context)


def write_project(
    graph: Graph, config, project: str, out_dir: Path, force: bool = False, progress: bool = False
) -> Path:
    """Write the generated project for `graph` to `out_dir` (atomically)."""
    out_dir = Path(out_dir).resolve()
    if out_dir.exists() and not force:
        raise UserError(f"output directory {out_dir} already exists; use --force (force=True) to replace it")
    parent = out_dir.parent
    if not parent.is_dir():
        raise UserError(f"cannot write {out_dir}: the parent directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UserError(f"cannot write {out_dir}: the directory {parent} is not writable")
    ctx = project_context(graph, project, config)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=parent))
    try:
        _write_all(tmp, graph, config, ctx, progress)
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


def _write_all(root: Path, graph: Graph, config, ctx: dict, progress: bool) -> None:
    project = ctx["project"]
    fw = root / "firmware"
    (fw / "weights").mkdir(parents=True)
    (root / "weights").mkdir()
    (root / "csim").mkdir()
    (root / "tb").mkdir()
    files = {
        fw / "defines.h": "defines.h.j2",
        fw / "parameters.h": "parameters.h.j2",
        fw / f"{project}.h": "top.h.j2",
        fw / f"{project}.cpp": "top.cpp.j2",
        fw / "kernel.cpp": "kernel.cpp.j2",
        root / "csim" / "bridge.cpp": "bridge.cpp.j2",
        root / "tb" / f"{project}_test.cpp": "testbench.cpp.j2",
        root / "build_prj.tcl": "build_prj.tcl.j2",
    }
    for path, template in files.items():
        path.write_text(render(template, **ctx))
    # The C++ layer library travels with the project (Vitis HLS builds it from there).
    shutil.copytree(toolchain.template_dir() / "n2f", fw / "n2f")
    constants = ctx["constants"]
    if progress:
        from tqdm import tqdm

        constants = tqdm(constants, desc="writing weights", unit="array", leave=False)
    for c in constants:
        (fw / "weights" / f"{c.var}.h").write_text(render("weights.h.j2", c=c))
        np.ascontiguousarray(c.values.ravel(), dtype="<f8").tofile(root / "weights" / f"{c.var}.bin")
    (root / "nn2fpga.yml").write_text(config.resolved_yaml(graph))
    save_graph(graph, root / "ir")
    report = {
        "nn2fpga_version": __version__,
        "project": project,
        "part": config.part,
        "clock_period_ns": config.clock_period,
        "io_type": "io_parallel",
        "input": {"shape": list(graph.inputs()[0].shape), "type": ctx["input_type"], "raw": ctx["in_raw"]},
        "output": {"shape": list(graph[graph.outputs[0]].shape), "type": ctx["output_type"], "raw": ctx["out_raw"]},
        "layers": [
            {
                "name": lay.name,
                "kind": lay.kind,
                "shape": list(lay.shape),
                "types": {k: v.cpp() for k, v in lay.types.items()},
                "reuse_factor": lay.reuse_factor if lay.HAS_MULTIPLIERS else None,
                "multipliers": -(-lay.n_multiplications // lay.reuse_factor) if lay.HAS_MULTIPLIERS else 0,
            }
            for lay in graph.layers()
        ],
    }
    (root / "report.json").write_text(json.dumps(report, indent=2) + "\n")
