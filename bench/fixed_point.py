"""Benchmark nn2fpga's ap_fixed C-simulation headers against the Xilinx reference headers.

Run: .venv/bin/python bench/fixed_point.py [--macs N] [--no-docs]

1. Multiply-accumulate throughput: ap_fixed<16,6> x ap_fixed<16,6> summed exactly into ap_fixed<48,28>,
   the same source (-O2) built against each header set, in the same run.
2. Compile time of a small translation unit that includes ap_fixed.h, ap_int.h and hls_stream.h and
   uses a few operations (median of 3 builds).
Prints a table and rewrites the "Fixed-point headers" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from nn2fpga.toolchain import template_dir, xilinx_reference_include_dir

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:fixed_point -->", "<!-- /bench:fixed_point -->"
CXX = ["g++", "-std=c++17", "-O2"]

# Each repetition re-reads the arrays behind an empty asm barrier, so the compiler can neither fold
# the loop nor hoist it out of the repetition loop; the accumulator is reset per block (the sum of a
# block fits ap_fixed<48,28> exactly) and every block's sum reaches a volatile checksum.
MAC_SOURCE = r"""
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include "ap_fixed.h"
typedef ap_fixed<16, 6> data_t;
typedef ap_fixed<48, 28> acc_t;
int main(int argc, char** argv) {
  const int n = 4096;
  const long blocks = atol(argv[1]) / n;
  std::vector<data_t> x(n), w(n);
  unsigned s = 12345;
  for (int i = 0; i < n; ++i) {
    s = s * 1103515245u + 12345u;
    x[i] = double(int(s >> 8) % 60000) / 1000.0 - 30.0;
    s = s * 1103515245u + 12345u;
    w[i] = double(int(s >> 8) % 60000) / 1000.0 - 30.0;
  }
  volatile double checksum = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (long b = 0; b < blocks; ++b) {
    asm volatile("" : : "r"(x.data()), "r"(w.data()) : "memory");
    acc_t acc = 0;
    for (int i = 0; i < n; ++i) acc += x[i] * w[i];
    checksum = checksum + acc.to_double();
  }
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  printf("%.6f %ld %.17g\n", sec, blocks * n, double(checksum));
  return 0;
}
"""

COMPILE_SOURCE = r"""
#include "ap_fixed.h"
#include "ap_int.h"
#include "hls_stream.h"
typedef ap_fixed<16, 6> data_t;
typedef ap_fixed<32, 12, AP_RND_CONV, AP_SAT> acc_t;
void kernel(hls::stream<data_t>& in, hls::stream<data_t>& out, const data_t w[8]) {
  acc_t acc = 0;
  for (int i = 0; i < 8; ++i) acc += in.read() * w[i];
  ap_uint<4> n = 3;
  ap_int<12> k = n * 5 - 7;
  out.write(data_t(acc > 0 ? acc : acc_t(0)) + k);
}
"""


def _compile(src: Path, include: Path, out: Path, extra: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([*CXX, f"-I{include}", *extra, str(src), "-o", str(out)], check=True)
    return time.perf_counter() - t0


def mac_throughput(include: Path, work: Path, macs: int, tag: str) -> tuple[float, str]:
    """(M MAC/s, checksum) of the MAC kernel built against `include`."""
    src = work / "mac.cpp"
    src.write_text(MAC_SOURCE)
    exe = work / f"mac_{tag}"
    _compile(src, include, exe, [])
    sec, n, checksum = subprocess.run([str(exe), str(macs)], check=True, capture_output=True, text=True).stdout.split()
    return int(n) / float(sec) / 1e6, checksum


def compile_seconds(include: Path, work: Path, runs: int = 3) -> float:
    """Median wall time to compile COMPILE_SOURCE to an object file."""
    src = work / "tu.cpp"
    src.write_text(COMPILE_SOURCE)
    return statistics.median(_compile(src, include, work / "tu.o", ["-c"]) for _ in range(runs))


def update_docs(section: str) -> None:
    """Replace (or append) the marked section of docs/benchmarks.md."""
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    block = f"{BEGIN}\n{section}{END}"
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block + "\n"
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--macs", type=int, default=100_000_000, help="multiply-accumulates per header set")
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    headers = {"nn2fpga": template_dir(), "Xilinx reference": xilinx_reference_include_dir()}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        mac = {name: mac_throughput(inc, work, args.macs, f"{k}") for k, (name, inc) in enumerate(headers.items())}
        comp = {name: compile_seconds(inc, work) for name, inc in headers.items()}
    ours, ref = "nn2fpga", "Xilinx reference"
    if mac[ours][1] != mac[ref][1]:
        raise SystemExit(f"checksums differ: {mac[ours][1]} vs {mac[ref][1]}")
    gxx = subprocess.run(["g++", "-dumpfullversion"], capture_output=True, text=True).stdout.strip()
    rows = [
        "| headers | MAC throughput (M MAC/s) | compile time (s) |",
        "|---|---:|---:|",
        *(f"| {name} | {mac[name][0]:.0f} | {comp[name]:.2f} |" for name in headers),
        f"| ratio nn2fpga / reference | {mac[ours][0] / mac[ref][0]:.1f}x faster | "
        f"{comp[ref] / comp[ours]:.1f}x faster |",
    ]
    table = "\n".join(rows)
    print(table)
    section = (
        "## Fixed-point headers (bench/fixed_point.py)\n\n"
        f"ap_fixed<16,6> x ap_fixed<16,6> accumulated exactly into ap_fixed<48,28>, {args.macs:,} MACs per header "
        "set, `g++ -O2` "
        f"(g++ {gxx}, {platform.machine()}, one core); compile time: median of 3 builds of a small translation "
        "unit including ap_fixed.h, ap_int.h and hls_stream.h. Both builds give the same checksum "
        f"({mac[ours][1]}). 1-min load average before/after: {load_before:.2f}/{os.getloadavg()[0]:.2f} "
        "(above 2, other processes competed for the 2 CPUs).\n\n"
        f"{table}\n\n"
    )
    if not args.no_docs:
        update_docs(section)
        print(f"updated {DOCS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
