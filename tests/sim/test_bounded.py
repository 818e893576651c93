"""The bounded-FIFO dataflow simulation (nn2fpga.sim.bounded, `nn2fpga simulate`): with the depths the hardware
flow computes, the small CNNs and ResNet-50 run to the end with csim's outputs bit for bit and every stream within
its depth, the kernel's own streams two words deep (load, top and store are a dataflow); a skip FIFO made too
shallow, or a kernel that is not a dataflow, deadlocks, and the report names the stream."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from nn2fpga.cli import main
from nn2fpga.config import Config
from nn2fpga.estimate.cycles import comparison, cycle_model, table
from nn2fpga.estimate.geometry import MAX_UNROLL, channels, divisors
from nn2fpga.ir.errors import UserError
from nn2fpga.ir.layers import Activation, Linear
from nn2fpga.passes.fold import valid_folds
from nn2fpga.project import Project, compile_graph
from nn2fpga.sim.bounded import Run

pytestmark = pytest.mark.csim


def _assert_completes_like_csim(project: Project, x: np.ndarray, backend: str = "csim") -> Run:
    """The bounded run completes, its outputs are csim's (or the reference's) bit for bit, no stream held more
    than its depth, and the cycle model's cycles per image are the loop iterations counted for every process."""
    run = project.simulate(x)
    assert run.deadlock == "" and run.outputs is not None
    assert np.array_equal(run.outputs, project.predict(x, backend=backend))
    assert run.streams and all(s.high_water <= s.depth for s in run.streams), run.table()
    assert all(run.needed(s) == s.high_water for s in run.streams)
    _assert_model_is_counted(project, run)
    return run


def _assert_model_is_counted(project: Project, run: Run) -> None:
    """Every process the bounded build counts is modelled, with its count per image as cycles per image (URAM
    weight readers aside: they read in the loading call only, 0 cycles per image after it)."""
    model = cycle_model(project.graph, project.name, project.config.clock_period)
    rows = comparison(model, run.trips())
    assert {p.name for p in model.processes if p.counted} <= run.counts.keys() <= {p.name for p in model.processes}
    assert all(r["agrees"] is not False for r in rows), table(model, run.trips())
    assert max(p.cycles for p in model.processes if p.counted) == max(n for r in rows if (n := r["counted"]))
    # the estimator's cycles per image are the same counts: per layer its slowest process, in total the bottleneck
    counted, est = run.trips(), project.estimate()
    per_layer: dict[str, list[float]] = {}
    for p in model.processes:
        if p.counted and p.name in counted and p.kind not in ("Load", "Store"):
            per_layer.setdefault(p.layer, []).append(counted[p.name])
    rows_by_name = {r.name: r for r in est.layers}
    for name, counts in per_layer.items():
        if name in rows_by_name:  # an Input's fork belongs to no estimated layer
            assert rows_by_name[name].cycles_per_image == max(counts), name
    if model.bottleneck.counted:
        assert est.ii_cycles == max(n for n in counted.values())


@pytest.fixture
def skip_project(skip_graph, tmp_path: Path) -> Project:
    """The skip graph at 8x8 in io_stream, written: its skip FIFO a_to_add is the only one deeper than 2."""
    cfg = Config.from_yaml({"IOType": "io_stream"})
    _, graph, _ = compile_graph(skip_graph(8), cfg)
    project = Project(graph, cfg, None)
    project.write(tmp_path / "prj")
    return project


def test_skip_fifo_too_shallow_deadlocks_and_is_named(skip_project: Project) -> None:
    x = np.random.default_rng(0).normal(size=(3, 8, 8, 4))
    run = _assert_completes_like_csim(skip_project, x)
    streams = {s.name: s for s in run.streams}
    top = ["a_out", "a_to_b", "a_to_add", "b_out", "c_out", "add_out"]
    assert list(streams) == ["kernel_in", "kernel_out", *top]  # in order of declaration
    assert streams["a_to_add"].depth == skip_project.graph["add"].fifo_depths[0] == 48
    assert streams["a_to_add"].high_water > 2  # the skip branch needed more than the default depth
    assert streams["kernel_in"].depth == streams["kernel_out"].depth == 2  # load, top and store run concurrently

    skip_project.graph["add"].fifo_depths = (1, 2)  # the skip FIFO lowered to depth 1
    skip_project.write(skip_project.path, force=True)
    run = skip_project.simulate(x)
    assert run.outputs is None
    assert "a_fork: blocked writing 'a_to_add' (full: 1 of depth 1)" in run.deadlock
    assert "add: blocked reading 'c_out' (empty: 0 of depth 2)" in run.deadlock
    assert all(s.high_water <= s.depth for s in run.streams)


