"""The `Plan:` section: convert runs the planner (nn2fpga.passes.plan) and builds the folding it chooses."""

from __future__ import annotations

from typing import Any

from nn2fpga.config.schema import fail, positive_number, section

DEFAULT_FILL = 0.8  # fraction of every resource a plan may use (FINN plans with 80 % per SLR)
# key -> (default, doc)
PLAN_KEYS: dict[str, tuple[Any, str]] = {
    "Fill": (DEFAULT_FILL, "fraction of every resource of Part the plan may use, in (0, 1]"),
    "FPS": (None, "images/s to reach with the least folding (default: the fastest plan within Fill)"),
}


def _fill(value: Any, path: str) -> float:
    f = positive_number(value, path)
    if f > 1:
        fail(path, f"expected a fraction in (0, 1], got {value!r}")
    return f


def plan_section(value: Any, path: str) -> dict[str, Any] | None:
    """The `Plan:` section completed with defaults; None (or absent) keeps the folding of the config."""
    if value is None:
        return None
    checks = {"Fill": _fill, "FPS": lambda v, p: None if v is None else positive_number(v, p)}
    return {name: default for name, (default, _) in PLAN_KEYS.items()} | section(value, path, checks)
