"""The fold pass: PE x SIMD from PE / SIMD / ReuseFactor or by default, stream lanes, weight storage, and
the figures (unroll, trips, weight banks) the lint and the cycle model read (no compiler needed)."""

from __future__ import annotations

import numpy as np
import pytest

from nn2fpga.config import Config
from nn2fpga.estimate.geometry import MAX_UNROLL, MAX_WORD_BITS, in_lanes, trips, unroll, weight_memory
from nn2fpga.ir.errors import ConfigError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Conv2D, Dense, Input
from nn2fpga.passes.manager import run_flows


def _folded(g: Graph, config: dict | None = None, io_type: str = "io_stream") -> Graph:
    cfg = Config.from_yaml({"IOType": io_type, **(config or {})})
    cfg.bind(g)
    return run_flows(g, cfg, ("quantize", "hardware"))[0]


def _mlp() -> Graph:
    g = Graph("mlp")
    g.add(Input("x", shape=(16,)))
    g.add(Dense("d", shape=(8,), weight=np.ones((16, 8))), ["x"])
    g.outputs = ["d"]
    return g


def _conv(c_in: int, c_out: int, k: int = 3, hw: int = 8) -> Graph:
    g = Graph("conv")
    g.add(Input("x", shape=(hw, hw, c_in)))
    weight = np.random.default_rng(0).normal(size=(k, k, c_in, c_out))
    g.add(Conv2D("c", shape=(hw, hw, c_out), weight=weight, padding=(k // 2,) * 4), ["x"])
    g.outputs = ["c"]
    return g


def test_reuse_factor_maps_to_pe_and_simd() -> None:
    g = _folded(_mlp(), {"LayerName": {"d": {"ReuseFactor": 4, "Strategy": "Resource"}}})
    d = g["d"]
    assert (d.reuse_factor, d.strategy, d.pe * d.simd, d.multiplier_limit) == (4, "resource", 32, 32)
    assert (d.pe, d.simd) == (2, 16)  # the widest SIMD among the pairs of that product
    with pytest.raises(ConfigError, match=r"^LayerName\.d\.ReuseFactor: reuse factor 5 .* nearest valid: 4, 8"):
        _folded(_mlp(), {"LayerName": {"d": {"ReuseFactor": 5, "Strategy": "Resource"}}})
    # the Latency Dense takes any reuse factor up to its products (ALLOCATION keeps ceil(products / RF))
    latency = _folded(_mlp(), {"LayerName": {"d": {"ReuseFactor": 5}}}, "io_parallel")["d"]
    assert (latency.reuse_factor, latency.multiplier_limit) == (5, -(-16 * 8 // 5))
    assert _folded(_mlp(), {"LayerName": {"d": {"ReuseFactor": 4096}}}, "io_parallel")["d"].multiplier_limit == 1


def test_pe_and_simd_given_must_divide_the_layer() -> None:
    d = _folded(_conv(4, 6), {"LayerName": {"c": {"PE": 3, "SIMD": 2}}})["c"]
    assert (d.pe, d.simd, d.reuse_factor) == (3, 2, 9 * 4 * 6 // 6)
    with pytest.raises(
        ConfigError, match=r"^LayerName\.c\.PE: PE 4 does not divide the 6 output columns .* valid: 1, 2, 3, 6"
    ):
        _folded(_conv(4, 6), {"LayerName": {"c": {"PE": 4}}})
    with pytest.raises(ConfigError, match=r"^LayerName\.c\.SIMD: SIMD 3 does not divide the 4 input channels"):
        _folded(_conv(4, 6), {"LayerName": {"c": {"SIMD": 3}}})
    with pytest.raises(
        ConfigError, match=r"reuse factor 2 .*, PE 3\); nearest valid: 18$"
    ):  # PE and ReuseFactor disagree
        _folded(_conv(4, 6), {"LayerName": {"c": {"PE": 3, "ReuseFactor": 2}}})


def test_default_fold_is_the_least_folding_within_the_limits() -> None:
    c = _folded(_conv(512, 512))["c"]  # conv5 of ResNet-50: 3x3x512x512
    assert c.pe * c.simd == MAX_UNROLL and unroll(c, _conv(512, 512)) <= MAX_UNROLL
    assert c.simd * c.types["weight"].width <= MAX_WORD_BITS
    small = _folded(_conv(3, 4))["c"]
    assert (small.pe, small.simd, small.reuse_factor) == (4, 3, 9)  # fits: not folded at all


def test_an_explicit_fold_beyond_the_limits_is_refused_with_the_smallest_valid_reuse_factor() -> None:
    with pytest.raises(
        ConfigError, match=r"PE 512 x SIMD 512 breaks .* limit 4096.* smallest valid reuse factor is 576"
    ):
        _folded(_conv(512, 512), {"LayerName": {"c": {"PE": 512, "SIMD": 512}}})


def test_lanes_follow_the_producers_and_may_be_given(skip_graph) -> None:
    g = _folded(skip_graph(8), {"LayerName": {"a": {"PE": 2}, "c": {"PE": 4}}})
    assert g["a"].lanes == 2 and g["c"].lanes == 4
    assert g["add"].lanes == 4  # the widest producer lanes dividing the channels
    assert in_lanes(g["b"]) == g["b"].simd
    g = _folded(skip_graph(8), {"LayerName": {"add": {"Lanes": 1}}})
    assert g["add"].lanes == 1 and g["gap"].lanes == 1
    with pytest.raises(
        ConfigError, match=r"^LayerName\.add\.Lanes: Lanes 3 does not divide the 4 channels .* valid: 1, 2, 4"
    ):
        _folded(skip_graph(8), {"LayerName": {"add": {"Lanes": 3}}})
    with pytest.raises(ConfigError, match=r"LayerName\.a\.Lanes: the lanes of Conv2D are its PE"):
        _folded(skip_graph(8), {"LayerName": {"a": {"Lanes": 2}}})


def test_trips_and_weight_banks_follow_the_fold() -> None:
    graph = _conv(4, 6, k=3, hw=8)
    g = _folded(graph, {"LayerName": {"c": {"PE": 3, "SIMD": 2}}})
    c = g["c"]
    # Read: every padded position's 4 / 2 words; Steps: 64 output pixels x (6 / 3 folds) x (9 * 4 / 2 steps)
    assert trips(c, g) == 10 * 10 * 2 + 64 * 2 * 18
    assert weight_memory(c) == (3, 36 * 6 // 6, 2 * c.types["weight"].width)
    assert c.weight_storage == "lutram"  # a small bank
    big = _folded(_conv(64, 64), {"LayerName": {"c": {"PE": 4, "SIMD": 4}}})["c"]
    assert big.weight_storage == "bram"
    assert _folded(_conv(64, 64), {"LayerName": {"c": {"WeightStorage": "LUTRAM"}}})["c"].weight_storage == "lutram"
    with pytest.raises(ConfigError, match=r"WeightStorage: expected one of auto, bram, lutram, uram, offchip"):
        _folded(_conv(4, 6), {"LayerName": {"c": {"WeightStorage": "flash"}}})


def test_the_latency_dense_of_io_parallel_stays_unrolled() -> None:
    d = _folded(_mlp(), {"LayerName": {"d": {"ReuseFactor": 4}}}, io_type="io_parallel")["d"]
    assert (d.pe, d.simd, d.reuse_factor, d.multiplier_limit, d.weight_storage) == (8, 16, 4, 32, "logic")
