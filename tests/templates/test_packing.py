"""Two products in one DSP48E2 (Multipliers: packed): `n2f::multiply_packed` gives x * w0 and x * w1 bit for
bit for every operand value, compiled against nn2fpga's headers and against the Xilinx reference headers, at
the widest operands the fold pass admits and past them (where it must fail, so the test can)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from nn2fpga.toolchain import template_dir, xilinx_reference_include_dir

HARNESS = Path(__file__).parent / "packing_harness.cpp"
pytestmark = [pytest.mark.csim, pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")]

# (input type, weight type, admitted by rules.packing_error): signed bits a + w <= 18 and w <= 8
CASES = [
    ("ap_fixed<8,4>", "ap_fixed<8,1>", True),  # ResNet-50's 8-bit plan
    ("ap_ufixed<8,4>", "ap_fixed<8,1>", True),  # after a ReLU: 9 signed bits
    ("ap_fixed<10,3>", "ap_fixed<8,2>", True),  # a + w = 18, the limit
    ("ap_fixed<6,2,AP_RND,AP_SAT>", "ap_ufixed<7,0>", True),  # unsigned weights: 8 signed bits
    ("ap_fixed<12,4>", "ap_fixed<8,1>", False),  # a + w = 20: the low product spills into the high one
]


def _run(include: Path, x: str, w: str, tmp_path: Path) -> tuple[int, int]:
    exe = tmp_path / "pack"
    subprocess.run(["g++", "-std=c++17", "-O2", "-w", f"-I{include}", f"-I{template_dir()}",
                    f"-DPACK_X={x}", f"-DPACK_W={w}", str(HARNESS), "-o", str(exe)], check=True)  # fmt: skip
    cases, bad = map(int, subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split())
    return cases, bad


@pytest.mark.parametrize(("x", "w", "admitted"), CASES)
def test_packed_products_are_exact(x: str, w: str, admitted: bool, tmp_path: Path) -> None:
    from nn2fpga.estimate.rules import packing_error
    from nn2fpga.ir.types import FixedType
    from nn2fpga.passes.fold import signed_bits

    tx, tw = FixedType.parse(x), FixedType.parse(w)
    assert (packing_error(signed_bits(tx), signed_bits(tw), "ultrascale+") is None) == admitted
    ours = _run(template_dir(), x, w, tmp_path)
    assert ours[0] == 2 ** (tx.width + 2 * tw.width)
    assert (ours[1] == 0) == admitted, f"{ours[1]:,} of {ours[0]:,} products differ"
    try:
        reference = xilinx_reference_include_dir()
    except Exception as exc:  # the reference headers come with the test extra
        pytest.skip(f"Xilinx reference headers: {exc}")
    assert _run(reference, x, w, tmp_path) == ours
