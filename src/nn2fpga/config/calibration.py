"""The `Calibration:` section: post-training precision from data (nn2fpga.passes.calibrate)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nn2fpga.config.schema import choice_int, fail, non_negative_int, section, string

CALIBRATION_BITS = (8, 10, 12, 14, 16, 18, 20, 24, 32)
# key -> (default, doc); `data` is required.
CALIBRATION_KEYS: dict[str, tuple[Any, str]] = {
    "data": (None, ".npy file of inputs (N, *input shape), float or integer; relative to this file"),
    "labels": (None, ".npy file of class labels (N,) or one-hot (N, classes): adds ROC AUC to the report"),
    "bits": (16, f"total bits of every calibrated type: {', '.join(map(str, CALIBRATION_BITS))}"),
    "margin": (1, "integer bits added above the observed range of each layer output"),
    "weight_bits": (None, "total bits of calibrated weight, bias and scale types (default: bits)"),
}


def data_source(value: Any, path: str) -> Any:
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # an array, from the Python API
        return value
    return string(value, path)


def calibration_section(value: Any, path: str) -> dict[str, Any] | None:
    """The `Calibration:` section completed with defaults; None (or absent) switches calibration off."""
    if value is None:
        return None
    checks: dict[str, Callable[[Any, str], Any]] = {
        "data": data_source,
        "labels": lambda v, p: None if v is None else data_source(v, p),
        "bits": choice_int(CALIBRATION_BITS),
        "margin": non_negative_int,
        "weight_bits": lambda v, p: None if v is None else choice_int(CALIBRATION_BITS)(v, p),
    }
    out = {name: default for name, (default, _) in CALIBRATION_KEYS.items()} | section(value, path, checks)
    if out["data"] is None:
        fail(f"{path}.data", "missing: the .npy file of calibration inputs (N, *input shape)")
    return out


def dump_calibration(spec: dict[str, Any] | None) -> dict[str, Any] | None:
    if spec is None:
        return None
    return {k: (f"<array {getattr(v, 'shape', '')}>" if hasattr(v, "shape") else v) for k, v in spec.items()}
