"""Helpers shared by the benchmarks in bench/: timing, formatting, machine info, docs sections.

Import from a benchmark run as a script (`bench/` is then on sys.path): `from _common import timed`.
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"


def timed(fn, *args, **kwargs):
    """(fn's output, wall seconds)."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def best_of(repeats, fn, *args, **kwargs):
    """(output of the last call, shortest wall time over `repeats` calls)."""
    best, out = float("inf"), None
    for _ in range(repeats):
        out, dt = timed(fn, *args, **kwargs)
        best = min(best, dt)
    return out, best


def short_error(exc: BaseException, limit: int = 140) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def gxx_version() -> str:
    try:
        out = subprocess.run([os.environ.get("CXX", "g++"), "-dumpfullversion"], capture_output=True, text=True)
        return out.stdout.strip() or "?"
    except OSError:
        return "not found"


def fmt(v: float, spec: str) -> str:
    return "—" if v != v else format(v, spec)  # NaN -> dash


class Row:
    """One backend's line in a throughput table: samples timed, their wall time, compile time, agreement."""

    def __init__(self, name: str):
        self.name = name
        self.samples = 0  # samples actually run for the timing
        self.seconds = float("nan")  # predict wall time for those samples
        self.compile_s = float("nan")
        self.agree = float("nan")  # argmax agreement with Keras
        self.note = ""
        self.failed = ""

    @property
    def rate(self) -> float:
        return self.samples / self.seconds if self.samples and self.seconds > 0 else float("nan")

    @property
    def us(self) -> float:
        return 1e6 * self.seconds / self.samples if self.samples else float("nan")


def table(rows: list[Row], noun: str = "sample") -> list[str]:
    """Markdown table of `rows`; `noun` names what a sample is in the headers ("sample", "image")."""
    out = [
        f"| Backend | {noun.capitalize()}s timed | {noun.capitalize()}s/s | µs/{noun} | Compile (s) | "
        "Argmax agreement with Keras | Notes |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if r.failed:
            out.append(f"| {r.name} | — | — | — | — | — | failed: {r.failed} |")
            continue
        agree = fmt(100 * r.agree, ".2f") + ("%" if r.agree == r.agree else "")
        out.append(
            f"| {r.name} | {r.samples:,} | {fmt(r.rate, ',.0f')} | {fmt(r.us, '.3f')} | "
            f"{fmt(r.compile_s, '.2f')} | {agree} | {r.note} |"
        )
    return out


def ratio(a: float, b: float) -> str:
    return "n/a" if a != a or b != b or b == 0 else f"{a / b:,.1f}×"


def machine_info(load_before: float) -> str:
    """CPUs, CPU model, Python and g++ versions, and the 1-min load average before/now."""
    nproc = len(os.sched_getaffinity(0))
    return (
        f"{os.cpu_count()} CPUs (nproc {nproc}), {cpu_model()}; Python "
        f"{platform.python_version()}, g++ {gxx_version()}; load average before/after the run "
        f"{load_before:.2f}/{os.getloadavg()[0]:.2f} (1-min load average; above {nproc} "
        "means other processes competed for the CPUs, so throughput numbers are noisy)"
    )


def now() -> str:
    return datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")


def command_line(script: str, argv) -> str:
    """The command that reproduces this run, e.g. `.venv/bin/python bench/x.py --flag`."""
    import sys

    args = argv if argv is not None else sys.argv[1:]
    return f".venv/bin/python {script}" + "".join(" " + shlex.quote(a) for a in args)


def write_section(lines: list[str], begin: str, end: str, doc: Path = DOC) -> None:
    """Replace the `begin`...`end` section of `doc` with `lines` (append it if missing).

    The file is re-read right before writing (other benchmarks own other sections) and replaced atomically.
    """
    section = "\n".join([begin, *lines, end])
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        start, stop = text.index(begin), text.index(end) + len(end)
        text = text[:start] + section + text[stop:]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    tag = "".join(c if c.isalnum() or c in "_-" else "_" for c in begin.strip("<!-> ").split(":")[-1])
    tmp = doc.with_suffix(f".md.tmp-{tag}")
    tmp.write_text(text)
    os.replace(tmp, doc)


def publish(lines: list[str], machine: str, date: str, cmd: str, begin: str, end: str, doc: Path = DOC) -> None:
    """Write a benchmark's section (its `lines`, then machine, date and the reproducing command) into `doc`."""
    footer = ["", f"Machine: {machine}. Date: {date}.", "", "Command:", "", "```sh", cmd, "```"]
    write_section([*lines, *footer], begin, end, doc)
    print(f"wrote {doc.relative_to(ROOT)} (section {begin})")
