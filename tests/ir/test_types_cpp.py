"""`FixedType.to_raw` against C++ `T(double)`: our headers and the Xilinx reference, bit for bit, all modes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from nn2fpga import toolchain
from nn2fpga.ir.types import FixedType, Overflow, Rounding

pytestmark = pytest.mark.csim

WIDTHS = (1, 2, 3, 7, 8, 16, 31, 32, 33, 53, 54, 63, 64)
VALUES_PER_TYPE = 90


def _types() -> list[FixedType]:
    out = []
    for w in WIDTHS:
        for i in sorted({-3, 0, 1, w // 2, w, w + 5}):
            for signed in (True, False):
                for r in Rounding:
                    for o in Overflow:
                        out.append(FixedType(w, i, signed, r, o))
    return out


def _values(t: FixedType, rng: np.random.Generator) -> np.ndarray:
    inside = rng.uniform(t.min * 1.5 - 1, t.max * 1.5 + 1, 60)
    # exact ties at half an lsb, where the rounding modes differ
    ties = (rng.integers(-(2 ** min(t.width, 50)), 2 ** min(t.width, 50), 20) + 0.5) * t.lsb
    edges = [0.0, -0.0, t.min, t.max, t.lsb / 2, -t.lsb / 2, 1e-300, -1e-300, 1e300, -1e300]
    return np.concatenate([inside, ties, edges])


@pytest.fixture(scope="module")
def cases() -> tuple[list[FixedType], list[np.ndarray]]:
    rng = np.random.default_rng(2024)
    types = _types()
    return types, [_values(t, rng) for t in types]


def _program(types: list[FixedType], values: list[np.ndarray]) -> str:
    # one small function per type: g++ compile time grows faster than linearly with function size
    lines = ["#include <ap_fixed.h>", "#include <cstdio>"]
    for k, (t, v) in enumerate(zip(types, values)):
        data = ",".join(repr(float(x)) for x in v)
        lines.append(
            f"static void case_{k}() {{\n  static const double d[] = {{{data}}};\n"
            f"  for (unsigned j = 0; j < sizeof(d) / sizeof(d[0]); ++j) {{ {t.cpp()} x = d[j];\n"
            f'    std::printf("%llu\\n", (unsigned long long)x.range({t.width - 1}, 0).to_uint64()); }}\n}}'
        )
    lines.append("int main() {")
    lines += [f"  case_{k}();" for k in range(len(types))]
    lines.append("  return 0;\n}")
    return "\n".join(lines)


@pytest.mark.parametrize("headers", ["nn2fpga", "xilinx"])
def test_to_raw_equals_cpp_conversion(headers: str, cases, tmp_path: Path) -> None:
    types, values = cases
    if headers == "xilinx":
        # The reference headers compile slowly (~0.07 s per instantiated type); every 9th type (9 is
        # coprime to the 28 mode pairs) still covers all mode pairs, and the header-vs-header tests
        # cover the rest.
        types, values = types[::9], values[::9]
        include = toolchain.xilinx_reference_include_dir()
    else:
        # every 3rd type (3 is coprime to 28, so all mode pairs): tests/templates/test_ap_headers.py compares the
        # headers themselves with the reference on 215,600 cases; this test ties the Python model to them.
        types, values = types[::3], values[::3]
        include = toolchain.template_dir()
    src = tmp_path / "convert.cpp"
    src.write_text(_program(types, values))
    exe = tmp_path / "convert"
    subprocess.run(["g++", "-O0", "-std=c++17", "-w", f"-I{include}", str(src), "-o", str(exe)], check=True)
    got = np.array(subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split(), dtype=object)
    expected = []
    for t, v in zip(types, values):
        expected += [int(r) & ((1 << t.width) - 1) for r in t.to_raw(v)]
    got = [int(g) for g in got]
    assert len(got) == len(expected)
    bad = [i for i, (g, e) in enumerate(zip(got, expected)) if g != e]
    assert not bad, f"{len(bad)} mismatches out of {len(expected)}; first at case {bad[0]}"
