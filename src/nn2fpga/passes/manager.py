"""Pass manager: named flows of plain pass functions `pass(graph, config) -> bool` (changed).

The manager copies the graph once, runs each pass to a fixed point (a pass rewrites every match
per sweep and is swept again until it reports no change, at most MAX_SWEEPS times: a pass still
changing the graph then is a bug, raised as PassError), lints the graph after every pass, times the
passes, and on failure names the pass and the chain that ran before it. `config.disabled_passes`
switches passes off by function name. `NN2FPGA_DUMP=dir` writes the graph after every pass.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from nn2fpga.config import Config
from nn2fpga.ir.errors import UserError
from nn2fpga.ir.graph import Graph
from nn2fpga.passes.calibrate import calibrate_precision
from nn2fpga.passes.fold import fold_layers
from nn2fpga.passes.hardware import choose_io_type, place_weights, size_fifos
from nn2fpga.passes.memory import plan_storage
from nn2fpga.passes.optimize import fold_batchnorm, fold_zeropad, fuse_activation, merge_reshapes, remove_noops
from nn2fpga.passes.quantize import infer_precision

log = logging.getLogger(__name__)

Pass = Callable[[Graph, Config], bool]

FLOWS: dict[str, tuple[Pass, ...]] = {
    "optimize": (remove_noops, merge_reshapes, fold_zeropad, fold_batchnorm, fuse_activation),
    "calibrate": (calibrate_precision,),  # a no-op without a Calibration section
    "quantize": (infer_precision,),
    "hardware": (choose_io_type, fold_layers, plan_storage, size_fifos, place_weights),
}
DEFAULT_FLOWS = ("optimize", "calibrate", "quantize", "hardware")
ALL_PASSES = {p.__name__: p for flow in FLOWS.values() for p in flow}
MAX_SWEEPS = 10  # a one-sweep pass converges in two; chains of rewrites that enable others in a few more


class PassError(RuntimeError):
    """A pass raised or broke a graph invariant; the message names the pass and the chain before it."""


def run_flows(graph: Graph, config: Config, flows: Sequence[str] = DEFAULT_FLOWS) -> tuple[Graph, dict[str, float]]:
    """Run the named flows on a copy of `graph`; returns the new graph and seconds per pass."""
    g = graph.copy()
    disabled = set(config.disabled_passes)
    unknown = disabled - set(ALL_PASSES)
    if unknown:
        raise UserError(f"DisabledPasses: unknown pass {sorted(unknown)[0]!r}; passes: {', '.join(ALL_PASSES)}")
    dump = os.environ.get("NN2FPGA_DUMP")
    timings: dict[str, float] = {}
    chain: list[str] = []
    for flow in flows:
        for p in FLOWS[flow]:
            name = p.__name__
            if name in disabled:
                log.info("pass %s disabled by config", name)
                continue
            before = " -> ".join(chain) or "(none)"
            start = time.perf_counter()
            try:
                # any() stops at the first sweep that changes nothing: the fixed point
                converged = any(not p(g, config) for _ in range(MAX_SWEEPS))
                g.lint()
            except UserError:
                raise
            except Exception as e:
                raise PassError(f"pass {name!r} failed (after {before}): {e}") from e
            if not converged:
                raise PassError(
                    f"pass {name!r} did not converge: it still changed the graph after {MAX_SWEEPS} "
                    f"sweeps (after {before})"
                )
            timings[name] = time.perf_counter() - start
            chain.append(name)
            log.info("pass %s: %.3f s", name, timings[name])
            if dump:
                _dump(g, Path(dump), len(chain), name)
    return g, timings


def _dump(g: Graph, directory: Path, step: int, name: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{step:02d}_{name}.txt").write_text(g.summary() + "\n")
    (directory / f"{step:02d}_{name}.dot").write_text(g.to_dot())
