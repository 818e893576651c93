"""Bounded-FIFO dataflow simulation of an io_stream project: are its FIFO depths deep enough?

The project's C simulation is built a second time with `-DN2F_BOUNDED_STREAMS` (a library of its own in
the cache): every `hls::stream` then holds at most its declared depth, `write` blocks while it is full
and `read` while it is empty, and the processes of the top function's DATAFLOW region (each layer call,
each fork) run concurrently, one thread each. A run that completes gives the same outputs as csim; one in
which every live process is blocked stops with a report naming each blocked process and its stream. Each
stream's high-water mark is the depth this run needed.

What it proves: under the csim's process semantics (a process blocks only on a full or empty stream; a
stage that reads or writes several streams at once waits for all of them), these depths cannot deadlock
on these inputs. It models no cycles or latencies: Vitis cosimulation remains the authority.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nn2fpga import toolchain
from nn2fpga.ir.types import FixedType
from nn2fpga.sim.csim import CSim, build


def flags() -> list[str]:
    """The g++ flags of the bounded build; nn2fpga's hls_stream.h first on the include path, which has the mode."""
    return ["-DN2F_BOUNDED_STREAMS", f"-I{toolchain.template_dir()}"]


@dataclass(frozen=True)
class Stream:
    """One FIFO: its C++ name, its declared depth and the most elements it held (its high-water mark)."""

    name: str
    depth: int
    high_water: int


@dataclass
class Run:
    """A bounded simulation: outputs (None after a deadlock), the streams, the deadlock report, seconds."""

    outputs: np.ndarray | None
    streams: list[Stream]
    deadlock: str
    build_s: float
    run_s: float

    def table(self) -> str:
        """The streams, one per line: name, depth, high-water mark (`full` where it reached the depth)."""
        width = max([len("stream"), *(len(s.name) for s in self.streams)])
        lines = [f"{'stream':<{width}}  {'depth':>7}  {'high-water':>10}"]
        for s in self.streams:
            note = "  full" if s.high_water >= s.depth else ""
            lines.append(f"{s.name:<{width}}  {s.depth:>7}  {s.high_water:>10}{note}")
        return "\n".join(lines)


def simulate(
    project_dir: Path,
    project: str,
    x: np.ndarray,
    types: tuple[FixedType, FixedType],
    raws: tuple[str, str],
    progress: bool = False,
) -> Run:
    """Build (or reuse) the bounded library of the project in `project_dir` and run the float batch `x`
    through it in one kernel call (samples overlap); `types` and `raws` are the input and output types and their raw
    C word types. Outputs are (batch, n_out) floats."""
    start = time.perf_counter()
    lib = build(project_dir, project, progress=progress, flags=flags())
    sim = CSim(lib, project_dir, *types, *raws)
    built = time.perf_counter()
    y = sim.predict(x, threads=1)
    report = sim.text("n2f_deadlock")
    rows = (line.split() for line in sim.text("n2f_streams").splitlines())
    streams = [Stream(name, int(depth), int(high)) for name, depth, high in rows]
    return Run(None if report else y, streams, report, built - start, time.perf_counter() - built)
