"""Hostile model files against `nn2fpga convert`, one fresh process per case (docs/reliability.md, "Hostile model
files"): exit status, peak resident memory, wall seconds from start to exit, whether TensorFlow was imported, and
the one-line error. The cases are tests/frontend/hostile_files.py's, plus the issue's own bomb (a .keras file of
about 4 MB whose weights decompress to 4 GiB of zeros; written to a temporary directory, about 10 s to make) and
a damaged .h5 that only Keras can read (so TensorFlow is imported: the one case that is not refused before).

    .venv/bin/python bench/hostile.py [--no-write] [--no-real-bomb]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "frontend"))
from _common import ROOT, command_line, machine_info, now, publish  # noqa: E402 - bench/ is on sys.path
from hostile_files import CASES, GiB, bomb, keras_path_mismatch, run_cli  # noqa: E402 - so is tests/frontend

DOC = ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- bench:hostile -->", "<!-- /bench:hostile -->"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    parser.add_argument("--no-real-bomb", action="store_true", help="leave out the 4 GiB bomb (10 s to make)")
    args = parser.parse_args(argv)
    cases = {**CASES, "weights do not match, .h5 read by Keras": ("keras_path.h5", keras_path_mismatch, "")}
    if not args.no_real_bomb:
        cases["bomb, 4 GiB of zeros (the issue's)"] = ("bomb4g.keras", lambda p: bomb(p, size=4 * GiB), "")
    load = os.getloadavg()[0]
    lines = ["| case | on disk | exit | peak MB | seconds | TensorFlow | stderr lines | message (the last line) |",
             "|---|---:|---:|---:|---:|---|---:|---|"]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for case, (name, build, _) in cases.items():
            work = Path(tmp) / f"case{len(lines)}"
            (work / "tmp").mkdir(parents=True)
            path = build(work / name)
            status, seconds, [run] = run_cli([["convert", str(path), "-o", str(work / "prj")]], work / "tmp")
            err = run.stderr.strip().splitlines()
            message = err[-1] if status else "converts"
            message = message.replace(f"{path}", path.name).replace("|", "\\|")
            size = path.stat().st_size
            tf = "imported" if run.tensorflow else "no"
            row = (f"| {case} | {size / 1024:,.0f} KiB | {status} | {run.peak_mb:,.0f} | {seconds:.2f} | {tf} | "
                   f"{len(err) if status else '—'} | {message} |")  # fmt: skip
            lines.append(row)
            print(row, flush=True)
            path.unlink()
    if not args.no_write:
        publish(lines, machine_info(load), now(), command_line("bench/hostile.py", argv), BEGIN, END, DOC)


if __name__ == "__main__":
    main()
