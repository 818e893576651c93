"""Bounded-FIFO dataflow simulation of an io_stream project: are its FIFO depths deep enough?

The project's C simulation is built a second time with `-DN2F_BOUNDED_STREAMS` (a library of its own in
the cache): every `hls::stream` then holds at most its declared depth, `write` blocks while it is full
and `read` while it is empty, and the processes of the top function's DATAFLOW region (each layer call,
each fork) run concurrently, one thread each. A run that completes gives the same outputs as csim; one in
which every live process is blocked stops with a report naming each blocked process and its stream. Each
stream's high-water mark is the most it held; after a run that completed, a depth that suffices (`Stream`).
The build also counts the iterations of every pipelined loop, per process (N2F_COUNT, `n2f_trips`): the trip
counts the cycle model (`nn2fpga.estimate.cycles`) is tested against.

What it proves: under the csim's process semantics (a process blocks only on a full or empty stream; a
stage that reads or writes several streams at once waits for all of them), these depths cannot deadlock
on these inputs. It has no clock: it models no initiation intervals or latencies (the cycle model does,
from the same loop counts); Vitis cosimulation remains the authority.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nn2fpga import toolchain
from nn2fpga.ir.errors import UserError
from nn2fpga.ir.types import FixedType
from nn2fpga.sim.csim import CSim, build


def flags() -> list[str]:
    """The g++ flags of the bounded build; nn2fpga's hls_stream.h first on the include path, which has the mode."""
    return ["-DN2F_BOUNDED_STREAMS", f"-I{toolchain.template_dir()}"]


@dataclass(frozen=True)
class Stream:
    """One FIFO: its C++ name, its declared depth and the most elements it held (its high-water mark).

    After a run that completed, the high-water marks are depths that suffice, all of them at once: with every
    stream at its mark, the run's own order of reads and writes is still possible (no write found its stream
    holding its mark), and a dataflow whose processes each wait for one given stream at a time (a Kahn network
    with bounded channels) deadlocks, or not, whatever the schedule. So it completes too. The smallest depth
    that works may be lower: the marks follow the order in which the threads happened to run. After a deadlock
    they prove nothing."""

    name: str
    depth: int
    high_water: int

    @property
    def full(self) -> bool:
        """It reached its depth: its writer may have waited for room."""
        return self.high_water >= self.depth


@dataclass
class Run:
    """A bounded simulation: outputs (None after a deadlock), the streams, the deadlock report, seconds, the
    samples run, each process's pipelined-loop iterations over all of them (`n2f_trips`) and, where asked
    for, the smallest depth of some streams (`smallest_depth`)."""

    outputs: np.ndarray | None
    streams: list[Stream]
    deadlock: str
    build_s: float
    run_s: float
    samples: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    smallest: dict[str, int] = field(default_factory=dict)

    def needed(self, stream: Stream) -> int | None:
        """The depth this run shows to suffice for `stream` (its high-water mark; see `Stream`), None after a
        deadlock."""
        return None if self.deadlock else stream.high_water

    def trips(self) -> dict[str, float]:
        """Iterations per image of every counted process: its count over the run divided by the samples."""
        return {name: n / self.samples for name, n in self.counts.items()} if self.samples else {}

    def as_dict(self) -> dict:
        """The run for JSON: whether it completed, the report, samples, seconds, and per stream its depth,
        high-water mark, needed and smallest depth (None where there is none)."""
        streams = [{"name": s.name, "depth": s.depth, "high_water": s.high_water, "needed": self.needed(s),
                    "smallest": self.smallest.get(s.name)} for s in self.streams]  # fmt: skip
        return {"completed": not self.deadlock, "deadlock": self.deadlock, "samples": self.samples,
                "build_s": self.build_s, "run_s": self.run_s, "streams": streams}  # fmt: skip

    def table(self) -> str:
        """The streams, one per line: name, depth, high-water mark, needed, and the smallest depth where it was
        searched (`full` where the high-water mark reached the depth)."""
        width = max([len("stream"), *(len(s.name) for s in self.streams)])
        head = f"{'stream':<{width}}  {'depth':>7}  {'high-water':>10}  {'needed':>6}"
        lines = [head + (f"  {'smallest':>8}" if self.smallest else "")]
        for s in self.streams:
            needed = self.needed(s)
            cells = f"{s.name:<{width}}  {s.depth:>7}  {s.high_water:>10}  {'-' if needed is None else needed:>6}"
            if self.smallest:
                cells += f"  {self.smallest.get(s.name, '-'):>8}"
            lines.append(cells + ("  full" if s.full else ""))
        return "\n".join(lines)


def _completes(sim: CSim, x: np.ndarray) -> bool:
    sim.predict(x, threads=1)
    return not sim.text("n2f_deadlock")


def smallest_depth(sim: CSim, x: np.ndarray, stream: str, depth: int) -> int:
    """The smallest depth of `stream` with which the bounded run of `x` completes, every other stream at its
    declared depth; `depth` is one that completes (its high-water mark in a run that completed is one, see
    `Stream`). Completion is monotone in the depth (a larger FIFO admits the smaller one's run) and does not
    depend on the schedule, so bisection finds it exactly."""
    set_depth = sim.lib.n2f_set_depth
    set_depth.argtypes = [ctypes.c_char_p, ctypes.c_int]
    lo, hi = 1, depth
    try:
        while lo < hi:
            mid = (lo + hi) // 2
            set_depth(stream.encode(), mid)
            lo, hi = (lo, mid) if _completes(sim, x) else (mid + 1, hi)
    finally:
        set_depth(stream.encode(), 0)
    return hi


def simulate(
    project_dir: Path,
    project: str,
    x,
    ports: tuple[Sequence[tuple[int, FixedType]], Sequence[tuple[int, FixedType]]],
    progress: bool = False,
    smallest: Sequence[str] | bool = (),
) -> Run:
    """Build (or reuse) the bounded library of the project in `project_dir` and run the float batch `x`
    through it in one kernel call (samples overlap), one array per input (or one array); `ports`: the values per
    sample and type of each input and of each output (`CSim`). Outputs are as `CSim.predict` gives them. After a
    run that completed, the streams named in `smallest` (True: every stream deeper than 2) get their smallest depth
    (`smallest_depth`, on the first sample: each sample runs a dataflow region of its own)."""
    start = time.perf_counter()
    lib = build(project_dir, project, progress=progress, flags=flags())
    sim = CSim(lib, project_dir, *ports)
    built = time.perf_counter()
    y = sim.predict(x, threads=1)
    elapsed = time.perf_counter() - built
    report = sim.text("n2f_deadlock")
    rows = (line.split() for line in sim.text("n2f_streams").splitlines())
    streams = [Stream(name, int(depth), int(high)) for name, depth, high in rows]
    counts = {name: int(n) for name, n in (line.split() for line in sim.text("n2f_trips").splitlines())}
    first = list(x) if isinstance(x, (list, tuple)) else [x]
    run = Run(None if report else y, streams, report, built - start, elapsed, len(first[0]), counts)
    if smallest and not report:
        depths = {s.name: s.depth for s in streams}
        smallest = [s.name for s in streams if s.depth > 2] if smallest is True else smallest
        unknown = [name for name in smallest if name not in depths]
        if unknown:
            raise UserError(f"no stream {unknown[0]!r} in project {project}; streams: {', '.join(depths)}")
        marks = {s.name: max(s.high_water, 1) for s in streams}  # depths shown to suffice: the search's upper end
        run.smallest = {name: smallest_depth(sim, [v[:1] for v in first], name, marks[name]) for name in smallest}
    return run
