"""Where the C++ headers come from, and the g++ flags that build code against them.

Without Vitis HLS, generated code builds against nn2fpga's own `ap_fixed.h`, `ap_int.h` and
`hls_stream.h` under the package's `templates/`. With `XILINX_HLS` set, the vendor's include
directory is used instead, so the same sources compile against the real headers.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import os
from pathlib import Path

CXX_STD = "-std=c++17"


def template_dir() -> Path:
    """The installed `templates/` directory (C++ library, csim headers, Jinja templates)."""
    return Path(str(importlib.resources.files("nn2fpga.templates")))


def vendor_include_dir() -> Path | None:
    """`$XILINX_HLS/include` when Vitis HLS is set up, else None."""
    root = os.environ.get("XILINX_HLS")
    return Path(root) / "include" if root else None


def include_dirs() -> list[Path]:
    """Include directories for generated code: the vendor's headers first when present, then ours."""
    return [d for d in (vendor_include_dir(), template_dir()) if d is not None]


def cflags() -> list[str]:
    """g++ flags (language standard and include directories), like `pkg-config --cflags`."""
    return [CXX_STD] + [f"-I{d}" for d in include_dirs()]


def xilinx_reference_include_dir() -> Path:
    """The Xilinx reference `ap_types` headers (Apache-2.0): test oracle only, never shipped or copied.

    Taken from Vitis HLS when `XILINX_HLS` is set, else from the `hls4ml` wheel (the `test` extra).
    """
    vendor = vendor_include_dir()
    if vendor is not None:
        return vendor
    try:
        spec = importlib.util.find_spec("hls4ml")
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "the Xilinx reference headers were not found: install the test extra (pip install '.[test]', "
            "which brings hls4ml and its bundled ap_types) or set XILINX_HLS"
        )
    path = Path(spec.origin).parent / "templates" / "vivado" / "ap_types"
    if not (path / "ap_fixed.h").is_file():
        raise FileNotFoundError(f"hls4ml is installed but {path} has no ap_fixed.h")
    return path
