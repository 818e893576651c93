"""The cycle model (nn2fpga.estimate.cycles): one process per process of the generated kernel, named and ordered
as the code generator emits them, cycles per image from the folded loop counts, the bottleneck, the throughput
at the clock, the latency estimate. Its equality with the C simulation's loop counters is tested with the
bounded simulation (tests/sim/test_bounded.py)."""

from __future__ import annotations

import pytest

from nn2fpga.codegen.stream import stream_context
from nn2fpga.config import Config
from nn2fpga.estimate.cycles import comparison, cycle_model, table
from nn2fpga.project import compile_graph


def _model(skip_graph, config: dict, hw: int = 8):
    cfg = Config.from_yaml({"IOType": "io_stream", **config})
    _, graph, _ = compile_graph(skip_graph(hw), cfg)
    return graph, cfg, cycle_model(graph, "skip", cfg.clock_period)


def test_processes_are_those_the_code_generator_emits(skip_graph) -> None:
    """With lanes that differ between neighbours (width converters on two edges), the model's processes
    between load and store are the top function's, in its order (the ids of the trip counters)."""
    folds = {"LayerName": {"a": {"PE": 2}, "b": {"PE": 1, "SIMD": 4}, "c": {"PE": 4, "SIMD": 2}}}
    graph, cfg, model = _model(skip_graph, folds)
    generated = [ctx.name for ctx in stream_context(graph, "skip", cfg)["layers"]]
    names = [p.name for p in model.processes]
    assert names[0] == "kernel_load" and names[-1] == "kernel_store"
    assert names[1:-1] == generated
    assert {"a_to_b_dwc", "b_out_dwc", "a_to_add_dwc"} <= set(names)  # 2 -> 4, 1 -> 2, 2 -> 4 lanes
    assert [p.counted for p in model.processes] == [False] + [True] * len(generated) + [False]


def test_cycles_bottleneck_and_throughput_of_the_default_fold(skip_graph) -> None:
    """8x8x4 maps, 4 lanes everywhere: a 1x1 conv reads 64 words and computes 64 pixels in one step each; a
    3x3 conv scans the 10x10 padded map and takes 36 * 4 / 16 = 9 steps per pixel."""
    _, _, model = _model(skip_graph, {"ClockPeriod": 4.0})
    assert model.cycles() == {
        "kernel_load": 64,
        "a": 64 + 64,
        "a_fork": 64,
        "b": 100 + 64 * 9,
        "c": 100 + 64 * 9,
        "add": 64,
        "gap": 64 + 1,
        "kernel_store": 1,
    }
    assert model.bottleneck.name == "b"  # the first of the two with most cycles
    assert model.images_per_s == pytest.approx(1e9 / (4.0 * 676))
    # one image: c waits for two rows of b's outputs, then runs as fast as b feeds it, and ends 101 iterations
    # (11 padded positions, 10 outputs) after b's last word; add and gap follow c word by word
    assert model.latency == 676 + 101 + 1
    assert max(model.cycles().values()) <= model.latency <= sum(model.cycles().values())
    text = table(model, {"a": 128, "b": 675.5})
    assert "b             Conv2D                   676         675.50  !=  << bottleneck" in text
    assert "250 MHz" in text and f"{1e9 / (4.0 * 676):,.0f} images/s" in text
    rows = {r["process"]: r for r in comparison(model, {"a": 128, "b": 675.5, "mystery": 3})}
    assert rows["a"]["agrees"] and rows["b"]["agrees"] is False and rows["kernel_load"]["counted"] is None
    assert rows["mystery"] == {"process": "mystery", "kind": "?", "layer": "?", "modelled": None, "counted": 3,
                               "agrees": False}  # fmt: skip


def test_a_slower_fold_moves_the_bottleneck_and_the_throughput(skip_graph) -> None:
    _, _, fast = _model(skip_graph, {})
    _, _, slow = _model(skip_graph, {"LayerName": {"a": {"PE": 1, "SIMD": 1}}})
    assert slow.cycles()["a"] == 64 * 4 + 64 * 16  # 4 words per pixel in, 16 steps per pixel
    assert slow.bottleneck.name == "a" and slow.images_per_s < fast.images_per_s
    assert slow.latency > fast.latency
