"""Post-training precision from data: type choice, accuracy, precedence, accumulator warnings, bad input."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from nn2fpga.cli import main  # noqa: E402
from nn2fpga.config import Config  # noqa: E402
from nn2fpga.ir.errors import ConfigError, UserError  # noqa: E402
from nn2fpga.ir.types import FixedType  # noqa: E402
from nn2fpga.passes.calibrate import fit_type  # noqa: E402
from nn2fpga.profile import roc_auc_ovr  # noqa: E402

# ---- no Keras needed ------------------------------------------------------------------------------------


# total bits
@pytest.mark.parametrize("bits", [8, 12, 16])
# signedness
@pytest.mark.parametrize("signed", [True, False])
def test_fit_type_is_the_narrowest_that_covers(bits: int, signed: bool) -> None:
    rng = np.random.default_rng(bits)
    for scale in 2.0 ** rng.uniform(-12, 12, 200):
        lo, hi = (-scale * rng.uniform(0, 1), scale) if signed else (0.0, scale)
        t = fit_type(lo, hi, bits, signed)
        assert t.width == bits and t.signed == signed
        assert t.min <= t.quantize(np.array([lo]))[0] and t.quantize(np.array([hi]))[0] <= t.max
        assert t.quantize(np.array([hi]))[0] >= hi - t.lsb  # AP_SAT never clips an observed value
        narrower = FixedType(bits, t.integer - 1, signed)
        fits = narrower.min <= np.floor(lo / narrower.lsb + 0.5) * narrower.lsb and (
            np.floor(hi / narrower.lsb + 0.5) * narrower.lsb <= narrower.max
        )
        assert not fits, (lo, hi, t)
        assert fit_type(lo, hi, bits, signed, margin=2).integer == t.integer + 2


def test_roc_auc_matches_pairwise_definition() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    scores = np.round(rng.normal(size=(300, 3)) + np.eye(3)[y], 1)  # rounding makes ties
    expected = []
    for c in range(3):
        pos, neg = scores[y == c, c], scores[y != c, c]
        expected.append(
            ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / pos.size / neg.size
        )
    assert roc_auc_ovr(y, scores) == pytest.approx(np.mean(expected), abs=1e-12)
    assert roc_auc_ovr(np.zeros(5, int), np.ones((5, 2))) is None  # no negatives for class 0, no positives for 1


# the offending value
@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"bits": 12}, "Calibration.data: missing"),
        ({"data": "x.npy", "bits": 9}, "Calibration.bits: expected one of 8, 10, 12"),
        ({"data": "x.npy", "margin": -1}, "Calibration.margin: expected an integer >= 0"),
        ({"data": "x.npy", "bitz": 8}, "Calibration.bitz: unknown key (did you mean 'bits'?)"),
        ("x.npy", "Calibration: expected a mapping"),
    ],
)
def test_calibration_section_errors(section, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        Config({"Calibration": section})


# ---- the jet tagger -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tagger():
    pytest.importorskip("keras")
    from nn2fpga.datasets import jet_tagger

    return jet_tagger()


@pytest.fixture(scope="module")
def jet_data(tmp_path_factory):
    from nn2fpga.datasets import jet_features

    d = tmp_path_factory.mktemp("jet_data")
    x, y = jet_features(2000, seed=11)
    np.save(d / "x.npy", x)
    np.save(d / "y.npy", y)
    return d


@pytest.fixture(scope="module")
def calibrated(tagger, jet_data, tmp_path_factory):
    import nn2fpga

    config = {"Calibration": {"data": str(jet_data / "x.npy"), "labels": str(jet_data / "y.npy"), "bits": 8}}
    return nn2fpga.convert(tagger, config=config, output_dir=tmp_path_factory.mktemp("cal") / "prj")


@pytest.mark.keras
def test_jet_tagger_8_bits_keeps_top1(calibrated, tagger) -> None:
    from nn2fpga.datasets import jet_features

    x, _ = jet_features(10000, seed=12)  # not the calibration data
    keras_top1 = tagger.predict(x, verbose=0).argmax(1)
    ours = calibrated.predict(x, backend="reference").argmax(1)
    assert (ours == keras_top1).mean() >= 0.98
    report = calibrated.calibration
    assert report.top1_agreement >= 0.98 and report.auc_fixed > 0.9 and abs(report.auc_fixed - report.auc_float) < 0.01
    widths = {t.width for layer in calibrated.graph.layers() for r, t in layer.types.items() if r != "accum"}
    assert widths <= {8, 18}  # calibrated types are 8 bits; only the softmax tables keep their defaults


@pytest.mark.keras
def test_chosen_types_cover_the_observed_range(calibrated, jet_data) -> None:
    report = calibrated.calibration
    assert report.saturating() == [] and report.warnings == []
    for t in report.tensors:
        if t.role != "accum" and t.type:
            ft = FixedType.parse(t.type)
            assert ft.min <= t.lo and t.hi <= ft.max, t
    # the fixed-point values on the calibration data never reach a type's limits either
    trace = calibrated.trace(np.load(jet_data / "x.npy"))
    for layer in calibrated.graph.layers():
        t = layer.types["result"]
        if layer.kind != "Activation" or layer.fn != "softmax":
            assert ((trace[layer.name] < t.max) & (trace[layer.name] > t.min) | (trace[layer.name] == 0)).all()


@pytest.mark.keras
def test_project_keeps_types_and_report(calibrated, tagger) -> None:
    import json

    import nn2fpga

    path = calibrated.path
    saved = json.loads((path / "calibration.json").read_text())
    assert saved["top1_agreement"] == calibrated.calibration.top1_agreement
    assert "fc1" in (path / "calibration.md").read_text()
    text = (path / "nn2fpga.yml").read_text()
    assert "# Calibration:" in text and "ap_ufixed<8," in text
    # the written config alone (no data) reproduces every type
    again = nn2fpga.convert(tagger, config=str(path / "nn2fpga.yml"))
    for layer in calibrated.graph.layers():
        assert again.graph[layer.name].types == layer.types, layer.name
    assert calibrated.config.resolve(calibrated.graph["fc2"]).source["Precision.weight"] == (
        "Calibration[fc2].Precision.weight"
    )


@pytest.mark.keras
@pytest.mark.csim
def test_calibrated_jet_tagger_csim_is_bit_exact(calibrated) -> None:
    from nn2fpga.datasets import jet_features
    from nn2fpga.testing import assert_csim_matches_reference

    assert_csim_matches_reference(calibrated, jet_features(3000, seed=13)[0] * 1.5)  # beyond the range: saturation


@pytest.mark.keras
def test_explicit_settings_win_over_calibration(tagger, jet_data) -> None:
    import nn2fpga

    config = {
        "Model": {"Precision": "ap_fixed<16,6>"},  # calibration replaces the model-wide default
        "LayerType": {"Dense": {"Precision": {"bias": "ap_fixed<20,4>"}}},
        "LayerName": {"fc1": {"Precision": {"weight": "ap_fixed<6,1>"}}, "fc2_relu": {"Precision": "ap_fixed<18,8>"}},
        "Calibration": {"data": str(jet_data / "x.npy"), "bits": 10},
    }
    given = Config(config)
    project = nn2fpga.convert(tagger, config=given)
    g = project.graph
    assert str(g["fc1"].types["weight"]) == "ap_fixed<6,1>"
    assert str(g["fc2"].types["result"]) == "ap_fixed<18,8>"  # configured under the fused ReLU's name
    assert all(str(g[n].types["bias"]) == "ap_fixed<20,4>" for n in ("fc1", "fc2", "fc3", "output"))
    assert g["fc3"].types["weight"].width == 10 and g["fc3"].types["result"].width == 10
    assert given.to_dict() == Config(config).to_dict()  # the caller's config is left as given
    assert g["fc3"].calibrated["weight"].width == 10  # the choices live on the graph


@pytest.mark.keras
def test_narrow_accumulator_that_overflows_is_reported(tagger, jet_data) -> None:
    import nn2fpga

    def accum(t: str):
        config = {"LayerName": {"fc1": {"Precision": {"accum": t}}}, "Calibration": {"data": str(jet_data / "x.npy")}}
        return nn2fpga.convert(tagger, config=config).calibration

    exact = accum("exact")
    (profile,) = [t for t in exact.tensors if t.layer == "fc1" and t.role == "accum"]
    assert profile.out_of_range == 0 and exact.warnings == []
    bits = int(np.ceil(np.log2(max(-profile.lo, profile.hi)))) + 1  # integer bits the data needs
    fits = accum(f"ap_fixed<{bits + 12},{bits}>")
    assert fits.warnings == []
    overflows = accum(f"ap_fixed<{bits + 10},{bits - 2}>")
    assert any("'fc1': accumulator" in w and "overflows" in w for w in overflows.warnings)


# ---- bad calibration data -------------------------------------------------------------------------------


def _bad_inputs(d):
    np.save(d / "shape.npy", np.zeros((10, 15), np.float32))
    np.save(d / "rank.npy", np.zeros(16, np.float32))
    np.save(d / "dtype.npy", np.array([["a"] * 16] * 4))
    np.save(d / "empty.npy", np.zeros((0, 16), np.float32))
    nan, inf = np.zeros((10, 16)), np.zeros((10, 16))
    nan[3, 2], inf[7, 0] = np.nan, -np.inf
    np.save(d / "nan.npy", nan)
    np.save(d / "inf.npy", inf)
    (d / "text.npy").write_text("not numpy")
    return {
        "shape.npy": r"shape \(10, 15\) does not fit the model; expected \(N, 16\)",
        "rank.npy": r"shape \(16,\) does not fit the model; expected \(N, 16\)",
        "dtype.npy": r"dtype <U1 is not numeric; expected float or integer",
        "empty.npy": r"no samples \(shape \(0, 16\)\)",
        "nan.npy": r"1 NaN or Inf values \(first in sample 3\)",
        "inf.npy": r"1 NaN or Inf values \(first in sample 7\)",
        "text.npy": r"not a readable \.npy array",
        "missing.npy": r"calibration data file not found",
    }


@pytest.mark.keras
def test_bad_calibration_data(tagger, tmp_path, capsys) -> None:
    import nn2fpga

    model = tmp_path / "jet.keras"
    tagger.save(model)
    for name, message in _bad_inputs(tmp_path).items():
        with pytest.raises(UserError, match=message) as info:
            nn2fpga.convert(tagger, config={"Calibration": {"data": str(tmp_path / name), "bits": 8}})
        assert name in str(info.value)
        rc = main(["convert", str(model), "-o", str(tmp_path / "prj"), "--calibrate", str(tmp_path / name)])
        err = capsys.readouterr().err
        assert rc == 2 and name in err and "Traceback" not in err, err
        assert not (tmp_path / "prj").exists()
    labels = tmp_path / "labels.npy"
    np.save(labels, np.zeros(7, np.int64))
    np.save(tmp_path / "x.npy", np.zeros((10, 16), np.float32))
    with pytest.raises(UserError, match=r"labels.npy: 7 labels for 10 calibration samples"):
        nn2fpga.convert(tagger, config={"Calibration": {"data": str(tmp_path / "x.npy"), "labels": str(labels)}})
    rc = main(["convert", str(model), "-o", str(tmp_path / "prj"), "--bits", "8"])
    assert rc == 2 and "--calibrate" in capsys.readouterr().err


@pytest.mark.keras
def test_cli_convert_calibrate(tagger, jet_data, tmp_path, capsys) -> None:
    model = tmp_path / "jet.keras"
    tagger.save(model)
    args = ["convert", model, "-o", tmp_path / "prj", "--calibrate", jet_data / "x.npy", "--bits", "10"]
    rc = main([str(a) for a in [*args, "--labels", jet_data / "y.npy"]])
    out = capsys.readouterr().out
    assert rc == 0 and "top-1 agreement" in out and "ROC AUC" in out
    assert "ap_fixed<10," in (tmp_path / "prj" / "nn2fpga.yml").read_text()


# ---- CNNs -----------------------------------------------------------------------------------------------


@pytest.mark.keras
@pytest.mark.csim
def test_calibrated_cnn_csim_is_bit_exact() -> None:
    keras = pytest.importorskip("keras")
    import nn2fpga
    from nn2fpga.testing import assert_csim_matches_reference

    L = keras.layers
    keras.utils.set_random_seed(3)
    i = keras.Input((8, 8, 3))
    a = L.Conv2D(4, 3, padding="same", activation="relu")(i)
    b = L.BatchNormalization()(L.Conv2D(4, 3, padding="same")(a))
    s = L.Activation("relu")(L.Add()([a, b]))
    c = L.Concatenate()([s, L.DepthwiseConv2D(3, padding="same")(a)])
    x = L.GlobalAveragePooling2D()(L.MaxPooling2D(2)(c))
    model = keras.Model(i, L.Dense(3, activation="softmax")(x))
    x = np.random.default_rng(0).normal(size=(64, 8, 8, 3))
    project = nn2fpga.convert(model, config={"Calibration": {"data": x, "bits": 10}})
    assert project.calibration.saturating() == [] and project.calibration.top1_agreement >= 0.95
    kinds = {str(t) for layer in project.graph.layers() for t in layer.types.values()}
    assert any(t.startswith("ap_ufixed<10,") for t in kinds)  # post-ReLU tensors are unsigned
    assert_csim_matches_reference(project, np.random.default_rng(1).normal(size=(20, 8, 8, 3)) * 2)


@pytest.fixture(scope="module")
def resnet():
    keras = pytest.importorskip("keras")
    from nn2fpga.datasets import calibrate_batchnorm

    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=2)
    return calibrate_batchnorm(model, np.random.default_rng(1).normal(size=(8, 64, 64, 3)))


def _featurizer_cosine(resnet, calibration: dict) -> tuple[np.ndarray, object]:
    import keras

    import nn2fpga

    data = np.random.default_rng(4).normal(size=(16, 64, 64, 3))
    project = nn2fpga.convert(resnet, config={"Calibration": {"data": data, **calibration}})
    x = np.random.default_rng(3).normal(size=(6, 64, 64, 3))
    ours = project.trace(x)["avg_pool"].reshape(len(x), -1)
    theirs = keras.Model(resnet.inputs, resnet.get_layer("avg_pool").output).predict(x, verbose=0).reshape(len(x), -1)
    return (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1), project


@pytest.mark.keras
def test_resnet50_calibrated_featurizer(resnet) -> None:
    # 12-bit weights and biases, 14-bit activations (measured: cosine 0.992 min over 6 inputs)
    cosine, project = _featurizer_cosine(resnet, {"bits": 14, "weight_bits": 12})
    assert cosine.min() >= 0.99, cosine
    assert project.calibration.saturating() == []
    assert {layer.types["weight"].width for layer in project.graph.layers() if "weight" in layer.types} == {12}


@pytest.mark.keras
def test_resnet50_12_bits(resnet) -> None:
    # Every calibrated type 12 bits; margin 0: the types cover exactly the calibration range (AP_SAT clips
    # the rare larger value of other inputs). Measured: cosine 0.9905 min over 6 inputs (0.981 with margin
    # 1; 0.988 before the block's add + ReLU were fused into one cast).
    cosine, project = _featurizer_cosine(resnet, {"bits": 12, "margin": 0})
    assert cosine.min() >= 0.99, cosine
    assert project.calibration.saturating() == []
    tensors = ("result", "weight", "bias", "input")  # (accumulators stay exact; tables keep their own types)
    widths = {t.width for layer in project.graph.layers() for role, t in layer.types.items() if role in tensors}
    assert widths == {12}
    adds = [layer for layer in project.graph.layers() if layer.kind == "Add"]
    assert len(adds) == 16 and all(a.activation == "relu" and not a.types["result"].signed for a in adds)
