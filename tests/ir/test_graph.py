"""Graph API: building, rewriting, lint, summary, dot."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from nn2fpga.ir.graph import Graph, GraphError
from nn2fpga.ir.layers import Activation, Add, Dense, Input


def _mlp() -> Graph:
    g = Graph("mlp")
    g.add(Input("x", shape=(4,)))
    g.add(Dense("fc", shape=(3,), weight=np.ones((4, 3))), ["x"])
    g.add(Activation("act", shape=(3,), fn="relu"), ["fc"])
    g.outputs = ["act"]
    return g


def test_remove_and_insert_keep_edges_and_outputs() -> None:
    g = _mlp()
    g.remove("act")
    assert g.outputs == ["fc"] and [lay.name for lay in g.layers()] == ["x", "fc"]
    g.insert_after("x", Activation("pre", shape=(4,), fn="tanh"))
    assert g.producer("fc").name == "pre" and g.users("x")[0].name == "pre"
    g.lint()


def test_lint_names_the_broken_layer() -> None:
    g = _mlp()
    g.outputs = ["nope"]
    with pytest.raises(GraphError, match="'nope'"):
        g.lint()
    with pytest.raises(GraphError, match="duplicate layer name 'fc'"):
        g.add(Dense("fc"), ["x"])
    with pytest.raises(GraphError, match=r"'sum': an input appears twice in \['x', 'x'\]"):  # not one edge silently
        g.add(Add("sum", shape=(4,)), ["x", "x"])
    g.add(Add("sum", shape=(4,)), ["x", "fc"])
    assert not g.removable("fc")  # x would feed sum twice
    with pytest.raises(GraphError, match="cannot remove 'fc': a layer reads both it and its producer 'x'"):
        g.remove("fc")


def test_copy_is_deep() -> None:
    g = _mlp()
    c = g.copy()
    c["fc"].weight[0, 0] = 5.0
    assert g["fc"].weight[0, 0] == 1.0


def test_summary_and_dot() -> None:
    g = _mlp()
    assert "fc" in g.summary() and "Activation(relu)" in g.summary()
    dot = g.to_dot()
    assert dot.startswith('digraph "mlp"') and '"x" -> "fc";' in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz not installed")
def test_draw_png(tmp_path) -> None:
    out = _mlp().draw(tmp_path / "g.png")
    assert open(out, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
