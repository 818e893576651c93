"""The hardware flow: IOType, FIFO depths and weight placement are decided by passes
and stored on the graph (no compiler needed)."""

from __future__ import annotations

import numpy as np
import pytest

from nn2fpga.config import Config
from nn2fpga.ir.errors import ConfigError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Dense, Input
from nn2fpga.passes.hardware import (
    DEFAULT_DEPTH,
    INLINE_LIMIT,
    PARALLEL_FEATURE_MAP_LIMIT,
    choose_io_type,
    place_weights,
    size_fifos,
)


def test_io_type_auto_follows_the_largest_feature_map(skip_graph) -> None:
    cfg = Config.from_yaml(None)
    small, large = skip_graph(8), skip_graph(40)
    assert 8 * 8 * 4 <= PARALLEL_FEATURE_MAP_LIMIT < 40 * 40 * 4
    choose_io_type(small, cfg)
    choose_io_type(large, cfg)
    assert (small.io_type, large.io_type) == ("io_parallel", "io_stream")
    choose_io_type(large, Config.from_yaml({"IOType": "io_parallel"}))  # an explicit IOType wins
    assert large.io_type == "io_parallel"


def test_fifo_depths_buffer_the_skip_branch(skip_graph) -> None:
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


def test_weight_literals_auto_by_constant_count(skip_graph) -> None:
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


def test_flows_leave_the_parsed_and_the_float_graph_unchanged(skip_graph) -> None:
    from nn2fpga.project import compile_graph

    parsed = skip_graph(8)
    before = {layer.name: {k: v.copy() for k, v in layer.weights().items()} for layer in parsed.layers()}
    float_graph, final, _ = compile_graph(parsed, Config.from_yaml({"Model": {"Precision": "ap_fixed<6,2>"}}))
    for g in (parsed, float_graph):
        for layer in g.layers():
            for role, value in layer.weights().items():
                np.testing.assert_array_equal(value, before[layer.name][role])
    assert not np.array_equal(final["b"].weight, float_graph["b"].weight)  # quantized on the final graph only


def test_streams_set_depths_by_name(skip_graph) -> None:
    g = skip_graph(16)
    g.io_type = "io_stream"
    size_fifos(g, Config.from_yaml({"ProjectName": "p", "Streams": {"a_to_add": 7, "c_out": 3}}))
    assert g["add"].fifo_depths == (7, 3) and g["b"].fifo_depths == (DEFAULT_DEPTH,)
    with pytest.raises(ConfigError, match=r"^Streams\.a_to_ad: no stream of that name \(did you mean 'a_to_add'\?\)"):
        size_fifos(g, Config.from_yaml({"Streams": {"a_to_ad": 7}}))
    with pytest.raises(
        ConfigError,
        match=r"^Streams\.in: .*streams into the layers of 'skip': a_to_add, a_to_b, add_out, b_out, c_out$",
    ):
        size_fifos(g, Config.from_yaml({"Streams": {"in": 7}}))  # the top function's input is not sized here
    g.io_type = "io_parallel"
    with pytest.raises(ConfigError, match="^Streams: this is an io_parallel project"):
        size_fifos(g, Config.from_yaml({"Streams": {"a_to_add": 7}}))
    with pytest.raises(ConfigError, match=r"^Streams\.a_to_add: expected an integer >= 1, got int 0"):
        Config.from_yaml({"Streams": {"a_to_add": 0}})
