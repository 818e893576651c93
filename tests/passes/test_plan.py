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
from nn2fpga.passes.plan import PlanError, _lut_multipliers, plan
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
    after = _lut_multipliers(result.graph, result.config, result.estimate, fill, settings)
    # DSPs go down, LUTs stay within the fill (layers whose LUTs would not fit keep their DSPs)
    assert after.utilisation()["dsp"] < used["dsp"] and after.utilisation()["lut"] <= fill
    moved = [name for name, entry in settings.items() if entry.get("Multipliers") == "lut"]
    assert moved and all(result.graph[name].multipliers == "lut" for name in moved)
    assert after.ii_cycles == result.estimate.ii_cycles  # the same folds, other multipliers


@pytest.mark.keras
def test_nothing_fits_names_the_resource(cnn) -> None:
    config = {"IOType": "io_stream", "Part": "xc7z020clg400-1", "Model": {"Precision": "ap_fixed<12,5>"}}
    q, base = _quantized(cnn, config)
    with pytest.raises(PlanError, match=r"does not fit xc7z020 at any folding; at the slowest: .* short by"):
        plan(copy.deepcopy(q), base, fill=0.001)
