"""Random valid folds (PE, SIMD, lanes, weight storage per layer) change the hardware, never the bits: csim ==
reference for the small CNNs, the jet tagger and ResNet-50 at 64x64; the bounded-FIFO simulation runs them
deadlock-free; uram / offchip weights travel through weights/streamed.bin in the documented layout."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

from small_cnns import branches, depthwise, pools, strided, three_way_add  # noqa: E402

import nn2fpga  # noqa: E402
from nn2fpga.codegen.constants import raw_container, weight_words  # noqa: E402
from nn2fpga.config import Config  # noqa: E402
from nn2fpga.estimate.geometry import matrix  # noqa: E402
from nn2fpga.frontend import from_keras  # noqa: E402
from nn2fpga.ir.errors import ConfigError  # noqa: E402
from nn2fpga.lint import LintError  # noqa: E402
from nn2fpga.project import Project, compile_graph  # noqa: E402
from nn2fpga.testing import assert_csim_matches_reference, random_folds  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.csim]
L = keras.layers
BUILDERS = {"strided": strided, "depthwise": depthwise, "pools": pools, "branches": branches, "three": three_way_add}


def _folded(model, io_type: str, seed: int, out: Path, lint: bool = True, **extra) -> Project:
    base = {"IOType": io_type, "Model": {"Precision": "ap_fixed<18,8>"}, **extra}
    graph = compile_graph(from_keras(model), Config.from_yaml(base))[1]
    config = {**base, "LayerName": random_folds(graph, seed, io_type)}
    return nn2fpga.convert(model, config=config, output_dir=out, lint=lint)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_random_folds_of_the_small_cnns_are_bit_exact(name: str, tmp_path: Path) -> None:
    keras.utils.set_random_seed(3)
    i = keras.Input((12, 10, 3), name="x")
    model = keras.Model(i, BUILDERS[name](i))
    x = np.random.default_rng(0).normal(size=(6, 12, 10, 3))
    for seed in range(2):
        for io_type in ("io_stream", "io_parallel"):
            project = _folded(model, io_type, seed, tmp_path / f"{io_type}{seed}")
            assert_csim_matches_reference(project, x)
        stream = Project.load(tmp_path / f"io_stream{seed}")
        run = stream.simulate(x[:2])
        assert not run.deadlock and np.array_equal(run.outputs, stream.predict(x[:2]))
        assert all(s.high_water <= s.depth for s in run.streams)


def test_random_folds_of_the_jet_tagger_are_bit_exact(tmp_path: Path) -> None:
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            L.Input((16,)),
            L.Dense(64, activation="relu"),
            L.Dense(32, activation="relu"),
            L.Dense(5, activation="softmax"),
        ]
    )
    x = np.random.default_rng(0).normal(size=(32, 16))
    for seed, io_type in enumerate(("io_stream", "io_parallel", "io_stream")):
        extra = {} if io_type == "io_stream" else {"Model": {"Precision": "ap_fixed<18,8>", "Strategy": "Resource"}}
        project = _folded(model, io_type, seed, tmp_path / f"p{seed}", **extra)
        assert_csim_matches_reference(project, x)


def test_streamed_weights_layout_and_ports(tmp_path: Path) -> None:
    """uram and offchip layers read weights/streamed.bin: word (fold, step) holds w[st*SIMD+s][fo*PE+p] at value
    s*PE+p, in its raw container, each word padded to whole 64-byte lines; each layer is a kernel argument."""
    keras.utils.set_random_seed(2)
    i = keras.Input((12, 10, 3), name="x")
    model = keras.Model(i, strided(i))
    cfg = {"IOType": "io_stream", "LayerName": {"c1": {"PE": 3, "WeightStorage": "offchip"},
                                                "c2": {"SIMD": 3, "PE": 2, "WeightStorage": "uram"}}}  # fmt: skip
    project = nn2fpga.convert(model, config=cfg, output_dir=tmp_path / "p")
    c2 = project.graph["c2"]
    rows, cols, _ = matrix(c2)
    raw = c2.types["weight"].to_raw(c2.weight.reshape(rows, cols))
    container = np.dtype(raw_container(c2.types["weight"]).removesuffix("_t")).newbyteorder("<")
    words = weight_words(c2).view(container)  # 16-bit weights in 16-bit containers
    for fo, st, s, p in [(0, 0, 0, 0), (1, 5, 2, 1), (cols // 2 - 1, rows // 3 - 1, 1, 0)]:
        assert words[fo * (rows // 3) + st, s * 2 + p] == raw[st * 3 + s, fo * 2 + p]
    assert weight_words(c2).shape[1] % 64 == 0
    meta = json.loads((project.path / "host" / "model.json").read_text())["weights"]
    image = np.fromfile(project.path / meta["file"], dtype=np.uint8)
    assert [p["name"] for p in meta["ports"]] == ["c1_wmem", "c2_wmem"] and meta["reload"]
    assert image.size == 64 * sum(p["lines"] for p in meta["ports"])
    kernel = (project.path / "firmware" / "kernel.cpp").read_text()
    assert "port = c1_wmem offset = slave bundle = gmem2" in kernel and "port = reload" in kernel
    assert not (project.path / "firmware" / "weights" / "c1_w.h").exists()  # streamed: not compiled in
    x = np.random.default_rng(0).normal(size=(9, 12, 10, 3))
    assert_csim_matches_reference(project, x)  # threads: the first call loads the URAM bank, the others wait
    run = project.simulate(x[:3])
    assert not run.deadlock and np.array_equal(run.outputs, project.predict(x[:3]))


def test_streamed_storage_needs_io_stream() -> None:
    i = keras.Input((12, 10, 3), name="x")
    model = keras.Model(i, strided(i))
    with pytest.raises(ConfigError, match=r"WeightStorage uram of Conv2D 'c1' needs IOType io_stream"):
        nn2fpga.convert(model, config={"IOType": "io_parallel", "LayerName": {"c1": {"WeightStorage": "uram"}}})


def test_auto_storage_moves_what_does_not_fit_off_chip(tmp_path: Path) -> None:
    """On a PYNQ-Z2 (280 RAMB18 = 5 Mb, no URAM) a 3x3x256x256 convolution (9.4 Mb at 16 bits) cannot stay on
    chip: auto streams it from DDR; pinned to BRAM it is refused by the lint, naming the memory and the limit."""
    i = keras.Input((4, 4, 256), name="x")
    model = keras.Model(i, L.Conv2D(256, 3, padding="same", name="big")(i))
    cfg = {"Part": "xc7z020clg400-1", "IOType": "io_stream", "Model": {"Precision": "ap_fixed<16,6>"}}
    project = nn2fpga.convert(model, config=cfg, output_dir=tmp_path / "p")
    assert project.graph["big"].weight_storage == "offchip"
    pinned = {**cfg, "LayerName": {"big": {"WeightStorage": "bram"}}}
    with pytest.raises(LintError, match=r"bram18: \d+ \(limit 280\)"):
        nn2fpga.convert(model, config=pinned, output_dir=tmp_path / "q")
    assert not (tmp_path / "q").exists()


def test_random_folds_of_resnet50_are_bit_exact(tmp_path: Path) -> None:
    """ResNet-50 at 64x64 with a random valid fold, lanes and weight storage per layer (the test config of
    tests/project/test_resnet.py): csim == reference. Random storage may exceed the part's memories, so the
    lint is off: this checks the arithmetic of the folds, not their fit."""
    from nn2fpga.datasets import calibrate_batchnorm

    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=2)
    calibrate_batchnorm(model, np.random.default_rng(1).normal(size=(8, 64, 64, 3)))
    precision = {"result": "ap_fixed<22,7>", "weight": "ap_fixed<22,2>", "bias": "ap_fixed<22,7>"}
    project = _folded(model, "io_stream", 5, tmp_path / "prj", lint=False, Model={"Precision": precision})
    kinds = {project.graph[n].weight_storage for n in project.config.layer_name if project.graph[n].HAS_MULTIPLIERS}
    assert kinds == {"bram", "lutram", "uram", "offchip"}
    assert_csim_matches_reference(project, np.random.default_rng(2).normal(size=(2, 64, 64, 3)))


@pytest.mark.parametrize("io_type", ["io_stream", "io_parallel"])
def test_simd_spanning_kernel_taps_is_bit_exact(io_type: str, tmp_path: Path) -> None:
    """A first layer of 3 channels folded wider than its channels: SIMD = 3 x 3 (a whole kernel row per step,
    read from whole-pixel words) and 3 x 5, beside a 1-tap-per-step layer; csim == reference, the stream version
    deadlock-free with the counted cycles of the model."""
    keras.utils.set_random_seed(5)
    i = keras.Input((12, 10, 3), name="x")
    y = L.Conv2D(8, (3, 3), padding="same", activation="relu", name="c3")(i)
    z = L.Conv2D(4, (3, 5), strides=2, padding="same", name="c5")(i)
    model = keras.Model(i, L.Add(name="add")([L.Conv2D(4, 1, strides=2, name="p")(y), z]))
    layers = {"c3": {"PE": 4, "SIMD": 9}, "c5": {"PE": 2, "SIMD": 15}}
    config = {"IOType": io_type, "Model": {"Precision": "ap_fixed<18,8>"}, "LayerName": layers}
    project = nn2fpga.convert(model, config=config, output_dir=tmp_path / "p")
    assert (project.graph["c3"].simd, project.graph["c5"].simd) == (9, 15)
    x = np.random.default_rng(0).normal(size=(4, 12, 10, 3))
    assert_csim_matches_reference(project, x)
    if io_type == "io_stream":
        run = project.simulate(x[:2])
        assert not run.deadlock and np.array_equal(run.outputs, project.predict(x[:2]))
        counted, rows = run.trips(), {r.name: r for r in project.estimate().layers}
        for name in ("c3", "c5"):
            assert rows[name].cycles_per_image == max(n for p, n in counted.items() if p.endswith(name))


def test_simd_must_divide_the_channels_or_span_whole_taps() -> None:
    i = keras.Input((12, 10, 3), name="x")
    model = keras.Model(i, L.Conv2D(4, (3, 3), name="c")(i))
    with pytest.raises(ConfigError, match=r"SIMD 6 does not divide the 3 input channels .*valid: 1, 3, 9$"):
        nn2fpga.convert(model, config={"IOType": "io_stream", "LayerName": {"c": {"SIMD": 6}}})


@pytest.mark.parametrize("io_type", ["io_stream", "io_parallel"])
def test_lut_multipliers_change_the_pragma_not_the_bits(io_type: str, tmp_path: Path) -> None:
    keras.utils.set_random_seed(6)
    i = keras.Input((12, 10, 3), name="x")
    model = keras.Model(i, strided(i))
    base = {"IOType": io_type, "Model": {"Precision": "ap_fixed<18,8>", "Multipliers": "lut"}}
    project = nn2fpga.convert(model, config=base, output_dir=tmp_path / "lut")
    plain = nn2fpga.convert(model, config={**base, "Model": {"Precision": "ap_fixed<18,8>"}})
    linear = [lay for lay in project.graph.layers() if lay.HAS_MULTIPLIERS]
    assert linear and all(lay.multipliers == "lut" for lay in linear)
    assert "fabric = true" in (tmp_path / "lut" / "firmware" / "parameters.h").read_text()
    x = np.random.default_rng(0).normal(size=(4, 12, 10, 3))
    assert_csim_matches_reference(project, x)
    assert np.array_equal(project.predict(x, backend="reference"), plain.predict(x, backend="reference"))
    # the estimate moves the products from DSPs to LUTs
    assert project.estimate().total.as_dict()["dsp"] < plain.estimate().total.as_dict()["dsp"]
    assert project.estimate().total.as_dict()["lut"] > plain.estimate().total.as_dict()["lut"]
    assert "Multipliers: lut" in (tmp_path / "lut" / "nn2fpga.yml").read_text()


def test_lut_multipliers_are_refused_for_the_latency_dense() -> None:
    model = keras.Sequential([L.Input((16,)), L.Dense(8, name="d")])
    with pytest.raises(ConfigError, match=r"^LayerName\.d\.Multipliers: Multipliers lut applies to folded layers"):
        nn2fpga.convert(model, config={"LayerName": {"d": {"Multipliers": "lut"}}})


def _packable():
    keras.utils.set_random_seed(7)
    i = keras.Input((10, 8, 3), name="x")
    a = L.Conv2D(6, 3, padding="same", activation="relu", name="taps")(i)  # SIMD 9 > 3 channels: taps per step
    b = L.Conv2D(5, 3, strides=2, name="chans")(a)  # odd PE: one product of its own
    d = L.DepthwiseConv2D(3, padding="same", name="dw")(b)
    y = L.Dense(4, name="fc")(L.Flatten(name="flat")(d))
    return keras.Model(i, y)


def test_packed_multipliers_halve_the_dsps_not_the_bits(tmp_path: Path) -> None:
    """Multipliers: packed on 8-bit operands: two PE lanes of one input share a DSP48E2 (`n2f::multiply_packed`);
    csim == reference == the unpacked project's reference, the bounded run is deadlock-free, and the estimate
    takes floor(PE / 2) x SIMD DSPs fewer per layer."""
    packed = {"Multipliers": "packed"}
    layers = {"taps": {"PE": 6, "SIMD": 9, **packed}, "chans": {"PE": 5, "SIMD": 3, **packed},
              "fc": {"PE": 2, "SIMD": 4, **packed}}  # fmt: skip
    precision = {"result": "ap_fixed<8,4>", "weight": "ap_fixed<8,1>", "bias": "ap_fixed<16,6>"}
    base = {"IOType": "io_stream", "Part": "xcu250-figd2104-2L-e", "Model": {"Precision": precision}}
    model = _packable()
    project = nn2fpga.convert(model, config={**base, "LayerName": layers}, output_dir=tmp_path / "p")
    plain = nn2fpga.convert(model, config={**base, "LayerName": {k: {"PE": v["PE"], "SIMD": v["SIMD"]}
                                                                 for k, v in layers.items()}})  # fmt: skip
    assert {n: project.graph[n].multipliers for n in layers} == dict.fromkeys(layers, "packed")
    assert "packed = true" in (tmp_path / "p" / "firmware" / "parameters.h").read_text()
    x = np.random.default_rng(0).normal(size=(4, 10, 8, 3))
    assert_csim_matches_reference(project, x)
    assert np.array_equal(project.predict(x, backend="reference"), plain.predict(x, backend="reference"))
    run = project.simulate(x[:2])
    assert not run.deadlock and np.array_equal(run.outputs, project.predict(x[:2]))
    ours, theirs = ({r.name: r.cost.dsp for r in p.estimate().layers} for p in (project, plain))
    for name, fold in layers.items():
        assert theirs[name] - ours[name] == fold["PE"] // 2 * fold["SIMD"], name


@pytest.mark.parametrize(
    ("layers", "io_type", "message"),
    [
        ({"dw": {"Multipliers": "packed"}}, "io_stream", "needs PE lanes that share an input"),
        ({"chans": {"Multipliers": "packed"}}, "io_parallel", "applies to io_stream projects"),
        (
            {"chans": {"Multipliers": "packed", "Precision": {"weight": "ap_fixed<10,1>"}}},
            "io_stream",
            r"needs weights of at most 8 signed bits \(has 10\)",
        ),
        (
            {"taps": {"Multipliers": "packed", "Precision": {"weight": "ap_fixed<8,1>"}}},
            "io_stream",
            r"needs products of at most 18 bits \(input 12 \+ weight 8 signed bits\)",
        ),
    ],
)
def test_packed_multipliers_are_refused_where_they_would_not_be_exact(layers, io_type, message) -> None:
    base = {"IOType": io_type, "Part": "xcu250-figd2104-2L-e", "Model": {"Precision": "ap_fixed<12,4>"}}
    name = next(iter(layers))
    with pytest.raises(ConfigError, match=rf"^LayerName\.{name}\.Multipliers: Multipliers packed {message}"):
        nn2fpga.convert(_packable(), config={**base, "LayerName": layers})


def test_packed_multipliers_need_a_dsp48e2_part() -> None:
    base = {"IOType": "io_stream", "Part": "xc7z020clg400-1", "Model": {"Precision": "ap_fixed<8,3>"}}
    with pytest.raises(ConfigError, match=r"Multipliers packed needs a part with DSP48E2 slices"):
        nn2fpga.convert(_packable(), config={**base, "LayerName": {"fc": {"Multipliers": "packed"}}})
