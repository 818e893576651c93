"""Jet generation rate (docs/benchmarks.md, "Jets"): jets/s per core with 40x40 images for each process, side by
side with the bare Pythia event rate of the same settings (the ratio is the cost of clustering, matching,
the selection's efficiency and the images); with --full, 20k top + 20k QCD jets on every core, timed.

    .venv/bin/python bench/jets.py [--full] [-n 1000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def _pythia_events_per_s(process: str, count: int = 2000) -> float:
    from nn2fpga.datasets import events, jets

    py = events.make_pythia(process, 7, jets.Settings())
    t = time.perf_counter()
    for _ in range(count // events.BATCH):
        py.nextBatch(events.BATCH)
    return count / (time.perf_counter() - t)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="jets per process for the per-core rates")
    parser.add_argument("--full", action="store_true", help="also 20k top + 20k QCD on every core")
    args = parser.parse_args()
    from nn2fpga.datasets import jets

    print(f"| process | jets/s per core (40x40 images) | Pythia events/s | jets per event |  ({args.n} jets, 1 core)")
    print("| --- | --- | --- | --- |")
    for process in jets.PROCESSES:
        t = time.perf_counter()
        data = jets.generate([process], args.n, seed=1, workers=1, cache=False)
        data.images(40)
        rate = args.n / (time.perf_counter() - t)
        events = _pythia_events_per_s(process)
        print(f"| {process} | {rate:.0f} | {events:.0f} | {rate / events:.3f} |", flush=True)
    if args.full:
        cores = os.cpu_count() or 1
        with tempfile.TemporaryDirectory() as cache:
            os.environ["XDG_CACHE_HOME"] = cache
            t = time.perf_counter()
            data = jets.generate(["top", "qcd"], 20_000, seed=1, workers=cores, progress=True)
            data.images(40)
            took = time.perf_counter() - t
        print(f"\n20,000 top + 20,000 QCD jets with 40x40 images on {cores} cores: {took:.0f} s "
              f"({40_000 / took:.0f} jets/s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
