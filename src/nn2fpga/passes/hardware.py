"""Hardware passes (flow "hardware"): reuse factors and strategies."""

from __future__ import annotations

import math

from nn2fpga.ir.errors import ConfigError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Layer


def valid_reuse_factors(layer: Layer) -> list[int]:
    """Reuse factors a layer supports: the divisors of its multiplication count (each multiplier
    is then used exactly `reuse_factor` times per sample)."""
    n = layer.n_multiplications
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def nearest(valid: list[int], value: int) -> list[int]:
    below = [r for r in valid if r < value]
    above = [r for r in valid if r > value]
    return ([below[-1]] if below else []) + ([above[0]] if above else [])


def apply_reuse(g: Graph, cfg) -> bool:
    """Validate and set `reuse_factor` and `strategy` of every layer with multipliers.

    Raises ConfigError with the YAML path of the offending ReuseFactor and the nearest valid values.
    """
    for layer in g.layers():
        if not layer.HAS_MULTIPLIERS:
            continue
        settings = cfg.resolve(layer)
        rf = settings.reuse_factor
        n = layer.n_multiplications
        if not (isinstance(rf, int) and 1 <= rf <= n and n % rf == 0):
            valid = valid_reuse_factors(layer)
            where = settings.source.get("ReuseFactor", "ReuseFactor")
            near = ", ".join(map(str, nearest(valid, rf)))
            raise ConfigError(
                f"{where}: reuse factor {rf} is not valid for {layer.kind} {layer.name!r} "
                f"({layer.n_multiplications} multiplications; it must divide them); nearest valid: {near}"
            )
        layer.reuse_factor = rf
        layer.strategy = settings.strategy
    return False
