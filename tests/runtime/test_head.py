"""The CPU head of a split model (nn2fpga.runtime.head): the float interpreter on stored records, in the
package and as the generated project's standalone copy (no Keras, no compiler)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nn2fpga.config import Config
from nn2fpga.ir.graph import Graph, walk
from nn2fpga.ir.interpret import FLOAT_OPS, float_execute
from nn2fpga.ir.layers import (
    Activation,
    Add,
    BatchNorm,
    ChannelScale,
    Concatenate,
    Conv2D,
    Crop2D,
    Dense,
    DepthwiseConv2D,
    Dot,
    Embedding,
    GlobalPool2D,
    Input,
    LayerNorm,
    Pool2D,
    PReLU,
    Reshape,
    Transpose,
    UpSample2D,
    ZeroPad2D,
)
from nn2fpga.ir.recurrent import Recurrent
from nn2fpga.project import Project, compile_graph
from nn2fpga.runtime.head import Head
from nn2fpga.runtime.host import head_from_graph

ROOT = Path(__file__).resolve().parents[2]


def head_graph() -> Graph:
    """Every kind the interpreter defines, behind an Input "d" of shape (12,) (the accelerator's output)."""
    rng = np.random.default_rng(3)
    g = Graph("head")
    layers = [
        (Input("d", shape=(12,)), []),
        (Reshape("r", shape=(2, 2, 3)), ["d"]),
        (UpSample2D("up", shape=(4, 4, 3), factor=(2, 2)), ["r"]),
        (Crop2D("cr", shape=(3, 2, 3), cropping=(1, 0, 0, 2)), ["up"]),
        (Transpose("tp", shape=(2, 3, 3), perm=(1, 0, 2)), ["cr"]),
        (ZeroPad2D("zp", shape=(4, 3, 3), padding=(1, 1, 0, 0)), ["tp"]),
        (
            Conv2D(
                "c",
                shape=(4, 3, 4),
                weight=rng.normal(size=(3, 3, 3, 4)),
                bias=rng.normal(size=4),
                padding=(1, 1, 1, 1),
                activation="relu",
            ),
            ["zp"],
        ),  # fmt: skip
        (BatchNorm("bn", shape=(4, 3, 4), scale=rng.normal(size=4), bias=rng.normal(size=4)), ["c"]),
        (Activation("t", shape=(4, 3, 4), fn="tanh"), ["bn"]),
        (DepthwiseConv2D("dw", shape=(2, 2, 4), weight=rng.normal(size=(2, 2, 4, 1)), strides=(2, 1)), ["t"]),
        (Pool2D("mp", shape=(2, 2, 4), op="max", pool=(2, 2), strides=(2, 1)), ["t"]),
        (Add("add", shape=(2, 2, 4), activation="relu"), ["dw", "mp"]),
        (Concatenate("cat", shape=(2, 2, 8)), ["add", "mp"]),
        (GlobalPool2D("gv", shape=(8,), op="avg"), ["cat"]),
        (ChannelScale("cs", shape=(2, 2, 8)), ["cat", "gv"]),
        (Pool2D("ap", shape=(1, 1, 8), op="avg", pool=(2, 2), strides=(2, 2)), ["cs"]),
        (GlobalPool2D("gp", shape=(8,), op="avg"), ["ap"]),
        (PReLU("pr", shape=(8,), alpha=rng.normal(size=8)), ["gp"]),
        (LayerNorm("ln", shape=(8,), scale=rng.normal(size=8), bias=rng.normal(size=8)), ["pr"]),
        (Dot("dot", shape=(1,)), ["gp", "ln"]),
        (Concatenate("cat2", shape=(9,)), ["ln", "dot"]),
        (Dense("fc1", shape=(5,), weight=rng.normal(size=(9, 5))), ["cat2"]),  # no bias: stored as null
        (Activation("lr", shape=(5,), fn="leaky_relu", alpha=0.1), ["fc1"]),
        (Activation("hs", shape=(5,), fn="hard_sigmoid", slope=1 / 6, offset=0.5), ["lr"]),
        (Embedding("emb", shape=(5, 2), weight=rng.normal(size=(2, 2))), ["hs"]),  # floor(hard_sigmoid): 0 or 1
        (Reshape("seq", shape=(5, 2)), ["emb"]),
        (
            Recurrent(
                "lstm",
                shape=(3,),
                cell="lstm",
                weight=rng.normal(size=(2, 12)),
                recurrent=rng.normal(size=(3, 12)),
                bias=rng.normal(size=12),
                recurrent_bias=np.zeros(12),
            ),
            ["seq"],
        ),  # fmt: skip
        (Dense("fc2", shape=(3,), weight=rng.normal(size=(3, 3)), bias=rng.normal(size=3)), ["lstm"]),
        (Activation("out", shape=(3,), fn="softmax"), ["fc2"]),
    ]
    for layer, inputs in layers:
        g.add(layer, inputs)
    g.outputs = ["out"]
    return g


def float_run(g: Graph, x: np.ndarray) -> dict[str, np.ndarray]:
    return {layer.name: out for layer, out in walk(g, {"d": x}, float_execute)}


def test_head_runs_the_float_interpreter() -> None:
    g = head_graph()
    assert {layer.kind for layer in g.layers()} == set(FLOAT_OPS)  # the head covers every kind
    x = np.random.default_rng(4).normal(size=(7, 12))
    values = float_run(g, x)
    for layer in g.layers():  # the declared shapes are the interpreter's
        assert values[layer.name].shape[1:] == layer.shape, layer.name
    head = head_from_graph(g)
    assert [layer.name for layer in head.layers][:2] == ["r", "up"] and head.shape == (3,)
    assert np.array_equal(head.run(x), values["out"])


def _split_project(tmp_path: Path) -> Project:
    """Input(6) -> Dense(12) compiled for the accelerator, followed by the float head of `head_graph`."""
    g = Graph("split")
    g.add(Input("x", shape=(6,)))
    g.add(Dense("d", shape=(12,), weight=np.random.default_rng(5).normal(size=(6, 12))), ["x"])
    g.outputs = ["d"]
    cfg = Config({})
    _, graph, _ = compile_graph(g, cfg)
    project = Project(graph, cfg, None, head=head_from_graph(head_graph()))
    project.write(tmp_path / "split")
    return project


def test_generated_head_runs_without_nn2fpga(tmp_path) -> None:
    project = _split_project(tmp_path)
    host = tmp_path / "split" / "host"
    copied = (host / "interpret.py").read_text()
    assert copied.split("\n", 1)[1] == (ROOT / "src" / "nn2fpga" / "ir" / "interpret.py").read_text()
    feats = np.random.default_rng(6).normal(size=(9, 12))
    np.save(tmp_path / "feats.npy", feats)
    # a fresh interpreter where `import nn2fpga` fails: host/head.py must run on NumPy and its copies alone
    script = (
        "import sys, importlib.util, numpy as np; sys.modules['nn2fpga'] = None\n"
        f"spec = importlib.util.spec_from_file_location('head', {str(host / 'head.py')!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        f"head = m.Head.load({str(host / 'head.json')!r})\n"
        f"np.save({str(tmp_path / 'out.npy')!r}, head.run(np.load({str(tmp_path / 'feats.npy')!r})))\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    expected = float_run(head_graph(), feats)["out"]
    assert np.array_equal(np.load(tmp_path / "out.npy"), expected)
    assert np.array_equal(project.head.run(feats), expected)
    assert np.array_equal(Project.load(tmp_path / "split").head.run(feats), expected)


def test_head_file_checks(tmp_path) -> None:
    head = head_from_graph(head_graph())
    head.save(tmp_path)
    doc = json.loads((tmp_path / "head.json").read_text())
    fc1 = next(entry for entry in doc["layers"] if entry["name"] == "fc1")
    assert fc1["bias"] is None and "types" not in fc1 and "reuse_factor" not in fc1
    x = np.random.default_rng(8).normal(size=(3, 12))
    # heads written before null fields were stored leave out a missing bias
    del fc1["bias"]
    assert np.array_equal(Head(doc, head.arrays).run(x), head.run(x))
    with pytest.raises(ValueError, match="head format 2 is not supported"):
        Head({**doc, "format": 2}, head.arrays)
    doc["layers"][0]["kind"] = "Lambda"
    with pytest.raises(ValueError, match="'r': Lambda cannot run on the CPU head; supported: Activation, Add"):
        Head(doc, head.arrays)
