"""Hostile model files (docs/reliability.md): each refused by the real command line with one line naming the file
and what is wrong, exit 2, no traceback, nothing written or extracted, at most 2 GB resident, TensorFlow never
imported. The files are built by hand in `hostile_files` (small on disk: the bombs declare, they do not hold);
all runs go in one Python, in turn (their times are measured by bench/hostile.py, one process per case)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from hostile_files import (
    CASES,
    DENSE,
    Run,
    dataset_bomb,
    keras3_config,
    keras_file,
    keras_path_mismatch,
    run_cli,
    weights_h5,
)

from nn2fpga.frontend import archive, screening
from nn2fpga.frontend.loading import file_config
from nn2fpga.ir.errors import ModelError

MAX_PEAK_MB = 2000  # the acceptance bound: 2 GB resident


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Run, Path, Path]]:
    """Every case's `nn2fpga convert FILE -o DIR/prj` (DIR holds FILE in in/ and the TMPDIR tmp/): (run, FILE, DIR)."""
    root = tmp_path_factory.mktemp("hostile")
    (root / "tmp").mkdir()
    files, dirs = {}, {}
    for case, (name, build, _) in CASES.items():
        dirs[case] = root / f"case{len(dirs)}"
        (dirs[case] / "in").mkdir(parents=True)
        files[case] = build(dirs[case] / "in" / name)
    _, _, done = run_cli([["convert", str(files[c]), "-o", str(dirs[c] / "prj")] for c in CASES], root / "tmp")
    assert not any((root / "tmp").iterdir()), "nothing extracted or left in TMPDIR"
    return {case: (run, files[case], dirs[case]) for case, run in zip(CASES, done)}


@pytest.mark.parametrize("case", [c for c in CASES if c != "valid"])
def test_hostile_file_is_one_line_exit_2(runs: dict[str, tuple[Run, Path, Path]], case: str) -> None:
    run, path, root = runs[case]
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith(f"nn2fpga: error: {path}: ") and CASES[case][2] in run.stderr, run.stderr
    assert len(run.stderr.splitlines()) == 1 and "Traceback" not in run.stderr
    assert [p.name for p in root.iterdir()] == ["in"] and [p.name for p in (root / "in").iterdir()] == [path.name]
    assert not run.tensorflow, "refused before TensorFlow is imported"
    assert run.peak_mb <= MAX_PEAK_MB


def test_the_valid_file_converts(runs: dict[str, tuple[Run, Path, Path]]) -> None:
    """The builders' model is a real one: the hostile files are refused for what was changed, nothing else."""
    run, _, root = runs["valid"]
    assert run.returncode == 0, run.stderr
    assert (root / "prj" / "firmware").is_dir() and not run.tensorflow


@pytest.mark.parametrize(
    "command", [["convert", "-o", "OUT/prj"], ["config"], ["plan", "--fps", "1", "-o", "OUT/p.yml"]]
)
def test_the_process_exits_2_for_every_command(tmp_path: Path, command: list[str]) -> None:
    """Each its own process, its own exit status: `convert` and the other commands that read a model."""
    path = CASES["path traversal"][1](tmp_path / "traversal.keras")
    (tmp_path / "tmp").mkdir()
    argv = [command[0], str(path), *(arg.replace("OUT", str(tmp_path)) for arg in command[1:])]
    status, _, [run] = run_cli([argv], tmp_path / "tmp")
    assert status == 2 and len(run.stderr.splitlines()) == 1 and CASES["path traversal"][2] in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp", "traversal.keras"] and not run.tensorflow


@pytest.mark.keras
def test_a_file_only_keras_refuses_is_one_line_too(tmp_path: Path) -> None:
    """The one case the checks before TensorFlow pass (weights that disagree with a tf_keras .h5 config): Keras
    refuses it, and TensorFlow's start-up lines on file descriptor 2 go to the log, not the terminal."""
    path = keras_path_mismatch(tmp_path / "mismatch.h5")
    (tmp_path / "tmp").mkdir()
    status, _, [run] = run_cli([["convert", str(path), "-o", str(tmp_path / "prj")]], tmp_path / "tmp")
    assert status == 2 and run.tensorflow and not (tmp_path / "prj").exists()
    assert len(run.stderr.splitlines()) == 1 and "tf_keras could not load the model" in run.stderr, run.stderr


# ---- the limits, in this process --------------------------------------------------------------------------


def test_a_member_is_read_up_to_its_limit_whatever_it_declares(tmp_path: Path) -> None:
    path = keras_file(tmp_path / "m.keras")
    with zipfile.ZipFile(path) as z:
        assert json.loads(archive.read_member(z, "config.json", 1 << 20, path)) == keras3_config()
        with pytest.raises(ModelError, match=r"m\.keras: member 'config\.json' holds more than 10 bytes"):
            archive.read_member(z, "config.json", 10, path)


def test_deflated_weights_are_checked_too(tmp_path: Path) -> None:
    """Keras stores its members (read in place); a deflated weights member is decompressed, then checked alike."""
    assert file_config(keras_file(tmp_path / "ok.keras", method=zipfile.ZIP_DEFLATED))[1] == keras3_config()
    bomb = weights_h5(DENSE, dataset_bomb)
    with pytest.raises(
        ModelError, match=r"bomb\.keras: model\.weights\.h5: dataset /layers/d/vars/2 declares 4294967296"
    ):
        file_config(keras_file(tmp_path / "bomb.keras", weights=bomb, method=zipfile.ZIP_DEFLATED))


def test_json_depth_is_bounded_below_the_recursion_limit(tmp_path: Path) -> None:
    deep = archive.MAX_CONFIG_DEPTH
    assert archive.parse_json(b"[" * deep + b"]" * deep, tmp_path, "x") is not None
    with pytest.raises(ModelError, match="more than 64 levels deep"):
        archive.parse_json(b"[" * (deep + 1) + b"]" * (deep + 1), tmp_path, "x")


# the quantizers QKeras files name: dicts (kernels) and strings (activations)
@pytest.mark.parametrize(
    "quantizer",
    [
        {"kernel_quantizer": {"class_name": "quantized_bits", "config": {"bits": 4}}},
        {"activation": "quantized_relu(4, 0)"},
        {"activation": "relu"},
        {"bias_quantizer": None},
    ],
)
def test_known_quantizers_pass(quantizer: dict) -> None:
    screening.check_config({"class_name": "QDense", "config": {"name": "qd", **quantizer}}, Path("q.h5"))


def test_a_model_at_the_bounds_passes() -> None:
    side = 1 << 14  # 2^14 x 2^14 x 1 = 2^28 values per sample
    config = {"class_name": "InputLayer", "config": {"name": "x", "batch_shape": [None, side, side, 1]}}
    screening.check_config(config, Path("m.keras"))
    with pytest.raises(ModelError, match="layer 'x': batch_shape"):
        screening.check_config({**config, "config": {"name": "x", "batch_shape": [None, side, side, 2]}}, Path("m"))
