"""Shared pytest set-up: Hypothesis runs derandomized under CI (CI=true), so a CI result is reproducible."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def skip_graph():
    """A builder of a float graph without Keras: input -> a (1x1 conv) -> fork: b (3x3) -> c (3x3) ->
    add(a, c) -> global average pool. The skip edge a -> add must buffer two line-buffer fills."""
    import numpy as np

    from nn2fpga.ir.graph import Graph
    from nn2fpga.ir.layers import Add, Conv2D, GlobalPool2D, Input

    def conv(name: str, k: int, hw: int, seed: int) -> Conv2D:
        weight = np.random.default_rng(seed).normal(size=(k, k, 4, 4)) / k
        return Conv2D(name, shape=(hw, hw, 4), weight=weight, bias=np.zeros(4), padding=(k // 2,) * 4)

    def build(hw: int) -> Graph:
        g = Graph("skip")
        g.add(Input("x", shape=(hw, hw, 4)))
        g.add(conv("a", 1, hw, 1), ["x"])
        g.add(conv("b", 3, hw, 2), ["a"])
        g.add(conv("c", 3, hw, 3), ["b"])
        g.add(Add("add", shape=(hw, hw, 4)), ["a", "c"])
        g.add(GlobalPool2D("gap", shape=(4,)), ["add"])
        g.outputs = ["gap"]
        return g

    return build
