"""Differential tests: nn2fpga's ap_int / ap_fixed / hls_stream C-simulation headers against the Xilinx reference.

One harness (tests/templates/ap_diff_harness.cpp) is compiled twice, against `templates/` and against the
reference `ap_types` (the oracle), then both binaries run the same seeded cases and print per-group hashes
of every result bit. The type combinations are generated here (`generate_cases`), fixed by a seed, and
cover widths 1..64, signed and unsigned, integer bits below 0 and above W, and all 7 x 4 mode pairs.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from nn2fpga.toolchain import template_dir, xilinx_reference_include_dir

HARNESS = Path(__file__).parent / "ap_diff_harness.cpp"
CXX = ["g++", "-std=c++17", "-O2", "-w"]
Q_MODES = ("AP_RND", "AP_RND_ZERO", "AP_RND_MIN_INF", "AP_RND_INF", "AP_RND_CONV", "AP_TRN", "AP_TRN_ZERO")
O_MODES = ("AP_SAT", "AP_SAT_ZERO", "AP_SAT_SYM", "AP_WRAP")
MODE_PAIRS = [(q, o) for q in Q_MODES for o in O_MODES]
CASE_SEED = 20240611  # fixes the type combinations compiled into the harness
DEFAULT_CASES_PER_GROUP = 1100  # x 196 groups = 215,600 cases

pytestmark = [pytest.mark.csim, pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")]


@dataclass(frozen=True)
class Fx:
    """A fixed-point type: width, integer bits, signedness."""

    w: int
    i: int
    s: bool

    @property
    def f(self) -> int:
        return self.w - self.i


def plus_type(a: Fx, b: Fx, minus: bool = False) -> Fx:
    """Xilinx RType of a + b (and a - b: always signed)."""
    i = max(a.i + (b.s and not a.s), b.i + (a.s and not b.s)) + 1
    f = max(a.f, b.f)
    return Fx(i + f, i, minus or a.s or b.s)


def reference_asserts(src: Fx, dst_f: int, q: str) -> bool:
    """True where the reference's fixed->fixed cast reads a bit beyond the source MSB (an assert in
    its ap_private): the target lsb lies more than W bits above the source lsb and the mode rounds."""
    rounds = not (q == "AP_TRN" or (q == "AP_TRN_ZERO" and not src.s))
    return rounds and src.f - dst_f > src.w


def _rand_i(rng: random.Random, w: int) -> int:
    """Integer bits: inside [0, W], below 0 or above W."""
    return rng.choice([w, w // 2, 0, -rng.randint(1, 8), w + rng.randint(1, 8), rng.randint(-4, w + 4)])


@dataclass(frozen=True)
class CaseSet:
    """How many type combinations of each kind to compile into the harness."""

    conv_rounds: int  # each round: every width 1..64, signed and unsigned
    casts: int
    bins: int
    ints: int


# The default set keeps the reference build near a minute; the slow test compiles the large one.
DEFAULT_SET = CaseSet(conv_rounds=1, casts=48, bins=14, ints=6)
LARGE_SET = CaseSet(conv_rounds=3, casts=200, bins=128, ints=64)
SPREAD_WIDTHS = (1, 64, 2, 63, 3, 62, 5, 54, 8, 53, 12, 48, 16, 40, 17, 33, 24, 32, 31, 7)


def generate_cases(case_set: CaseSet, seed: int = CASE_SEED) -> str:
    """The CONV / CAST / BIN / INT lines of ap_diff_cases.inc (see the harness for their meaning)."""
    rng = random.Random(seed)
    lines = []
    # Conversion from double: every width, both signs, varied integer bits, all 28 mode pairs.
    combos = [(w, s) for _ in range(case_set.conv_rounds) for w in range(1, 65) for s in (0, 1)]
    for n, (w, s) in enumerate(combos):
        q, o = MODE_PAIRS[(n + 5 * (n // 28)) % len(MODE_PAIRS)]
        lines.append(f"CONV({n}, {w}, {_rand_i(rng, w)}, {s}, {q}, {o})")
    # Fixed -> fixed casts; pairs on which the reference asserts are redrawn.
    n = 0
    while n < case_set.casts:
        sw, dw = 1 + n % 64, rng.randint(1, 64)
        src = Fx(sw, _rand_i(rng, sw), bool(rng.getrandbits(1)))
        dst = Fx(dw, _rand_i(rng, dw), bool(rng.getrandbits(1)))
        q, o = MODE_PAIRS[n % len(MODE_PAIRS)] if n < 56 else (rng.choice(Q_MODES), rng.choice(O_MODES))
        if reference_asserts(src, dst.f, q):
            continue
        lines.append(f"CAST({n}, {src.w}, {src.i}, {int(src.s)}, {dst.w}, {dst.i}, {int(dst.s)}, {q}, {o})")
        n += 1
    # Binary operators; results must fit 128 bits and every cast back into A must be one the reference can do.
    n = 0
    while n < case_set.bins:
        wa = SPREAD_WIDTHS[n] if n < len(SPREAD_WIDTHS) else 1 + n % 64
        wb = rng.randint(1, 64)
        a = Fx(wa, _rand_i(rng, wa), bool(rng.getrandbits(1)))
        b = Fx(wb, _rand_i(rng, wb), bool(rng.getrandbits(1)))
        qa, oa = MODE_PAIRS[n % len(MODE_PAIRS)]
        qb, ob = rng.choice(MODE_PAIRS)
        c_int = Fx(32, 32, True)
        b_int = Fx(wb, wb, b.s)
        results = [plus_type(a, b), plus_type(a, b, True), plus_type(a, c_int), plus_type(c_int, a, True)]
        results += [plus_type(b_int, a, True)]
        into_a = [b, *results[:3], Fx(a.w + b.w, a.i + b.i, a.s or b.s)]
        if max(r.w for r in results) > 128 or any(reference_asserts(t, a.f, qa) for t in into_a):
            continue
        lines.append(f"BIN({n}, {a.w}, {a.i}, {int(a.s)}, {qa}, {oa}, {b.w}, {b.i}, {int(b.s)}, {qb}, {ob})")
        n += 1
    # ap_int / ap_uint.
    for n in range(case_set.ints):
        w = SPREAD_WIDTHS[n] if case_set.ints <= len(SPREAD_WIDTHS) else 1 + n
        lines.append(f"INT({n}, {w}, {n % 2}, {rng.randint(1, 61)}, {rng.getrandbits(1)})")
    return "\n".join(lines) + "\n"


BUILD_COST = {"CONV": 0.3, "CAST": 0.15, "BIN": 1.3, "INT": 0.7}  # seconds per group to compile the reference
BUILD_PARTS = 2  # executables per header set, compiled concurrently


def split_cases(cases: str, parts: int) -> list[str]:
    """Spread the case lines over `parts` files of about equal reference build time (greedy)."""
    bins: list[list[str]] = [[] for _ in range(parts)]
    load = [0.0] * parts
    for line in sorted(cases.splitlines(), key=lambda line: -BUILD_COST[line.split("(")[0]]):
        k = load.index(min(load))
        bins[k].append(line)
        load[k] += BUILD_COST[line.split("(")[0]]
    return ["\n".join(b) + "\n" for b in bins]


def _build(out_dir: Path, include: Path, name: str, part: int) -> tuple[subprocess.Popen, Path]:
    """Start compiling part `part` of the harness against the headers in `include`."""
    exe = out_dir / f"{name}_{part}"
    cases = f'-DAP_DIFF_CASES="ap_diff_cases_{part}.inc"'
    cmd = [*CXX, f"-I{include}", f"-I{out_dir}", cases, str(HARNESS), "-o", str(exe)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), exe


def _build_pair(request: pytest.FixtureRequest, case_set: CaseSet) -> tuple[list[Path], list[Path]]:
    """(ours, reference) harness executables (one per part), all compiled concurrently and cached by the
    hash of their sources in pytest's cache directory."""
    cases = generate_cases(case_set)
    ours_dir, ref_dir = template_dir(), xilinx_reference_include_dir()
    digest = hashlib.sha256(HARNESS.read_bytes() + cases.encode() + " ".join(CXX).encode())
    for d in (ours_dir, ref_dir):
        for header in sorted(d.glob("*.h")):
            digest.update(header.read_bytes())
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    root = Path(cache.mkdir("ap_headers")) if cache else request.getfixturevalue("tmp_path_factory").mktemp("ap")
    out_dir = root / digest.hexdigest()[:16]
    out_dir.mkdir(parents=True, exist_ok=True)
    exes = {name: [out_dir / f"{name}_{k}" for k in range(BUILD_PARTS)] for name in ("ours", "ref")}
    if not all(exe.exists() for exe in exes["ours"] + exes["ref"]):
        for k, text in enumerate(split_cases(cases, BUILD_PARTS)):
            (out_dir / f"ap_diff_cases_{k}.inc").write_text(text)
        # Reference parts first: they take longest.
        jobs = [
            _build(out_dir, d, name, k)
            for d, name in ((ref_dir, "ref"), (ours_dir, "ours"))
            for k in range(BUILD_PARTS)
        ]
        for proc, exe in jobs:
            _, err = proc.communicate()
            assert proc.returncode == 0, f"building {exe.name} failed:\n{err[-4000:]}"
    return exes["ours"], exes["ref"]


