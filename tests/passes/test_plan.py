"""The planner (nn2fpga.passes.plan): the folding it chooses fits the part's fill, balances the layers, converts,
passes the lint, runs deadlock-free in the bounded simulation and stays bit-exact with the reference."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np
import pytest

from nn2fpga.config import Config
from nn2fpga.passes.manager import run_flows
from nn2fpga.passes.plan import STORE, PlanError, _multipliers, _storage, plan
from nn2fpga.testing import assert_csim_matches_reference

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _quantized(model, config: dict):
    from nn2fpga.frontend import from_keras

    cfg = Config.from_yaml(config)
    graph = from_keras(model)
    cfg.bind(graph)
    return run_flows(graph, cfg, ("optimize", "calibrate", "quantize"))[0], cfg


@pytest.fixture(scope="module")
def cnn():
    keras = pytest.importorskip("keras")
    import small_cnns

    keras.utils.set_random_seed(2)
    i = keras.Input((12, 10, 3), name="x")
    return keras.Model(i, small_cnns.branches(i))


@pytest.mark.keras
@pytest.mark.csim
def test_plan_of_a_small_cnn_fits_converts_and_stays_bit_exact(cnn, tmp_path: Path) -> None:
    config = {"IOType": "io_stream", "Part": "xc7z020clg400-1", "Model": {"Precision": "ap_fixed<12,5>"}}
    q, base = _quantized(cnn, config)
    result = plan(copy.deepcopy(q), base, fill=0.5)
    used = result.estimate.utilisation()
    assert all(used[k] <= 0.5 for k in ("dsp", "lut", "ff", "bram18k")), used
    # the layers are balanced: none of those with multipliers is far faster than it needs to be
    assert result.estimate.ii_cycles <= result.target * 1.05 or result.target == 1
    (tmp_path / "plan.yml").write_text(result.yaml())
    import nn2fpga

    project = nn2fpga.convert(cnn, config=tmp_path / "plan.yml", output_dir=tmp_path / "prj")  # lints on the way
    assert project.estimate().ii_cycles == result.estimate.ii_cycles
    x = np.random.default_rng(0).normal(size=(3, 12, 10, 3))
    assert_csim_matches_reference(project, x)
    run = project.simulate(x[:2])
    assert not run.deadlock and np.array_equal(run.outputs, project.predict(x[:2]))


@pytest.mark.keras
def test_lut_multipliers_take_over_when_dsps_run_short(cnn) -> None:
    config = {"IOType": "io_stream", "Part": "xc7z020clg400-1", "Model": {"Precision": "ap_fixed<12,5>"}}
    q, base = _quantized(cnn, config)
    result = plan(copy.deepcopy(q), base, fill=0.8)
    used = result.estimate.utilisation()
    assert used["lut"] < used["dsp"]  # so a fill between them is short of DSPs only
    fill, settings = max(used["lut"] * 1.1, used["dsp"] * 0.9), {}
    after = _multipliers(result.graph, result.config, result.estimate, fill, settings)
    # DSPs go down, LUTs stay within the fill (layers whose LUTs would not fit keep their DSPs)
    assert after.utilisation()["dsp"] < used["dsp"] and after.utilisation()["lut"] <= fill
    moved = [name for name, entry in settings.items() if entry.get("Multipliers") == "lut"]
    assert moved and all(result.graph[name].multipliers == "lut" for name in moved)
    assert after.ii_cycles == result.estimate.ii_cycles  # the same folds, other multipliers


@pytest.mark.keras
def test_packed_multipliers_come_first_on_a_dsp48e2_part(cnn) -> None:
    """8-bit operands on an UltraScale+ part: short of DSPs, the planner packs two products per DSP48E2 in the
    layers whose PE lanes share an input, before any LUT multipliers; the folds stay."""
    precision = {"result": "ap_fixed<8,4>", "weight": "ap_fixed<8,1>", "bias": "ap_fixed<16,6>"}
    config = {"IOType": "io_stream", "Part": "xczu3eg-sbva484-1-e", "Model": {"Precision": precision}}
    q, base = _quantized(cnn, config)
    result = plan(copy.deepcopy(q), base, fill=0.8)
    used, settings = result.estimate.utilisation(), {}
    fill = max(used["lut"] * 1.1, used["dsp"] * 0.9)  # short of DSPs only
    after = _multipliers(result.graph, result.config, result.estimate, fill, settings)
    impls = {name: entry["Multipliers"] for name, entry in settings.items() if "Multipliers" in entry}
    assert impls and set(impls.values()) <= {"packed", "lut"}
    packed = [n for n, impl in impls.items() if impl == "packed"]
    assert packed and all(result.graph[n].pe >= 2 for n in packed)
    assert after.utilisation()["dsp"] < used["dsp"] and after.ii_cycles == result.estimate.ii_cycles


@pytest.mark.keras
def test_storage_moves_weights_out_of_a_full_memory(cnn) -> None:
    """Block RAM over the fill: weights move to URAM or LUTRAM, the best RAMB18 freed per share taken first,
    until block RAM is within the fill and the memories they moved to stay within it too."""
    precision = {"result": "ap_fixed<8,4>", "weight": "ap_fixed<8,1>", "bias": "ap_fixed<16,6>"}
    config = {"IOType": "io_stream", "Part": "xczu7ev-ffvc1156-2-e", "Model": {"Precision": precision}}
    q, base = _quantized(cnn, config)
    result = plan(copy.deepcopy(q), base, fill=0.8)
    g = result.graph
    for layer in g.layers():  # every weight bank back in block RAM, none pinned
        if layer.HAS_MULTIPLIERS:
            layer.weight_storage = "bram"
    from nn2fpga.estimate.model import estimate

    full = estimate(g, base.part, base.clock_period, "p")
    fill = full.utilisation()["bram18k"] * 0.9
    settings: dict = {}
    after = _storage(g, base, full, fill, settings)
    moved = {n: e["WeightStorage"] for n, e in settings.items()}
    assert moved and set(moved.values()) <= {"uram", "lutram"}, moved
    assert all(g[n].weight_storage == s for n, s in moved.items())
    use = after.utilisation()
    assert use["bram18k"] <= fill and all(use[STORE[s]] <= fill for s in moved.values())


@pytest.mark.keras
def test_nothing_fits_names_the_resource(cnn) -> None:
    config = {"IOType": "io_stream", "Part": "xc7z020clg400-1", "Model": {"Precision": "ap_fixed<12,5>"}}
    q, base = _quantized(cnn, config)
    with pytest.raises(PlanError, match=r"does not fit xc7z020 at any folding; at the slowest: .* short by"):
        plan(copy.deepcopy(q), base, fill=0.001)


@pytest.mark.keras
def test_plan_section_makes_convert_plan(cnn, tmp_path: Path) -> None:
    """`Plan:` in the config: convert builds the planner's folding (what `nn2fpga plan` writes) and keeps the
    complete planned config in the project."""
    import yaml

    import nn2fpga
    from nn2fpga.passes.plan import plan_graph

    config = {"IOType": "io_stream", "Part": "xc7z020clg400-1", "Model": {"Precision": "ap_fixed<12,5>"},
              "Plan": {"Fill": 0.5}}  # fmt: skip
    project = nn2fpga.convert(cnn, config=config, output_dir=tmp_path / "prj")
    from nn2fpga.frontend import from_keras

    expected = plan_graph(from_keras(cnn), Config.from_yaml(config))
    folds = {lay.name: (lay.pe, lay.simd) for lay in project.graph.layers() if lay.HAS_MULTIPLIERS}
    assert folds == {lay.name: (lay.pe, lay.simd) for lay in expected.graph.layers() if lay.HAS_MULTIPLIERS}
    assert project.estimate().ii_cycles == expected.estimate.ii_cycles
    assert all(v <= 0.5 for k, v in project.estimate().utilisation().items() if k != "uram")
    written = yaml.safe_load((tmp_path / "prj" / "nn2fpga.yml").read_text())
    assert written.get("Plan") is None and all("PE" in written["LayerName"][n] for n in folds)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"Fill": 1.5}, r"^Plan\.Fill: expected a fraction in \(0, 1\], got 1\.5$"),
        ({"FPS": -2}, r"^Plan\.FPS: expected a number > 0"),
        ({"Speed": 3}, r"^Plan\.Speed: unknown key"),
    ],
)
def test_plan_section_errors_name_the_key(section: dict, message: str) -> None:
    from nn2fpga.ir.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        Config.from_yaml({"Plan": section})


@pytest.mark.keras
@pytest.mark.slow
def test_resnet50_plan_beats_brainwave_on_a_u250() -> None:
    """The issue's target: ResNet-50 224x224, 8-bit, xcu250 at 5 ns within 85 %: at least 700 images/s."""
    keras = pytest.importorskip("keras")
    from nn2fpga.frontend import from_keras
    from nn2fpga.passes.plan import plan_graph

    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3), classes=2)
    precision = {"result": "ap_fixed<8,4>", "weight": "ap_fixed<8,1>", "bias": "ap_fixed<16,6>"}
    base = Config.from_yaml({"IOType": "io_stream", "Part": "xcu250-figd2104-2L-e", "ClockPeriod": 5,
                             "Model": {"Precision": precision}})  # fmt: skip
    result = plan_graph(from_keras(model), base, fill=0.85)
    assert result.estimate.images_per_s >= 700
    assert all(v <= 0.85 for v in result.estimate.utilisation().values())
