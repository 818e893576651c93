"""Vitis HLS csynth reports read back (nn2fpga.estimate.synthesis): values from hand-written reports in Vitis's
layout (tests/estimate/data/csynth/), the project layout `build_prj.tcl` produces, the layer matching rule, and
one-line errors naming the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nn2fpga.estimate.synthesis import (
    Synthesis,
    SynthesisReportError,
    find_reports,
    match_layers,
    parse_csynth,
    relative_error,
)
from nn2fpga.ir.errors import UserError

DATA = Path(__file__).parent / "data" / "csynth"
DENSE = "dense_ap_fixed_16_6_5_3_0_config_dense_1_s"
RELU = "relu_ap_fixed_16_6_5_3_0_config_act_1_s"
U250 = {"dsp": 12288, "lut": 1728000, "ff": 3456000, "bram18k": 5376, "uram": 1280}


def report(module: str, instances: dict[str, str] | None = None) -> Synthesis:
    """A report with only a module name and hierarchy, for the matching rule."""
    return Synthesis(module, None, None, None, 0, 0, 0, 0, 0, None, None, {}, instances or {})


def project(tmp_path: Path, name: str = "demo") -> Path:
    """`tmp_path` laid out as after `vitis_hls -f build_prj.tcl`: the fixtures in `<name>_prj/solution1/syn/report`."""
    reports = tmp_path / f"{name}_prj" / "solution1" / "syn" / "report"
    reports.mkdir(parents=True)
    for file in ("csynth.xml", f"{DENSE}_csynth.xml", f"{RELU}_csynth.xml"):
        shutil.copy(DATA / file, reports / file)
    return reports


def test_top_report_values() -> None:
    top = parse_csynth(DATA / "csynth.xml")
    assert (top.module, top.part, top.clock_ns, top.estimated_clock_ns) == (
        "demo_kernel",
        "xcu250-figd2104-2L-e",
        5.0,
        3.65,
    )
    assert (top.dsp, top.lut, top.ff, top.bram18k, top.uram) == (40, 7333, 5210, 4, 0)
    assert (top.latency_cycles, top.ii_cycles) == (120, 67)
    assert top.available == U250


def test_top_report_instances_shallowest_first() -> None:
    top = parse_csynth(DATA / "csynth.xml")
    assert list(top.instances.items()) == [("demo_U0", "demo"), (f"{DENSE}_U0", DENSE), (f"{RELU}_U0", RELU)]


def test_module_report_without_hierarchy_is_named_by_its_file() -> None:
    dense = parse_csynth(DATA / f"{DENSE}_csynth.xml")
    assert (dense.module, dense.dsp, dense.latency_cycles, dense.ii_cycles, dense.instances) == (DENSE, 32, 64, 65, {})


def test_undef_latency_is_none() -> None:
    relu = parse_csynth(DATA / f"{RELU}_csynth.xml")
    assert (relu.module, relu.latency_cycles, relu.ii_cycles, relu.estimated_clock_ns) == (RELU, None, None, 1.208)
    assert relu.available == {}


def test_vivado_hls_report_reads_dsp48e_and_no_uram() -> None:
    old = parse_csynth(DATA / "vivado_hls_csynth.xml")
    assert (old.module, old.part, old.dsp, old.uram, old.latency_cycles) == (
        "small_kernel",
        "xc7z020clg400-1",
        12,
        0,
        11,
    )
    assert old.available == {"dsp": 220, "lut": 53200, "ff": 106400, "bram18k": 280}


def test_find_reports_in_a_project(tmp_path: Path) -> None:
    project(tmp_path)
    found = find_reports(tmp_path)
    assert found is not None
    top, modules = found
    assert top.module == "demo_kernel" and set(modules) == {DENSE, RELU}
    assert modules[DENSE].lut == 4100


def test_find_reports_takes_the_first_prj_with_a_report(tmp_path: Path) -> None:
    (tmp_path / "aaa_prj" / "solution1").mkdir(parents=True)  # opened, never synthesized
    project(tmp_path, "bbb")
    project(tmp_path, "ccc")
    (tmp_path / "ccc_prj" / "solution1" / "syn" / "report" / "csynth.xml").write_text("<profile/>")
    found = find_reports(tmp_path)
    assert found is not None and found[0].module == "demo_kernel"


def test_find_reports_none_without_synthesis(tmp_path: Path) -> None:
    assert find_reports(tmp_path) is None
    (tmp_path / "demo_prj" / "solution1" / "syn" / "report").mkdir(parents=True)
    assert find_reports(tmp_path) is None


def test_match_layers_on_the_project(tmp_path: Path) -> None:
    project(tmp_path)
    found = find_reports(tmp_path)
    assert found is not None
    top, modules = found
    matched = match_layers(modules | {top.module: top}, {"dense_1": "dense_1", "act 1": "act_1", "gone": "gone"})
    assert {layer: r.module for layer, r in matched.items()} == {"dense_1": DENSE, "act 1": RELU}


def test_match_layers_prefers_the_instance() -> None:
    # The instance names the layer; its template module (shared name) does not.
    modules = {
        "top": report("top", {"dense_1_U0": "dense_s", "dense_2_U0": "dense_s_1"}),
        "dense_s": report("dense_s"),
        "dense_s_1": report("dense_s_1"),
    }
    matched = match_layers(modules, {"a": "dense_1", "b": "dense_2"})
    assert {layer: r.module for layer, r in matched.items()} == {"a": "dense_s", "b": "dense_s_1"}


def test_match_layers_longest_ident_at_boundaries_wins() -> None:
    names = ["f_config_dense_s", "f_config_dense_1_s", "f_config_dense_10_s", "f_config_dense_1_s_Pipeline_L1"]
    matched = match_layers({n: report(n) for n in names}, {"d": "dense", "d1": "dense_1", "d10": "dense_10"})
    assert {layer: r.module for layer, r in matched.items()} == {
        "d": "f_config_dense_s", "d1": "f_config_dense_1_s", "d10": "f_config_dense_10_s"}  # fmt: skip


def test_match_layers_skips_instances_without_a_report() -> None:
    modules = {"top": report("top", {"conv_U0": "missing_module"}), "conv_impl": report("conv_impl")}
    assert match_layers(modules, {"c": "conv"})["c"].module == "conv_impl"


def test_relative_error() -> None:
    assert relative_error(110, 100) == pytest.approx(0.1)
    assert relative_error(50, 100) == pytest.approx(-0.5)
    assert relative_error(0, 0) == 0.0
    assert relative_error(3, 0) is None


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        # not XML at all
        ("hello", "not a readable csynth report"),
        # XML, but another tool's
        ("<project><name>x</name></project>", "no AreaEstimates/Resources"),
        ("<profile><AreaEstimates><Resources/></AreaEstimates></profile>", "no PerformanceEstimates"),
        # a used resource missing or not a number
        (
            "<profile><PerformanceEstimates/><AreaEstimates><Resources><BRAM_18K>0</BRAM_18K><FF>1</FF>"
            "<LUT>1</LUT></Resources></AreaEstimates></profile>",
            "no AreaEstimates/Resources/DSP or DSP48E",
        ),
        (
            "<profile><PerformanceEstimates/><AreaEstimates><Resources><BRAM_18K>0</BRAM_18K><DSP>lots</DSP>"
            "<FF>1</FF><LUT>1</LUT></Resources></AreaEstimates></profile>",
            "AreaEstimates/Resources/DSP is 'lots'",
        ),
    ],
)
def test_not_a_report_is_one_line_naming_the_file(tmp_path: Path, text: str, missing: str) -> None:
    path = tmp_path / "report.xml"
    path.write_text(text)
    with pytest.raises(SynthesisReportError) as info:
        parse_csynth(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and missing in message and "\n" not in message


def test_truncated_report_is_one_line_naming_the_file() -> None:
    with pytest.raises(UserError, match=r"malformed\.xml: not a readable csynth report \(.+\)$") as info:
        parse_csynth(DATA / "malformed.xml")
    assert "\n" not in str(info.value) and isinstance(info.value.__cause__, Exception)


def test_missing_file_is_a_report_error(tmp_path: Path) -> None:
    with pytest.raises(SynthesisReportError, match="nothing.xml: not a readable csynth report"):
        parse_csynth(tmp_path / "nothing.xml")


def test_a_bad_module_report_names_its_file(tmp_path: Path) -> None:
    reports = project(tmp_path)
    shutil.copy(DATA / "malformed.xml", reports / "broken_csynth.xml")
    with pytest.raises(SynthesisReportError, match="broken_csynth.xml"):
        find_reports(tmp_path)
