"""The hardware flow: IOType, multiplier limits, FIFO depths and weight placement are decided by passes
and stored on the graph (no compiler needed)."""

from __future__ import annotations

import numpy as np
import pytest

from nn2fpga.config import Config
from nn2fpga.ir.errors import ConfigError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Add, Conv2D, Dense, GlobalPool2D, Input
from nn2fpga.passes.hardware import (
    DEFAULT_DEPTH,
    INLINE_LIMIT,
    PARALLEL_FEATURE_MAP_LIMIT,
    apply_reuse,
    choose_io_type,
    place_weights,
    size_fifos,
)


def _conv(name: str, c_in: int, c_out: int, k: int, hw: int) -> Conv2D:
    pad = (k // 2, k // 2, k // 2, k // 2)
    return Conv2D(name, shape=(hw, hw, c_out), weight=np.ones((k, k, c_in, c_out)), padding=pad)


def skip_graph(hw: int) -> Graph:
    """input -> a (1x1) -> fork: b (3x3) -> c (3x3) -> add(a, c) -> global pool: the skip must buffer."""
    g = Graph("skip")
    g.add(Input("x", shape=(hw, hw, 4)))
    g.add(_conv("a", 4, 4, 1, hw), ["x"])
    g.add(_conv("b", 4, 4, 3, hw), ["a"])
    g.add(_conv("c", 4, 4, 3, hw), ["b"])
    g.add(Add("add", shape=(hw, hw, 4)), ["a", "c"])
    g.add(GlobalPool2D("gap", shape=(4,)), ["add"])
    g.outputs = ["gap"]
    return g


def test_io_type_auto_follows_the_largest_feature_map() -> None:
    cfg = Config.from_yaml(None)
    small, large = skip_graph(8), skip_graph(40)
    assert 8 * 8 * 4 <= PARALLEL_FEATURE_MAP_LIMIT < 40 * 40 * 4
    choose_io_type(small, cfg)
    choose_io_type(large, cfg)
    assert (small.io_type, large.io_type) == ("io_parallel", "io_stream")
    choose_io_type(large, Config.from_yaml({"IOType": "io_parallel"}))  # an explicit IOType wins
    assert large.io_type == "io_parallel"


def test_fifo_depths_buffer_the_skip_branch() -> None:
    g = skip_graph(16)
    g.io_type = "io_stream"
    size_fifos(g, Config.from_yaml(None))
    skip, slow = g["add"].fifo_depths
    # the skip waits for two 3x3 line buffers: (3-1)*(16+2)+3 = 39 pixels each
    assert (skip, slow) == (2 * 39 + DEFAULT_DEPTH, DEFAULT_DEPTH)
    assert g["b"].fifo_depths == (DEFAULT_DEPTH,) and g["x"].fifo_depths == ()
    g.io_type = "io_parallel"
    size_fifos(g, Config.from_yaml(None))
    assert all(layer.fifo_depths == () for layer in g.layers())


def test_reuse_sets_the_multiplier_limit() -> None:
    g = Graph("mlp")
    g.add(Input("x", shape=(16,)))
    g.add(Dense("d", shape=(8,), weight=np.ones((16, 8))), ["x"])
    g.outputs = ["d"]
    apply_reuse(g, Config.from_yaml({"LayerName": {"d": {"ReuseFactor": 4, "Strategy": "Resource"}}}))
    assert (g["d"].reuse_factor, g["d"].strategy, g["d"].multiplier_limit) == (4, "resource", 32)
    with pytest.raises(ConfigError, match=r"^LayerName\.d\.ReuseFactor: reuse factor 5 .* nearest valid: 4, 8"):
        apply_reuse(g, Config.from_yaml({"LayerName": {"d": {"ReuseFactor": 5}}}))


def test_weight_literals_auto_by_constant_count() -> None:
    small = skip_graph(8)
    place_weights(small, Config.from_yaml(None))
    assert small.weight_literals == "inline"
    big = Graph("big")
    big.add(Input("x", shape=(1000,)))
    big.add(Dense("d", shape=(1001,), weight=np.zeros((1000, 1001))), ["x"])
    big.outputs = ["d"]
    assert 1000 * 1001 > INLINE_LIMIT
    place_weights(big, Config.from_yaml(None))
    assert big.weight_literals == "at_build"
    place_weights(big, Config.from_yaml({"WeightLiterals": "inline"}))
    assert big.weight_literals == "inline"
