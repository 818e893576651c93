"""QKeras models: csim == reference == QKeras predict, bit for bit; refused quantizers name layer and quantizer.

QKeras needs TF_USE_LEGACY_KERAS=1 before TensorFlow is imported, while other test modules import
TensorFlow with Keras 3 in the same pytest process. So one worker process (this file run as a script)
builds every QKeras model, saves it as .h5, records QKeras's predictions and converts it with
`nn2fpga.convert` (which arranges TF_USE_LEGACY_KERAS itself: the worker's environment lacks it).
The tests then load the written projects here, without TensorFlow, and compare exactly.
Weights are random (no training): the quantizers make them exact all the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

N_MLP = 10_000  # inputs per model for the full models (acceptance: 10,000)
N_SMALL = 2_000

# ---- models (built in the worker; `K` is tf_keras, `Q` is qkeras) -------------------------------------


def _input_quantized(K: Any, Q: Any, shape: tuple[int, ...], q: str = "quantized_bits(12,4,alpha=1)") -> tuple:
    x = K.Input(shape, name="x")
    return x, Q.QActivation(q, name="qin")(x)


def _jet(K: Any, Q: Any, bits: int, out_q: str | None) -> Any:
    """The LHC jet tagger 16 -> 64 -> 32 -> 32 -> 5 with `bits`-bit weights and relu activations."""
    w = f"quantized_bits({bits},0,alpha=1)"
    x, h = _input_quantized(K, Q, (16,))
    for i, units in enumerate((64, 32, 32), start=1):
        h = Q.QDense(units, kernel_quantizer=w, bias_quantizer=w, name=f"fc{i}")(h)
        h = Q.QActivation(f"quantized_relu({bits})", name=f"relu{i}")(h)
    h = Q.QDense(5, kernel_quantizer=w, bias_quantizer=w, name="out")(h)
    if out_q is not None:
        h = Q.QActivation(out_q, name="out_q")(h)
    return K.Model(x, h, name=f"jet_q{bits}")


def _cnn(K: Any, Q: Any) -> Any:
    w = "quantized_bits(6,0,alpha=1)"
    x, h = _input_quantized(K, Q, (10, 10, 3), "quantized_bits(8,2,alpha=1)")
    h = Q.QConv2D(8, 3, padding="same", kernel_quantizer=w, bias_quantizer=w, activation="quantized_relu(6,2)",
                  name="c1")(h)  # fmt: skip
    h = K.layers.MaxPooling2D(2, name="p1")(h)
    h = Q.QDepthwiseConv2D(3, depthwise_quantizer=w, bias_quantizer=w, name="dw")(h)
    h = Q.QActivation("quantized_relu(6,2)", name="r2")(h)
    h = Q.QConv2D(4, 1, kernel_quantizer="quantized_bits(4,0,alpha='auto_po2')", bias_quantizer=w, name="c3")(h)
    h = Q.QActivation("quantized_bits(8,3,alpha=1)", name="q3")(h)
    h = K.layers.Flatten(name="flat")(h)
    h = Q.QDense(5, kernel_quantizer=w, bias_quantizer=w, name="out")(h)
    return K.Model(x, h, name="qcnn")


def _act(q: str) -> Callable[[Any, Any], Any]:
    """Quantized input, a QDense with float-free arithmetic, then the activation quantizer under test."""

    def build(K: Any, Q: Any) -> Any:
        x, h = _input_quantized(K, Q, (8,), "quantized_bits(10,3,alpha=1)")
        h = Q.QDense(6, kernel_quantizer="quantized_bits(8,1,alpha=1)", bias_quantizer="quantized_bits(8,2,alpha=1)",
                     name="fc")(h)  # fmt: skip
        return K.Model(x, Q.QActivation(q, name="act")(h), name="act")

    return build


def _weights(kq: str, bq: str | None = "quantized_bits(8,2,alpha=1)", act: str | None = None) -> Callable:
    def build(K: Any, Q: Any) -> Any:
        x, h = _input_quantized(K, Q, (12,), "quantized_bits(10,3,alpha=1)")
        h = Q.QDense(7, kernel_quantizer=kq, bias_quantizer=bq, activation=act, name="fc")(h)
        return K.Model(x, h, name="weights")

    return build


def _bn_weights(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """gamma, beta, moving mean and variance far from the initial 1, 0, 0, 1."""
    return [rng.uniform(0.5, 2, n), rng.normal(0, 0.5, n), rng.normal(0, 0.5, n), rng.uniform(0.5, 2, n)]


def _batchnorm(K: Any, Q: Any) -> Any:
    """QBatchNormalization is float in QKeras as well: compared within the bound derived from the types."""
    x, h = _input_quantized(K, Q, (12,), "quantized_bits(10,3,alpha=1)")
    h = Q.QDense(8, kernel_quantizer="quantized_bits(6,0,alpha=1)", bias_quantizer="quantized_bits(6,0,alpha=1)",
                 name="fc")(h)  # fmt: skip
    bn = Q.QBatchNormalization(gamma_quantizer="quantized_bits(6,2,alpha=1)", name="bn")
    model = K.Model(x, Q.QActivation("quantized_relu(8,3)", name="act")(bn(h)), name="qbn")
    bn.set_weights(_bn_weights(np.random.default_rng(1), 8))
    return model


def _folded(kind: str, **options: Any) -> Callable[[Any, Any], Any]:
    """A Q*Batchnorm layer (BatchNorm folded into the quantized kernel and bias) on a quantized input."""

    def build(K: Any, Q: Any) -> Any:
        kwargs = {"bias_quantizer": "quantized_bits(8,3,alpha=1)", "name": "fc"}
        w = "quantized_bits(6,0,alpha=1)"
        x, h = _input_quantized(K, Q, (6, 6, 3), "quantized_bits(8,2,alpha=1)")
        if kind == "conv":
            layer = Q.QConv2DBatchnorm(4, 3, **({"kernel_quantizer": w} | kwargs | options))
        else:
            layer = Q.QDepthwiseConv2DBatchnorm(3, **({"depthwise_quantizer": w} | kwargs | options))
        model = K.Model(x, layer(h), name=f"{kind}_bn")
        bn = layer.batchnorm
        bn.set_weights(_bn_weights(np.random.default_rng(2), int(bn.gamma.shape[0])))
        return model

    return build


APPROX = {"batchnorm": (_batchnorm, (12,), N_SMALL)}
MODELS: dict[str, tuple[Callable[[Any, Any], Any], tuple[int, ...], int]] = {  # name: (build, input shape, N)
    "jet6": (lambda K, Q: _jet(K, Q, 6, None), (16,), N_MLP),  # linear output: the exact sum, as QKeras's float32
    "jet8": (lambda K, Q: _jet(K, Q, 8, "quantized_bits(16,6,alpha=1)"), (16,), N_MLP),
    "cnn": (_cnn, (10, 10, 3), N_MLP),
    # activation quantizers
    "bits_6_0": (_act("quantized_bits(6,0,alpha=1)"), (8,), N_SMALL),
    "bits_8_3_symmetric": (_act("quantized_bits(8,3,symmetric=1,alpha=1)"), (8,), N_SMALL),
    "bits_unsigned": (_act("quantized_bits(6,1,keep_negative=False,alpha=1)"), (8,), N_SMALL),
    "bits_alpha_none": (_act("quantized_bits(5,2)"), (8,), N_SMALL),
    "relu_6": (_act("quantized_relu(6)"), (8,), N_SMALL),
    "relu_4_2": (_act("quantized_relu(4,2)"), (8,), N_SMALL),
    "tanh_6": (_act("quantized_tanh(6)"), (8,), N_SMALL),
    "tanh_5_symmetric": (_act("quantized_tanh(5,symmetric=True)"), (8,), N_SMALL),
    "sigmoid_6": (_act("quantized_sigmoid(6)"), (8,), N_SMALL),
    "relu_slope_quarter": (_act("quantized_relu(6,2,negative_slope=0.25)"), (8,), N_SMALL),
    "relu_slope_below_lsb": (_act("quantized_relu(4,0,negative_slope=0.015625)"), (8,), N_SMALL),  # -s*2^i < lsb
    "relu_slope_1": (_act("quantized_relu(5,1,negative_slope=1.0)"), (8,), N_SMALL),
    # weight quantizers
    "w_bits_4_2_symmetric": (_weights("quantized_bits(4,2,symmetric=1,alpha=1)"), (12,), N_SMALL),
    "w_auto_po2": (_weights("quantized_bits(4,0,alpha='auto_po2')"), (12,), N_SMALL),
    "w_binary": (_weights("binary(alpha=1)", None), (12,), N_SMALL),
    "w_binary_01": (_weights("binary(use_01=True, alpha=1)", None), (12,), N_SMALL),
    "w_ternary": (_weights("ternary(alpha=1, threshold=0.3)"), (12,), N_SMALL),
    "w_po2": (_weights("quantized_po2(4,1)", "quantized_po2(4)"), (12,), N_SMALL),
    "w_relu_output": (_weights("quantized_bits(6,0,alpha=1)", act="quantized_relu(8,3)"), (12,), N_SMALL),
    "w_bits_output": (_weights("quantized_bits(6,0,alpha=1)", act="quantized_bits(8,3,alpha=1)"), (12,), N_SMALL),
    "w_leaky_output": (
        _weights("quantized_bits(6,0,alpha=1)", act="quantized_relu(8,1,negative_slope=0.5)"),
        (12,),
        N_SMALL,
    ),
    # batch normalization folded by QKeras (Q*Batchnorm layers)
    "conv_bn": (_folded("conv", activation="quantized_relu(6,2)"), (6, 6, 3), N_SMALL),
    "conv_bn_batch_stats": (
        _folded("conv", folding_mode="batch_stats_folding", ema_freeze_delay=10),
        (6, 6, 3),
        N_SMALL,
    ),
    "dw_bn": (_folded("depthwise", activation="quantized_bits(8,2,alpha=1)"), (6, 6, 3), N_SMALL),
}
REFUSED: dict[str, tuple[Callable[[Any, Any], Any], str]] = {  # name: (build, expected message fragment)
    "act_alpha_auto": (_act("quantized_bits(6,0,alpha='auto')"), r"'act' \(QActivation\): quantizer quantized_bits"),
    "act_negative_slope_2": (_act("quantized_relu(6,0,negative_slope=2.0)"), r"'act'.*negative_slope=2 > 1"),
    "act_negative_slope_1_bit": (_act("quantized_relu(1,0,negative_slope=0.5)"), r"'act'.*1 bit and a negative_sl"),
    "act_real_tanh": (_act("quantized_tanh(6,use_real_tanh=True)"), "smooth"),
    "act_sigmoid_symmetric": (_act("quantized_sigmoid(6,symmetric=True)"), "symmetric"),
    "act_po2": (_act("quantized_po2(4)"), r"quantized_po2.*not supported as an activation"),
    "act_stochastic": (_act("quantized_bits(6,0,alpha=1,use_stochastic_rounding=True)"), "stochastic"),
    "w_alpha_auto": (_weights("quantized_bits(4,0,alpha='auto')"), r"'fc' \(QDense\).*more than its 4 bits"),
    "w_binary_float_alpha": (_weights("binary(alpha=0.3)", None), r"binary\(alpha=0.3\).*more than its 1 bits"),
    "dw_bn_multiplier": (_folded("depthwise", depth_multiplier=2), r"'fc' \(QDepthwiseConv2DBatchnorm\): depth_mult"),
    "conv_bn_alpha_auto": (
        _folded("conv", kernel_quantizer="quantized_bits(6,0,alpha='auto')"),
        r"'fc' \(QConv2DBatchnorm\): quantizer quantized_bits.*more than its 6 bits",
    ),
}
CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {  # name: (model, config) converted in the worker
    "conflict": ("bits_6_0", {"LayerName": {"fc": {"Precision": {"weight": "ap_fixed<10,3>"}}}}),
    "model_level": ("bits_6_0", {"Model": {"Precision": "ap_fixed<10,3>"}}),
}


def _inputs(name: str, shape: tuple[int, ...], n: int) -> np.ndarray:
    """Normal values (some saturating the input quantizer) and values on a fine grid (ties: half to even)."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    x = rng.normal(0.0, 3.0, (n, *shape))
    grid = np.round(rng.normal(0.0, 3.0, (n, *shape)) * 256) / 256
    return np.where(rng.random((n, *shape)) < 0.5, x, grid).astype(np.float32)