def test_smallest_depth_is_where_the_deadlock_starts(skip_project: Project) -> None:
    """b's first output needs 10 pixels of a (row 0 and two of row 1; the rest of its window is padding); c's
    first needs 10 of b's, the 10th of which needs a's pixel (2, 2), its 19th. Until then add reads nothing, so
    the skip FIFO a_to_add holds 19 words: it needs depth 19 whatever the thread schedule. The computed depth
    (48) counts padded window positions as pixels; the high-water mark lies between the two."""
    x = np.random.default_rng(4).normal(size=(2, 8, 8, 4))
    run = skip_project.simulate(x, smallest=["a_to_add", "a_to_b", "kernel_in"])
    assert run.smallest == {"a_to_add": 19, "a_to_b": 1, "kernel_in": 1}
    assert 19 <= {s.name: s for s in run.streams}["a_to_add"].high_water <= 48
    assert "a_to_add         48" in run.table() and run.table().splitlines()[0].split()[-1] == "smallest"
    with pytest.raises(UserError, match="no stream 'nowhere' in project skip"):
        skip_project.simulate(x, smallest=["nowhere"])

    for depth, completes in ((19, True), (18, False)):  # the same depths built into the project
        skip_project.graph["add"].fifo_depths = (depth, 2)
        skip_project.write(skip_project.path, force=True)
        run = skip_project.simulate(x)
        assert (run.deadlock == "") == completes
        assert completes or "a_fork: blocked writing 'a_to_add' (full: 18 of depth 18)" in run.deadlock


def test_dataflow_kernel_needs_two_deep_streams_and_a_sequential_one_stalls(skip_project: Project) -> None:
    """The kernel is a dataflow of load -> top -> store over all n samples: its own streams are two words deep
    (a sample is 64), and a batch runs through them, each sample's load following the last one's without a
    wait for the top function to finish. The same streams stall a kernel that loads a sample before it calls
    the top function (the kernel before this dataflow), and the report names the stream."""
    x = np.random.default_rng(2).normal(size=(5, 8, 8, 4))
    run = _assert_completes_like_csim(skip_project, x)
    streams = {s.name: s for s in run.streams}
    assert (streams["kernel_in"].depth, streams["kernel_out"].depth) == (2, 2)
    assert streams["kernel_in"].high_water <= 2 and streams["kernel_out"].high_water <= 2

    kernel = skip_project.path / "firmware" / "kernel.cpp"
    source = kernel.read_text()
    process = '    N2F_PROCESS(region, "kernel_load", load(in, x, n));\n'
    assert source.count(process) == 1
    kernel.write_text(source.replace(process, "    load(in, x, n);  // before the region: not a process\n"))
    run = skip_project.simulate(x[:1])
    assert run.outputs is None
    assert run.deadlock == (
        "deadlock: every process is blocked\n  skip_kernel: blocked writing 'kernel_in' (full: 2 of depth 2)\n"
    )


