"""The generated host driver (host/driver.py): packing, backends, split execution (no Triton)."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

from nn2fpga.config import Config
from nn2fpga.ir.errors import ConfigError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Dense, Input
from nn2fpga.ir.types import FixedType
from nn2fpga.project import Project, compile_graph
from nn2fpga.sim.binding import pack_words, sample_words, unpack_words

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[2]


def load_driver(project_dir: Path):
    """host/driver.py of a project, imported by path as a user (or Triton's model.py) would."""
    spec = importlib.util.spec_from_file_location(
        f"driver_{abs(hash(str(project_dir)))}", project_dir / "host" / "driver.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_project(tmp_path: Path, input_type: str, n_in: int = 6) -> Project:
    """Input -> Dense(3), built from the IR (no Keras), with `input_type` on the input."""
    rng = np.random.default_rng(1)
    g = Graph("tiny")
    g.add(Input("x", shape=(n_in,)))
    g.add(Dense("d", shape=(3,), weight=rng.normal(size=(n_in, 3)), bias=rng.normal(size=3)), ["x"])
    g.outputs = ["d"]
    cfg = Config({"LayerType": {"Input": {"Precision": input_type}}})
    _, graph, _ = compile_graph(g, cfg)
    project = Project(graph, cfg, None)
    project.write(tmp_path / "tiny")
    return project


def hard_values(t: FixedType, n: int, seed: int) -> np.ndarray:
    """Random values, exact ties between two lsb steps, the range ends and beyond, infinities."""
    rng = np.random.default_rng(seed)
    lsb, span = t.lsb, max(abs(t.min), t.max)
    ties = (rng.integers(-(2**12), 2**12, n) + 0.5) * lsb
    edges = np.array([t.min, t.max, t.min - lsb / 2, t.max + lsb / 2, t.max + lsb, -span * 4, span * 4, 0.0, -0.0])
    wild = rng.normal(scale=span * 1.5, size=n)
    return np.concatenate([ties, edges, wild, [np.inf, -np.inf]])


# copied module: the FixedType the driver packs with, the one ctypes binding of the csim library
@pytest.mark.parametrize("copy, source", [("fixed.py", "ir/types.py"), ("binding.py", "sim/binding.py")])
def test_host_modules_are_verbatim_copies(tmp_path, copy: str, source: str) -> None:
    tiny_project(tmp_path, "ap_fixed<16,6>")
    copied = (tmp_path / "tiny" / "host" / copy).read_text()
    assert copied.split("\n", 1)[1] == (ROOT / "src" / "nn2fpga" / source).read_text()


# input types: every rounding and overflow family, signed and unsigned, narrow and wide
@pytest.mark.parametrize(
    "input_type",
    [
        "ap_fixed<16,6>",
        "ap_fixed<8,3,AP_RND_CONV,AP_SAT>",
        "ap_ufixed<12,4,AP_RND,AP_WRAP>",
        "ap_fixed<10,2,AP_RND_ZERO,AP_SAT_SYM>",
        "ap_fixed<32,10,AP_RND_INF,AP_SAT_ZERO>",
        "ap_fixed<6,8,AP_RND_MIN_INF,AP_SAT>",
        "ap_int<8>",
    ],
)
def test_driver_packing_equals_fixedtype_to_raw(tmp_path, input_type: str) -> None:
    tiny_project(tmp_path, input_type)
    driver = load_driver(tmp_path / "tiny").Driver("reference", tmp_path / "tiny")
    t = FixedType.parse(input_type)
    values = hard_values(t, 3000, seed=len(input_type))
    values = values[: len(values) // 6 * 6].reshape(-1, 6)
    packed = driver.pack(values)
    # the kernel's memory: per sample its 6 values, little-endian in their container, zeros to 64 bytes
    assert packed.dtype == np.uint8 and packed.shape == (len(values), 64) and driver.in_bytes == 64
    size = 6 * driver.in_dtype.itemsize
    assert driver.in_dtype.itemsize * 8 >= t.width and not packed[:, size:].any()
    raw = packed[:, :size].copy().view(driver.in_dtype.newbyteorder("<"))
    assert np.array_equal(raw.astype(np.int64), t.to_raw(values).astype(np.int64))
    # unpacking the kernel's words gives the exact values of the output type
    out_t = driver.output_type
    raw_out = out_t.to_raw(np.linspace(out_t.min, out_t.max, 99)).astype(driver.out_dtype).reshape(-1, 3)
    assert np.array_equal(driver.unpack(pack_words(raw_out, 3, driver.out_dtype)), out_t.from_raw(raw_out))


@pytest.mark.parametrize(("dtype", "n"), [(np.int8, 64), (np.int8, 65), (np.uint16, 33), (np.int32, 7), (np.int64, 9)])
def test_packing_layout(dtype, n: int) -> None:
    """Each sample's values in their containers, contiguous and little-endian, padded to whole 64-byte words:
    the bytes are the same whatever the host's byte order, and unpacking gives back the values."""
    dtype = np.dtype(dtype)
    info = np.iinfo(dtype)
    raw = np.random.default_rng(n).integers(info.min, info.max, size=(3, n), dtype=dtype, endpoint=True)
    packed = pack_words(raw, n, dtype)
    words = sample_words(n, dtype)
    assert words == -(-n * dtype.itemsize // 64) and packed.shape == (3, 64 * words) and packed.dtype == np.uint8
    for row, values in zip(packed, raw):
        expected = b"".join(int(v).to_bytes(dtype.itemsize, "little", signed=info.min < 0) for v in values)
        assert row.tobytes() == expected + bytes(64 * words - len(expected))
    assert np.array_equal(unpack_words(packed, n, dtype), raw) and unpack_words(packed, n, dtype).dtype == dtype


@pytest.mark.csim
def test_driver_backends_match_project(tmp_path) -> None:
    project = tiny_project(tmp_path, "ap_fixed<12,4,AP_RND,AP_SAT>")
    x = np.random.default_rng(2).normal(scale=4, size=(500, 6))
    drv = load_driver(tmp_path / "tiny")
    expected = project.predict(x, backend="reference")
    for backend in ("csim", "reference"):
        with drv.Driver(backend, tmp_path / "tiny") as d:
            assert np.array_equal(d.predict(x), expected), backend
    with drv.Driver("csim", tmp_path / "tiny", threads=2) as d:
        assert np.array_equal(d.predict(x), expected)
        assert d.predict(np.zeros((0, 6))).shape == (0, 3)
    meta = json.loads((tmp_path / "tiny" / "host" / "model.json").read_text())
    assert meta["kernel"] == "tiny_kernel" and meta["head"] is None and meta["inputs"][0]["shape"] == [6]


@pytest.mark.csim
# input types (containers of 8, 16, 32 bits) and sizes: a sample of 37 to 80 bytes spans two words, never whole
@pytest.mark.parametrize(
    ("input_type", "n_in"), [("ap_fixed<8,3>", 70), ("ap_fixed<12,4>", 37), ("ap_fixed<20,8>", 20)]
)
def test_csim_reads_the_packed_words(tmp_path, input_type: str, n_in: int) -> None:
    """The csim library gets the bytes `pack` makes, as the card would, and unpacks them in the kernel: its
    outputs equal the reference bit for bit when a sample is not a whole number of words."""
    project = tiny_project(tmp_path, input_type, n_in)
    with load_driver(tmp_path / "tiny").Driver("csim", tmp_path / "tiny", threads=2) as d:
        assert d.in_bytes == 128 and d.in_bytes > n_in * d.in_dtype.itemsize
        x = np.random.default_rng(n_in).normal(scale=4, size=(41, n_in))
        packed = d.pack(x)
        assert np.array_equal(d.unpack(d.run_raw(packed)), project.predict(x, backend="reference"))


def test_driver_rejects_bad_input(tmp_path) -> None:
    tiny_project(tmp_path, "ap_fixed<16,6>")
    d = load_driver(tmp_path / "tiny").Driver("reference", tmp_path / "tiny")
    with pytest.raises(ValueError, match="expected"):
        d.predict(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="NaN"):
        d.predict(np.full((1, 6), np.nan))
    with pytest.raises(ValueError, match="unknown backend"):
        load_driver(tmp_path / "tiny").Driver("gpu", tmp_path / "tiny")


# ---- split execution (Keras models) ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def tagger():
    pytest.importorskip("keras")
    from nn2fpga.datasets import jet_tagger

    return jet_tagger(epochs=2, n_train=4000)


@pytest.mark.keras
@pytest.mark.csim
def test_split_featurizer_exact_and_head_float(tagger, tmp_path) -> None:
    import nn2fpga
    from nn2fpga.datasets import jet_features

    x, _ = jet_features(2000, seed=5)
    full = nn2fpga.convert(tagger, output_dir=tmp_path / "full")
    split = nn2fpga.convert(tagger, config={"Split": "fc2"}, output_dir=tmp_path / "split")
    # the cut keeps fc2's own ReLU on the accelerator; the head is fc3 + output in float
    assert [layer.name for layer in split.graph.layers()] == ["features", "fc1", "fc2"]
    assert [layer["name"] for layer in split.head.layers] == ["fc3", "fc3_relu", "output", "output_softmax"]
    # featurizer: csim == reference bit for bit, through the project and through the generated driver
    feats = split.predict(x, backend="reference", head=False)
    assert np.array_equal(split.predict(x, head=False), feats)
    drv = load_driver(tmp_path / "split")
    with drv.Driver("csim", tmp_path / "split") as d:
        assert np.array_equal(d.accelerate(x), feats)
        y_driver = d.predict(x)
    # the featurizer equals the unsplit model's fc2 output (same passes, same types) bit for bit
    assert np.array_equal(full.trace(x)["fc2"], feats)
    # head: the split output is the float head on those features (float64 tolerance) ...
    y = split.predict(x, backend="reference")
    assert np.array_equal(y_driver, y)
    w = {layer.name: layer.get_weights() for layer in tagger.layers}
    h = np.maximum(feats @ w["fc3"][0] + w["fc3"][1], 0) @ w["output"][0] + w["output"][1]
    expected = np.exp(h - h.max(1, keepdims=True))
    np.testing.assert_allclose(y, expected / expected.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)
    # ... and agrees with the unsplit reference within its fixed-point error (16-bit head types)
    y_full = full.predict(x, backend="reference")
    assert np.abs(y - y_full).max() < 64 * 2.0**-10
    assert (y.argmax(1) == y_full.argmax(1)).mean() > 0.99
    # the project reloads with its head; the Triton config names the model's real output
    again = Project.load(tmp_path / "split")
    assert np.array_equal(again.predict(x[:50], backend="reference"), y[:50])
    assert 'name: "output_softmax"' in (tmp_path / "split" / "triton" / "jet_tagger" / "config.pbtxt").read_text()
    assert "Split: fc2" in (tmp_path / "split" / "nn2fpga.yml").read_text()


@pytest.mark.keras
@pytest.mark.parametrize(
    ("split", "message"),
    [("fc9", "no layer named 'fc9'.*did you mean"), ("output", "nothing would be left"), ("output_softmax", "output")],
)
def test_split_errors(tagger, split: str, message: str) -> None:
    import nn2fpga

    with pytest.raises(ConfigError, match=message):
        nn2fpga.convert(tagger, config={"Split": split})


@pytest.mark.keras
def test_split_cli_and_head_layer_settings(tagger, tmp_path, capsys) -> None:
    from nn2fpga.cli import main

    tagger.save(tmp_path / "m.keras")
    (tmp_path / "c.yml").write_text("LayerName:\n  output:\n    ReuseFactor: 2\n")
    rc = main(["convert", str(tmp_path / "m.keras"), "-o", str(tmp_path / "prj"), "-c", str(tmp_path / "c.yml"),
               "--split", "fc3"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "prj" / "host" / "head.npz").is_file()
    assert Config.from_yaml(tmp_path / "prj" / "nn2fpga.yml").split == "fc3"
    rc = main(["convert", str(tmp_path / "m.keras"), "-o", str(tmp_path / "bad"), "--split", "nope"])
    assert rc == 2 and "Split: no layer named 'nope'" in capsys.readouterr().err


def test_serving_config_section() -> None:
    cfg = Config({"Serving": {"MaxBatchSize": 8, "PreferredBatchSizes": [4, 8], "Instances": 2}})
    assert cfg.serving["MaxBatchSize"] == 8 and cfg.serving["Backend"] == "csim"
    assert cfg.serving["MaxQueueDelayMicroseconds"] == 100
    for bad, message in [
        ({"MaxBatch": 3}, "Serving.MaxBatch: unknown key.*MaxBatchSize"),
        ({"PreferredBatchSizes": [128]}, r"PreferredBatchSizes\[0\]: 128 exceeds MaxBatchSize 64"),
        ({"Backend": "gpu"}, "Serving.Backend: expected one of csim, reference, xrt"),
        ({"Instances": 0}, "Serving.Instances: expected an integer >= 1"),
    ]:
        with pytest.raises(ConfigError, match=message):
            Config({"Serving": bad})
