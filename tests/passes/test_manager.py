"""The pass manager: fixed points with a bound, disabled passes, errors naming the pass and the chain, dumps."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from nn2fpga.config import Config
from nn2fpga.ir.errors import UserError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Activation, BatchNorm, Conv2D, Input
from nn2fpga.passes.manager import FLOWS, MAX_SWEEPS, PassError, run_flows

OPTIMIZE_CHAIN = "remove_noops -> merge_reshapes -> fold_zeropad -> fold_batchnorm -> fuse_activation"


def conv_bn_relu() -> Graph:
    """x -> conv -> BatchNorm -> ReLU: the optimize flow leaves only x -> conv(relu)."""
    g = Graph()
    g.add(Input("x", shape=(4, 4, 2)))
    g.add(Conv2D("c", shape=(4, 4, 3), weight=np.ones((1, 1, 2, 3))), ["x"])
    g.add(BatchNorm("bn", shape=(4, 4, 3), scale=np.full(3, 2.0), bias=np.ones(3)), ["c"])
    g.add(Activation("r", shape=(4, 4, 3), fn="relu"), ["bn"])
    g.outputs = ["r"]
    return g


def kinds(g: Graph) -> list[str]:
    return [layer.kind for layer in g.layers()]


def toggle(g: Graph, cfg: object) -> bool:
    """Oscillates: inserts a linear Activation after the input, then removes it, and so on (never converges)."""
    if "lin" in g:
        g.remove("lin")
    else:
        g.insert_after("x", Activation("lin", shape=g["x"].shape))
    return True


def test_oscillating_pass_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(FLOWS, "oscillate", (toggle,))
    with pytest.raises(
        PassError, match=rf"pass 'toggle' did not converge.*{MAX_SWEEPS} sweeps \(after {OPTIMIZE_CHAIN}\)"
    ):
        run_flows(conv_bn_relu(), Config(), ("optimize", "oscillate"))


def test_a_pass_is_swept_until_it_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def remove_one(g: Graph, cfg: object) -> bool:
        """One change per call (the old style): the manager must call it again until it reports none."""
        calls.append(len(g))
        linear = [layer for layer in g.layers() if isinstance(layer, Activation) and layer.fn == "linear"]
        if linear:
            g.remove(linear[0].name)
        return bool(linear)

    g = Graph()
    g.add(Input("x", shape=(3,)))
    for i in range(3):
        g.add(Activation(f"lin{i}", shape=(3,)), [f"lin{i - 1}" if i else "x"])
    g.outputs = ["lin2"]
    monkeypatch.setitem(FLOWS, "one_at_a_time", (remove_one,))
    out, timings = run_flows(g, Config(), ("one_at_a_time",))
    assert kinds(out) == ["Input"] and out.outputs == ["x"] and calls == [4, 3, 2, 1]
    assert list(timings) == ["remove_one"] and len(g) == 4  # the caller's graph is untouched


def test_disabled_pass_is_skipped() -> None:
    out, timings = run_flows(conv_bn_relu(), Config({"DisabledPasses": ["fold_batchnorm"]}), ("optimize",))
    assert kinds(out) == ["Input", "Conv2D", "BatchNorm", "Activation"]  # the ReLU's producer is the BatchNorm
    assert list(timings) == ["remove_noops", "merge_reshapes", "fold_zeropad", "fuse_activation"]
    out, timings = run_flows(conv_bn_relu(), Config(), ("optimize",))
    assert kinds(out) == ["Input", "Conv2D"] and out["c"].activation == "relu"
    with pytest.raises(UserError, match="unknown pass 'fold_batchnrom'"):
        run_flows(conv_bn_relu(), Config({"DisabledPasses": ["fold_batchnrom"]}), ("optimize",))


def raises(g: Graph, cfg: object) -> bool:
    raise ValueError("boom")


def drops_outputs(g: Graph, cfg: object) -> bool:
    g.outputs = []
    return False


@pytest.mark.parametrize(("broken", "message"), [(raises, "boom"), (drops_outputs, "the graph has no outputs")])
def test_failing_pass_is_named_with_the_chain(
    monkeypatch: pytest.MonkeyPatch, broken: Callable[[Graph, object], bool], message: str
) -> None:
    monkeypatch.setitem(FLOWS, "broken", (broken,))
    with pytest.raises(PassError, match=rf"pass '{broken.__name__}' failed \(after {OPTIMIZE_CHAIN}\): {message}") as e:
        run_flows(conv_bn_relu(), Config(), ("optimize", "broken"))
    assert e.value.__cause__ is not None  # the original error is kept


def test_user_error_passes_through(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuses(g: Graph, cfg: object) -> bool:
        raise UserError("LayerName: no layer 'nope'")

    monkeypatch.setitem(FLOWS, "refuses", (refuses,))
    with pytest.raises(UserError, match="^LayerName: no layer 'nope'$"):
        run_flows(conv_bn_relu(), Config(), ("refuses",))


def test_dump_writes_the_graph_after_every_pass(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NN2FPGA_DUMP", str(tmp_path))
    run_flows(conv_bn_relu(), Config(), ("optimize",))
    names = OPTIMIZE_CHAIN.split(" -> ")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{i:02d}_{n}.{ext}" for i, n in enumerate(names, 1) for ext in ("txt", "dot")
    )
    assert "BatchNorm" in (tmp_path / "03_fold_zeropad.txt").read_text()
    assert "BatchNorm" not in (tmp_path / "04_fold_batchnorm.txt").read_text()
    assert '"x" -> "c";' in (tmp_path / "05_fuse_activation.dot").read_text()