@pytest.fixture(scope="session")
def harness_pair(request: pytest.FixtureRequest) -> tuple[list[Path], list[Path]]:
    return _build_pair(request, DEFAULT_SET)


@pytest.fixture(scope="session")
def large_harness_pair(request: pytest.FixtureRequest) -> tuple[list[Path], list[Path]]:
    return _build_pair(request, LARGE_SET)


def _run(exe: Path, seed: int, per_group: int, mode: str = "hash", group: str | None = None) -> list[str]:
    args = [str(exe), str(seed), str(per_group), mode] + ([group] if group else [])
    # The reference prints spurious warnings on stderr (e.g. "assign NaN to ap integer value").
    return subprocess.run(
        args, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ).stdout.splitlines()


def _differential(pair: tuple[list[Path], list[Path]], seed: int, per_group: int) -> tuple[int, int, list[str]]:
    """Run all harness parts in parallel; return (cases, mismatching cases, first differing case lines)."""
    ours_exes, ref_exes = pair
    args = [str(seed), str(per_group), "hash"]
    procs = [
        subprocess.Popen([str(exe), *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for exe in ours_exes + ref_exes
    ]
    outputs = [p.communicate()[0].splitlines() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    total, mismatches, examples = 0, 0, []
    for k, (ours, ref) in enumerate(zip(outputs[: len(ours_exes)], outputs[len(ours_exes) :], strict=True)):
        assert len(ours) == len(ref) and ours[-1] == ref[-1], "the two harnesses ran different groups"
        total += int(ours[-1].split()[1])
        for line_ours, line_ref in zip(ours[:-1], ref[:-1], strict=True):
            if line_ours == line_ref:
                continue
            group = line_ours.split()[0]
            dump_ours = _run(ours_exes[k], seed, per_group, "dump", group)
            dump_ref = _run(ref_exes[k], seed, per_group, "dump", group)
            bad = [(o, r) for o, r in zip(dump_ours, dump_ref, strict=True) if o != r]
            mismatches += len(bad)
            examples += [f"ours: {o}\nref:  {r}" for o, r in bad[:3]]
    return total, mismatches, examples


def test_case_generator_covers_widths_and_modes() -> None:
    cases = generate_cases(DEFAULT_SET)
    conv = [line for line in cases.splitlines() if line.startswith("CONV")]
    widths = {(int(f[1]), int(f[3])) for f in (line[5:-1].split(", ") for line in conv)}
    assert widths == {(w, s) for w in range(1, 65) for s in (0, 1)}
    modes = {tuple(line[5:-1].split(", ")[4:6]) for line in conv}
    assert modes == set(MODE_PAIRS)
    integer_bits = [(int(f[1]), int(f[2])) for f in (line[5:-1].split(", ") for line in conv)]
    assert any(i < 0 for _, i in integer_bits) and any(i > w for w, i in integer_bits)


def test_headers_match_reference(harness_pair: tuple[list[Path], list[Path]]) -> None:
    total, mismatches, examples = _differential(harness_pair, seed=1, per_group=DEFAULT_CASES_PER_GROUP)
    print(f"ap headers vs Xilinx reference: {mismatches} mismatches out of {total} cases")
    assert total >= 200_000
    assert mismatches == 0, "\n".join(examples)


@pytest.mark.slow
def test_headers_match_reference_10m(large_harness_pair: tuple[list[Path], list[Path]]) -> None:
    # 776 type combinations (several minutes to compile the reference), 12,887 cases each.
    per_group = -(-10_000_000 // 776)
    total, mismatches, examples = _differential(large_harness_pair, seed=2, per_group=per_group)
    print(f"ap headers vs Xilinx reference: {mismatches} mismatches out of {total} cases")
    assert total >= 10_000_000
    assert mismatches == 0, "\n".join(examples)


STREAM_PROGRAM = r"""
#include <cstdio>
#include "ap_fixed.h"
#include "hls_stream.h"
int main(int argc, char**) {
  hls::stream<ap_fixed<8, 4>> s("layer0_out");
  hls::stream<int, 2> bounded("bounded");
#pragma HLS STREAM variable = s depth = 4
  for (int i = 0; i < 3; ++i) s << ap_fixed<8, 4>(i * 0.5);
  ap_fixed<8, 4> a, b;
  s >> a;
  s.read(b);
  const double c = s.read().to_double();
  bounded.write(1);
  const bool not_full = !bounded.full();
  bounded.write(2);
  printf("%g %g %g %d %d %d %d %d\n", a.to_double(), b.to_double(), c, (int)s.empty(), (int)s.size(),
         (int)s.max_size(), (int)not_full, (int)bounded.full());
  if (argc > 1) s.read();  // deadlock: must abort naming the stream
  return 0;
}
"""


def test_hls_stream(tmp_path: Path) -> None:
    src = tmp_path / "stream.cpp"
    src.write_text(STREAM_PROGRAM)
    exe = tmp_path / "stream"
    # `#pragma HLS` is an unknown pragma to g++: ignored (-Wall would only warn about it).
    subprocess.run([*CXX[:3], "-Wextra", "-Werror", f"-I{template_dir()}", str(src), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()
    assert out == ["0", "0.5", "1", "1", "0", "3", "1", "1"]
    dead = subprocess.run([str(exe), "deadlock"], capture_output=True, text=True)
    assert dead.returncode != 0
    assert "layer0_out" in dead.stderr and "empty" in dead.stderr


WARNINGS_PROGRAM = r"""
#include "ap_fixed.h"
#include "ap_int.h"
#include "hls_stream.h"
ap_fixed<24, 8, AP_RND_CONV, AP_SAT_SYM> f(ap_fixed<16, 6> a, ap_ufixed<12, 2> b, ap_int<7> c, ap_uint<64> d) {
  ap_fixed<48, 20> acc = a * b;
  acc += a - c;
  acc -= 3;
  acc *= b;
  acc <<= 1;
  ap_uint<9> idx = d.range(8, 0);
  idx[0] = a < b;
  if (acc > 0 && c != 2 && idx >= 1u) return acc + (-b);
  return (acc >> 2) + ap_fixed<4, 0>(0.25) + idx[1];
}
int g(const ap_fixed<64, 64>& x, ap_ufixed<64, 0> y) { return (x * y).to_int() + int(ap_int<12>(-5.5)); }
"""


def test_headers_compile_without_warnings(tmp_path: Path) -> None:
    src = tmp_path / "warn.cpp"
    src.write_text(WARNINGS_PROGRAM)
    flags = ["g++", "-std=c++17", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-c"]
    subprocess.run([*flags, f"-I{template_dir()}", str(src), "-o", str(tmp_path / "warn.o")], check=True)


UNSUPPORTED = {
    "width above 64": "ap_fixed<65, 10> x;",
    "saturation bits": "ap_fixed<8, 4, AP_RND, AP_SAT, 2> x;",
    "AP_WRAP_SM": "ap_fixed<8, 4, AP_RND, AP_WRAP_SM> x;",
    "result above 128 bits": "auto x = ap_fixed<64, 64>() + ap_fixed<64, 0>();",
}


@pytest.mark.parametrize("what", sorted(UNSUPPORTED))
def test_unsupported_types_fail_to_compile(tmp_path: Path, what: str) -> None:
    src = tmp_path / "bad.cpp"
    src.write_text(f'#include "ap_fixed.h"\nvoid f() {{ {UNSUPPORTED[what]} (void)x; }}\n')
    proc = subprocess.run(
        ["g++", "-std=c++17", "-fsyntax-only", f"-I{template_dir()}", str(src)], capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert "static assertion failed" in proc.stderr and "nn2fpga" in proc.stderr