def test_cli_exit_codes(skip_project: Project, skip_graph, tmp_path: Path, capsys) -> None:
    prj, x = str(skip_project.path), tmp_path / "x.npy"
    np.save(x, np.random.default_rng(1).normal(size=(2, 8, 8, 4)))
    report = tmp_path / "run.json"
    assert (
        main(["simulate", prj, "-i", str(x), "-o", str(tmp_path / "y.npy"), "--json", str(report), "--smallest"]) == 0
    )
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["stream", "depth", "high-water", "needed", "smallest"]
    assert "b             Conv2D                   676            676  << bottleneck" in out
    assert "bottleneck: b (Conv2D b), 676 cycles/image; 295,858 images/s at 200 MHz (ClockPeriod 5 ns)" in out
    assert np.array_equal(np.load(tmp_path / "y.npy"), skip_project.predict(np.load(x)))
    result = json.loads(report.read_text())
    assert result["completed"] and result["samples"] == 2 and result["bottleneck"] == "b"
    assert result["images_per_s"] == pytest.approx(1e9 / (5 * 676)) and result["latency_cycles"] == 778
    skip = next(s for s in result["streams"] if s["name"] == "a_to_add")
    assert skip["depth"] == 48 and skip["needed"] == skip["high_water"] <= 48 and skip["smallest"] == 19
    assert [s["name"] for s in result["streams"] if s["smallest"]] == ["a_to_add"]  # the only one deeper than 2
    processes = {p["process"]: p for p in result["processes"]}
    assert processes["c"] == {"process": "c", "kind": "Conv2D", "layer": "c", "modelled": 676, "counted": 676,
                              "agrees": True}  # fmt: skip
    assert processes["kernel_load"]["counted"] is None

    skip_project.graph["add"].fifo_depths = (1, 2)
    skip_project.write(prj, force=True)
    assert main(["simulate", prj, "-i", str(x), "--json", str(report)]) == 1
    out, err = capsys.readouterr()
    assert "deadlock" in err and "a_fork: blocked writing 'a_to_add'" in err
    assert "a_to_add          1           1       -  full" in out  # nothing shown to suffice after a deadlock
    result = json.loads(report.read_text())
    assert not result["completed"] and "a_to_add" in result["deadlock"]
    assert all(s["needed"] is None for s in result["streams"])

    np.save(tmp_path / "wrong.npy", np.zeros((2, 8, 8, 3)))
    (tmp_path / "junk.npy").write_text("not numpy")
    cfg = Config.from_yaml({"IOType": "io_parallel"})
    parallel = Project(compile_graph(skip_graph(4), cfg)[1], cfg, None)
    parallel.write(tmp_path / "parallel")
    bad = {
        "expected (batch, 8, 8, 4)": [prj, "-i", str(tmp_path / "wrong.npy")],
        "not a readable .npy or .npz array": [prj, "-i", str(tmp_path / "junk.npy")],
        "is not an nn2fpga project": [str(tmp_path / "nowhere"), "-i", str(x)],
        "is io_parallel: it has no streams to bound": [str(tmp_path / "parallel"), "-i", str(x)],
    }
    for message, args in bad.items():
        assert main(["simulate", *args]) == 2, message
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.keras
# architecture
@pytest.mark.parametrize("name", ["strided", "depthwise", "pools", "branches", "three_way_add"])
def test_small_cnns_run_deadlock_free(name: str, tmp_path: Path) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    keras = pytest.importorskip("keras")
    import small_cnns

    import nn2fpga

    keras.utils.set_random_seed(3)  # the model and config of tests/codegen/test_cnn.py: csim's library is shared
    i = keras.Input((12, 10, 3), name="x")
    model = keras.Model(i, getattr(small_cnns, name)(i))
    config = {"IOType": "io_stream", "Model": {"Precision": "ap_fixed<18,8>"}}
    project = nn2fpga.convert(model, config=config, output_dir=tmp_path / "p")
    _assert_completes_like_csim(project, np.random.default_rng(0).normal(size=(4, 12, 10, 3)))


def _random_fold(graph, rng: np.random.Generator) -> dict:
    """LayerName settings drawing a valid (PE, SIMD) for every layer with multipliers and valid Lanes (a divisor of
    the channels it shares with its producers) for every other layer but softmax."""
    layers = {}
    for layer in graph.layers():
        if isinstance(layer, Linear):
            folds = [f for f in valid_folds(layer) if f[0] * f[1] <= MAX_UNROLL]
            pe, simd = folds[rng.integers(len(folds))]
            layers[layer.name] = {"PE": int(pe), "SIMD": int(simd)}
        elif not (isinstance(layer, Activation) and layer.fn == "softmax"):
            need = [channels(layer), *(channels(p) for p in graph.producers(layer.name))]
            layers[layer.name] = {"Lanes": int(rng.choice(divisors(math.gcd(*need))))}
    return {"LayerName": layers}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cycle_model_is_the_loop_count_of_random_folds_of_the_skip_graph(skip_graph, seed: int, tmp_path) -> None:
    graph = compile_graph(skip_graph(6), Config.from_yaml({"IOType": "io_stream"}))[1]
    cfg = Config.from_yaml({"IOType": "io_stream", **_random_fold(graph, np.random.default_rng(seed))})
    project = Project(compile_graph(skip_graph(6), cfg)[1], cfg, None)
    project.write(tmp_path / "prj")
    _assert_completes_like_csim(project, np.random.default_rng(seed).normal(size=(2, 6, 6, 4)), backend="reference")