# ---- the worker ------------------------------------------------------------------------------------------


def worker(out: Path) -> None:
    """Build, save, predict and convert every model; write results.json (per case: ok or the error)."""
    import nn2fpga
    from nn2fpga.frontend.loading import require_legacy_keras

    require_legacy_keras("the QKeras test worker")  # the API's own arrangement, before TensorFlow loads
    import qkeras as Q
    import tensorflow as tf
    import tf_keras as K

    results: dict[str, Any] = {}
    for name, (build, _shape, n) in {**MODELS, **APPROX, **{k: (b, (), 0) for k, (b, _) in REFUSED.items()}}.items():
        tf.keras.utils.set_random_seed(zlib.crc32(name.encode()) % 2**31)
        case = out / name
        case.mkdir(parents=True)
        try:
            model = build(K, Q)
            model.save(case / "model.h5")
            if n:
                x = _inputs(name, tuple(model.input_shape[1:]), n)
                np.save(case / "x.npy", x)
                np.save(case / "y.npy", model.predict(x, batch_size=1024, verbose=0))
            nn2fpga.convert(str(case / "model.h5"), output_dir=case / "prj")
            results[name] = {"ok": True}
        except Exception as e:  # noqa: BLE001 - recorded for the test that expects it
            results[name] = {"ok": False, "type": type(e).__name__, "message": str(e), "trace": traceback.format_exc()}
    for name, (model_name, config) in CONFIGS.items():
        try:
            project = nn2fpga.convert(str(out / model_name / "model.h5"), config=config)
            results[name] = {"ok": True, "types": {k: str(t) for k, t in project.graph["fc"].types.items()}}
        except Exception as e:  # noqa: BLE001
            results[name] = {"ok": False, "type": type(e).__name__, "message": str(e)}
    # the written nn2fpga.yml converts again to the same types ("re-convertible")
    again = nn2fpga.convert(str(out / "jet6" / "model.h5"), config=out / "jet6" / "prj" / "nn2fpga.yml")
    results["reconverted"] = {layer.name: {k: str(t) for k, t in layer.types.items()} for layer in again.graph.layers()}
    (out / "results.json").write_text(json.dumps(results, indent=1))


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    return env | {"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


# ---- tests ------------------------------------------------------------------------------------------------

pytestmark = [pytest.mark.keras, pytest.mark.csim]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    pytest.importorskip("qkeras")
    out = tmp_path_factory.mktemp("qkeras")
    run = subprocess.run([sys.executable, __file__, str(out)], env=_clean_env(), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-4000:]
    return out, json.loads((out / "results.json").read_text())


def _project(built: tuple[Path, dict[str, Any]], name: str) -> tuple[Any, np.ndarray, np.ndarray]:
    from nn2fpga.project import Project

    out, results = built
    assert results[name]["ok"], results[name].get("trace") or results[name]
    return Project.load(out / name / "prj"), np.load(out / name / "x.npy"), np.load(out / name / "y.npy")


def _assert_exact(got: np.ndarray, want: np.ndarray, what: str) -> None:
    want = want.astype(np.float64).reshape(got.shape)
    bad = got != want
    if bad.any():
        i = tuple(np.argwhere(bad)[0])
        raise AssertionError(f"{what} != QKeras on {int(bad.sum())} of {bad.size} values; first at {i}: "
                             f"{got[i]!r} vs {want[i]!r}")  # fmt: skip


# models and quantizer options
@pytest.mark.parametrize("name", list(MODELS))
def test_csim_equals_qkeras(built: tuple[Path, dict[str, Any]], name: str) -> None:
    project, x, y = _project(built, name)
    ref = project.predict(x, backend="reference")
    _assert_exact(ref, y, "reference")
    _assert_exact(project.predict(x), y, "csim")


def test_batchnorm_close(built: tuple[Path, dict[str, Any]]) -> None:
    """Float BatchNorm folded into fc (weights now ap_fixed<16,6>): within a few lsb of the output type."""
    project, x, y = _project(built, "batchnorm")
    ref = project.predict(x, backend="reference")
    lsb = project.graph["fc"].types["result"].lsb
    diff = np.abs(ref - y.reshape(ref.shape))
    assert diff.max() <= 4 * lsb and (diff == 0).mean() >= 0.9, (diff.max() / lsb, (diff == 0).mean())
    assert not any(layer.kind == "BatchNorm" for layer in project.graph.layers())  # folded into fc


def test_types_come_from_quantizers(built: tuple[Path, dict[str, Any]]) -> None:
    g = _project(built, "jet6")[0].graph
    assert str(g["x"].types["result"]) == "ap_fixed<12,5,AP_RND_CONV,AP_SAT>"  # the input quantizer, folded
    assert str(g["fc1"].types["weight"]) == "ap_fixed<6,1>"
    assert str(g["fc1"].types["result"]) == "ap_ufixed<6,0,AP_RND_CONV,AP_SAT>"  # quantized_relu(6), fused
    assert g["fc1"].activation == "relu"
    assert g["out"].types["result"] == g["out"].types["accum"]  # no output quantizer: the exact sum
    po2 = _project(built, "w_auto_po2")[0].graph["fc"].types["weight"]
    assert po2.width > 4  # per-channel power-of-two scales folded: wider than the 4 quantizer bits


def test_resolved_config_reconverts_identically(built: tuple[Path, dict[str, Any]]) -> None:
    graph = _project(built, "jet6")[0].graph
    assert built[1]["reconverted"] == {
        layer.name: {k: str(t) for k, t in layer.types.items()} for layer in graph.layers()
    }


@pytest.mark.parametrize("name", list(REFUSED))
def test_refused(built: tuple[Path, dict[str, Any]], name: str) -> None:
    import re

    result = built[1][name]
    assert not result["ok"] and result["type"] == "ModelError", result
    assert re.search(REFUSED[name][1], result["message"]), result["message"]


def test_config_conflicting_with_quantizer(built: tuple[Path, dict[str, Any]]) -> None:
    result = built[1]["conflict"]
    assert result["type"] == "ConfigError", result
    assert result["message"].startswith("LayerName.fc.Precision.weight: ap_fixed<10,3> conflicts with ap_fixed<8,2>")


def test_model_level_precision_yields_to_quantizers(built: tuple[Path, dict[str, Any]]) -> None:
    types = built[1]["model_level"]["types"]
    assert types["weight"] == "ap_fixed<8,2>" and types["bias"] == "ap_fixed<8,3>"


def test_cli_converts_without_environment(built: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    model = built[0] / "relu_6" / "model.h5"
    run = subprocess.run([sys.executable, "-m", "nn2fpga.cli", "convert", str(model), "-o", str(tmp_path / "p")],
                         env=_clean_env(), capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "p" / "nn2fpga.yml").is_file()


def test_tensorflow_imported_with_keras3_is_a_clear_error(built: tuple[Path, dict[str, Any]]) -> None:
    model = built[0] / "relu_6" / "model.h5"
    code = f"import tensorflow, nn2fpga\nnn2fpga.convert({str(model)!r})"
    run = subprocess.run([sys.executable, "-c", code], env=_clean_env(), capture_output=True, text=True)
    assert run.returncode != 0
    assert "ModelError" in run.stderr and "TF_USE_LEGACY_KERAS=1" in run.stderr, run.stderr[-3000:]


if __name__ == "__main__":
    worker(Path(sys.argv[1]))
