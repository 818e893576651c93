"""The synthesizability lint (nn2fpga.lint, `nn2fpga lint`, convert's check): every rule fires on a crafted case
naming the layer, the value and the limit; the folded graphs the passes produce are clean; the old unfolded
3x3x512x512 convolution is reported; the firmware scan finds heap use, containers and recursion in what Vitis HLS
compiles and ignores C-simulation-only code; convert writes nothing when the lint fails."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from nn2fpga import lint
from nn2fpga.cli import main
from nn2fpga.config import Config
from nn2fpga.estimate import memory
from nn2fpga.estimate.geometry import MAX_UNROLL, MAX_WORD_BITS
from nn2fpga.ir.errors import UserError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Conv2D, GlobalPool2D, Input
from nn2fpga.lint import LintError, Violation, lint_firmware, lint_graph
from nn2fpga.project import Project, compile_graph

STREAM = {"IOType": "io_stream"}


def _wide_conv_graph() -> Graph:
    """x (4x4x8) -> expand (1x1, 512 filters) -> conv (3x3x512x512, same) -> global pool."""
    rng = np.random.default_rng(0)
    g = Graph("wide")
    g.add(Input("x", shape=(4, 4, 8)))
    g.add(Conv2D("expand", shape=(4, 4, 512), weight=rng.normal(size=(1, 1, 8, 512)) / 3, bias=np.zeros(512)), ["x"])
    weight = rng.normal(size=(3, 3, 512, 512)) / 48
    g.add(Conv2D("conv", shape=(4, 4, 512), weight=weight, bias=np.zeros(512), padding=(1, 1, 1, 1)), ["expand"])
    g.add(GlobalPool2D("gap", shape=(512,)), ["conv"])
    g.outputs = ["gap"]
    return g


@pytest.fixture(scope="module")
def wide() -> Graph:
    return compile_graph(_wide_conv_graph(), Config.from_yaml(STREAM))[1]


def _find(violations: list[Violation], layer: str, rule: str) -> Violation:
    found = [v for v in violations if v.layer == layer and v.rule == rule]
    assert len(found) == 1, [str(v) for v in violations]
    return found[0]


def test_the_folded_graphs_the_passes_produce_are_clean(wide: Graph, skip_graph) -> None:
    assert lint_graph(wide, Config.from_yaml(STREAM)) == []
    for io_type in ("io_stream", "io_parallel"):
        cfg = Config.from_yaml({"IOType": io_type})
        assert lint_graph(compile_graph(skip_graph(8), cfg)[1], cfg) == []


def test_the_old_unfolded_convolution_is_reported_with_layer_and_limit(wide: Graph) -> None:
    g = wide.copy()
    g["conv"].pe, g["conv"].simd = 512, 512  # the old template: every channel and filter in one pipelined body
    violations = lint_graph(g, Config.from_yaml(STREAM))
    unroll = _find(violations, "conv", "unroll")
    assert (unroll.value, unroll.limit) == (512 * 512, MAX_UNROLL) == (262144, 4096)
    assert str(unroll).startswith("conv: unroll: 262144 (limit 4096); PE 512 x SIMD 512")
    assert "smallest valid ReuseFactor is 576" in str(unroll)  # 3*3*512*512 / 4096
    assert str(_find(violations, "conv", "weight-word")).startswith("conv: weight-word: 8192 (limit 4096)")
    stream = _find(violations, "conv", "stream-word")  # SIMD 512 words of expand's 16-bit values
    assert (stream.value, stream.limit) == (512 * 16, MAX_WORD_BITS) and "of expand" in stream.note
    assert "\n" not in "".join(map(str, violations))


def test_stream_words_and_converter_partitions(skip_graph) -> None:
    cfg = Config.from_yaml(STREAM)
    g = compile_graph(skip_graph(8), cfg)[1]
    g["a"].lanes = 2048  # a's output words: 2048 lanes x 16 bits; b reads 4 of them: a 2048 -> 4 converter
    g["b"].simd = 3
    violations = lint_graph(g, cfg)
    out = _find(violations, "a", "stream-word")
    assert (out.value, out.limit, out.note) == (2048 * 16, 4096, "output: 2048 lanes x 16 bits")
    group = [v for v in violations if v.layer == "b" and v.rule == "partition"]
    assert [(v.value, v.limit) for v in group] == [(6144, 4096)] and "lcm(2048, 3)" in group[0].note


def test_pe_accumulators_and_io_parallel_feature_maps_are_complete_partitions(skip_graph) -> None:
    cfg = Config.from_yaml({"IOType": "io_parallel"})
    g = compile_graph(skip_graph(40), cfg)[1]  # 40x40x4 = 6400 values per feature map, forced io_parallel
    violations = lint_graph(g, cfg)
    maps = {v.layer: v for v in violations if v.rule == "partition"}
    assert sorted(maps) == ["a", "add", "b", "c", "x"]
    assert (maps["add"].value, maps["add"].limit) == (6400, 4096) and "40x40x4" in maps["add"].note
    g = compile_graph(skip_graph(8), cfg)[1]
    g["b"].pe = 5000
    acc = _find(lint_graph(g, cfg), "b", "partition")
    assert (acc.value, acc.limit, acc.note) == (5000, 4096, "PE accumulators")


def test_weight_memory_is_counted_in_primitives_against_the_part(wide: Graph) -> None:
    assert memory.bram18_blocks(512, 36) == 1 and memory.bram18_blocks(513, 36) == 2
    assert memory.bram18_blocks(16384, 1) == 1 and memory.bram18_blocks(2048, 18) == 2  # 9x2K twice, or 18x1K twice
    assert memory.bram18_blocks(100, 72) == 2 and memory.bram18_blocks(4096, 4) == 1
    assert memory.lutram_luts(64, 8) == 8 and memory.lutram_luts(65, 8) == 16
    conv = wide["conv"]  # PE banks of words*bits each
    banks, words, bits = conv.pe, 9 * 512 * 512 // (conv.pe * conv.simd), conv.simd * 16
    use = memory.memory_use(wide)
    assert use["conv"] == (banks * memory.bram18_blocks(words, bits), 0, 0) and conv.weight_storage == "bram"
    small = Config.from_yaml({**STREAM, "Part": "xc7z020clg400-1"})
    bram = _find(lint_graph(wide, small), "all layers", "bram18")
    assert (bram.value, bram.limit) == (sum(u[0] for u in use.values()), 280) and "largest: conv" in bram.note
    g = wide.copy()
    g["conv"].weight_storage = "lutram"
    luts = _find(lint_graph(g, small), "all layers", "lutram")
    assert luts.limit == 17400 and luts.value == sum(u[2] for u in memory.memory_use(g).values())
    g["conv"].weight_storage = "uram"  # URAM288: 4096 x 72 bits; xc7z020 has none
    assert memory.memory_use(g)["conv"] == (0, banks * -(-bits // 72) * -(-words // 4096), 0)
    assert _find(lint_graph(g, small), "all layers", "uram").limit == 0
    g["conv"].weight_storage = "offchip"  # streamed from DDR: no on-chip memory
    assert memory.memory_use(g)["conv"] == (0, 0, 0)


@pytest.fixture
def written(skip_graph, tmp_path: Path) -> Path:
    cfg = Config.from_yaml(STREAM)
    project = Project(compile_graph(skip_graph(8), cfg)[1], cfg, None)
    return project.write(tmp_path / "prj")


@pytest.mark.parametrize(
    ("code", "rule", "value"),
    [
        ("static std::vector<int> log_;", "container", "std::vector"),
        ("inline int *grab() { return new int[4]; }", "dynamic-memory", "new"),
        ("inline void drop(int *p) { free(p); }", "dynamic-memory", "free"),
        ("inline int depth(int n) {\n    return n ? 1 + depth(n - 1) : 0;\n}", "recursion", "depth calls itself"),
    ],
)
def test_the_firmware_scan_finds_what_synthesis_rejects(written: Path, code: str, rule: str, value: str) -> None:
    header = written / "firmware" / "n2f" / "common.h"
    lines = header.read_text().split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("namespace n2f"))
    header.write_text("\n".join([*lines[: at + 1], code, *lines[at + 1 :]]))
    (found,) = lint_firmware(written / "firmware")
    line = at + 2 + (rule == "recursion")  # the line after `namespace n2f {`; for recursion, the call's line
    assert (found.layer, found.rule, found.value) == (f"firmware/n2f/common.h:{line}", rule, value)
    assert str(found) == f"firmware/n2f/common.h:{line}: {rule}: {value} (limit none in synthesized code)"


def test_the_firmware_scan_ignores_csim_only_code(written: Path) -> None:
    fw = written / "firmware"
    assert lint_firmware(fw) == []
    kernel = fw / "kernel.cpp"
    csim_only = (
        "#ifndef __SYNTHESIS__\nstatic std::vector<int> trace_;\n#else\nstatic int ok_;\n#endif\n"
        "#ifdef N2F_BOUNDED_STREAMS\nstatic std::map<int, int> marks_;\n#endif\n"
        "#if defined(N2F_BOUNDED_STREAMS) && !defined(__SYNTHESIS__)\nstatic int *heap_ = new int;\n#endif\n"
        '// std::string and new in a comment; "delete" in a string\nstatic const char *s_ = "malloc(";\n'
    )
    kernel.write_text(csim_only + kernel.read_text())
    (fw / "hls_stream.h").write_text("#include <deque>\nstd::deque<int> q;\n")  # a csim header: not synthesized
    (fw / "weights" / "w_huge.h").write_text("std::vector<int> not_scanned;\n")  # weight literals are data
    assert lint_firmware(fw) == []
    kernel.write_text("#ifdef __SYNTHESIS__\nstatic std::vector<int> v_;\n#endif\n" + kernel.read_text())
    assert [(v.layer, v.value) for v in lint_firmware(fw)] == [("firmware/kernel.cpp:2", "std::vector")]


def run_cli(capsys, *args) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_lint_exit_codes(written: Path, tmp_path: Path, capsys) -> None:
    rc, out, err = run_cli(capsys, "lint", written)
    assert rc == 0 and err == "" and out.startswith(f"{written}: clean: 6 layers") and "on xcu250" in out
    bad = tmp_path / "bad"
    shutil.copytree(written, bad)
    kernel = bad / "firmware" / "kernel.cpp"
    kernel.write_text("std::vector<int> v;\n" + kernel.read_text())
    rc, out, _ = run_cli(capsys, "lint", bad)
    lines = out.splitlines()
    assert rc == 1 and lines[0] == "firmware/kernel.cpp:1: container: std::vector (limit none in synthesized code)"
    assert lines[1].startswith(f"{bad}: 1 violation(s)") and len(lines) == 2
    for project, message in ((tmp_path, "is not an nn2fpga project"), (bad, "Part: unknown part 'xc9000'")):
        yml = bad / "nn2fpga.yml"
        yml.write_text(yml.read_text().replace("Part: xcu250-figd2104-2L-e", "Part: xc9000"))
        rc, out, err = run_cli(capsys, "lint", project)
        assert rc == 2 and out == "" and message in err and len(err.splitlines()) == 1


def test_lint_project_reads_a_written_project(written: Path) -> None:
    assert lint.lint_project(written) == []
    with pytest.raises(UserError, match="is not an nn2fpga project"):
        lint.lint_project(written / "firmware")


@pytest.mark.keras
def test_convert_refuses_a_project_that_breaks_the_limits(tmp_path: Path, capsys) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    keras = pytest.importorskip("keras")
    import nn2fpga

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv")(inputs)
    keras.Model(inputs, keras.layers.GlobalAveragePooling2D(name="gap")(x)).save(tmp_path / "m.keras")
    config = tmp_path / "parallel.yml"
    config.write_text("IOType: io_parallel\n")  # 32x32x8 = 8192 values in registers
    with pytest.raises(LintError) as info:
        nn2fpga.convert(tmp_path / "m.keras", config=str(config), output_dir=tmp_path / "api")
    assert [str(v) for v in info.value.violations] == [
        "conv: partition: 8192 (limit 4096); io_parallel feature map 32x32x8"
    ]
    assert isinstance(info.value, UserError) and not (tmp_path / "api").exists()

    prj = tmp_path / "prj"
    rc, out, err = run_cli(capsys, "convert", tmp_path / "m.keras", "-o", prj, "-c", config)
    assert rc == 2 and "conv: partition: 8192 (limit 4096)" in err and "--no-lint" in err and not prj.exists()
    rc, out, err = run_cli(capsys, "convert", tmp_path / "m.keras", "-o", prj, "-c", config, "--no-lint")
    assert rc == 0 and prj.is_dir()
    rc, out, _ = run_cli(capsys, "lint", prj)
    assert rc == 1 and out.splitlines()[0] == "conv: partition: 8192 (limit 4096); io_parallel feature map 32x32x8"