@pytest.mark.keras
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("name", ["strided", "depthwise", "pools", "branches", "three_way_add"])
def test_cycle_model_is_the_loop_count_of_random_folds(name: str, seed: int, tmp_path: Path) -> None:
    """Random valid PE, SIMD and Lanes per layer (width converters wherever neighbours differ): the bounded run
    completes bit-exact with the reference and counts, for every process, the cycles the model gives."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    keras = pytest.importorskip("keras")
    import small_cnns

    import nn2fpga

    keras.utils.set_random_seed(3)
    i = keras.Input((12, 10, 3), name="x")
    model = keras.Model(i, getattr(small_cnns, name)(i))
    config = {"IOType": "io_stream", "Model": {"Precision": "ap_fixed<18,8>"}}
    folds = _random_fold(nn2fpga.convert(model, config=config).graph, np.random.default_rng(seed))
    project = nn2fpga.convert(model, config={**config, **folds}, output_dir=tmp_path / "p")
    x = np.random.default_rng(seed).normal(size=(2, 12, 10, 3))
    _assert_completes_like_csim(project, x, backend="reference")


def test_jet_tagger_estimate_is_the_counted_cycles(tmp_path: Path) -> None:
    """The jet tagger (16-64-32-32-5) in io_stream, folded by ReuseFactor 8: the estimate's cycles are counted."""
    from nn2fpga.validation import jet_tagger

    cfg = Config.from_yaml({"IOType": "io_stream", "Model": {"ReuseFactor": 8, "Strategy": "Resource"}})
    project = Project(compile_graph(jet_tagger([16, 64, 32, 32, 5]), cfg)[1], cfg, None)
    project.write(tmp_path / "prj")
    _assert_completes_like_csim(project, np.random.default_rng(0).normal(size=(3, 16)), backend="reference")


@pytest.mark.keras
def test_resnet50_runs_deadlock_free(tmp_path: Path) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    keras = pytest.importorskip("keras")
    import nn2fpga
    from nn2fpga.datasets import calibrate_batchnorm

    keras.utils.set_random_seed(0)  # the model and config of tests/project/test_resnet.py: csim's library is shared
    model = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=2)
    calibrate_batchnorm(model, np.random.default_rng(1).normal(size=(8, 64, 64, 3)))
    precision = {"result": "ap_fixed<22,7>", "weight": "ap_fixed<22,2>", "bias": "ap_fixed<22,7>"}
    project = nn2fpga.convert(model, config={"Model": {"Precision": precision}}, output_dir=tmp_path / "prj")
    run = _assert_completes_like_csim(project, np.random.default_rng(2).normal(size=(2, 64, 64, 3)))
    skips = [s for s in run.streams if s.depth > 2]
    assert len(skips) == 16  # one deeper FIFO per skip connection
    model = cycle_model(project.graph, project.name, project.config.clock_period)
    assert model.bottleneck.cycles == max(model.cycles().values()) and model.images_per_s > 0


def test_streams_in_the_written_config_set_the_depths(skip_project: Project, skip_graph, tmp_path: Path) -> None:
    """The project's nn2fpga.yml lists every stream; a depth edited there is what converting again builds."""
    written = (skip_project.path / "nn2fpga.yml").read_text()
    assert "  a_to_add: 48\n" in written
    edited = tmp_path / "edited.yml"
    edited.write_text(written.replace("  a_to_add: 48\n", "  a_to_add: 1\n"))
    cfg = Config.from_yaml(edited)
    _, graph, _ = compile_graph(skip_graph(8), cfg)
    assert graph["add"].fifo_depths == (1, 2)
    project = Project(graph, cfg, None)
    project.write(tmp_path / "edited")
    run = project.simulate(np.random.default_rng(0).normal(size=(2, 8, 8, 4)))
    assert run.outputs is None and "a_fork: blocked writing 'a_to_add' (full: 1 of depth 1)" in run.deadlock
