"""The host driver's fixed-point conversion: `nn2fpga.ir.types` itself, never a second copy.

Inside the package, `nn2fpga.runtime.driver` loads this module, which re-exports `FixedType`.
A generated project gets a verbatim copy of `nn2fpga/ir/types.py` (NumPy only) as `host/fixed.py`,
so the driver packs inputs with the very code the reference and the tests use.
"""

from __future__ import annotations

from nn2fpga.ir.types import FixedType

__all__ = ["FixedType"]
