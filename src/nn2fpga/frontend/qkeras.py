"""QKeras frontend: quantized layers -> IR layers whose types the quantizers fix (`Layer.fixed`).

Weights and biases are the values QKeras itself computes, `quantizer(kernel)`, so they are exact in the
chosen FixedType (per-channel power-of-two scales, `auto_po2`, are folded into the values; the type is
widened to hold every channel). Output quantizers become Activation layers whose result type carries
the rounding and overflow QKeras applies:

    quantized_bits(b, i, symmetric, keep_negative=True)  -> linear,  ap_fixed<b, i+1, AP_RND_CONV, AP_SAT[_SYM]>
    quantized_bits(b, i, keep_negative=False)            -> linear,  ap_ufixed<b, i, AP_RND_CONV, AP_SAT>
    quantized_relu(b, i)                                 -> relu,    ap_ufixed<b, i, AP_RND_CONV, AP_SAT>
    quantized_relu(b, i, negative_slope=s <= 1)          -> leaky_relu chain, ap_fixed<b, i+1, AP_RND_CONV, AP_SAT>
                                                            (wider when s*2^i < lsb; see `_leaky`)
    quantized_tanh(b, symmetric)  (hard tanh)            -> linear,  ap_fixed<b, 1, AP_RND_CONV, AP_SAT[_SYM]>
    quantized_sigmoid(b)  (hard sigmoid, x/2 + 1/2)     -> hard_sigmoid, ap_ufixed<b, 0, AP_RND_CONV, AP_SAT>

(`tf.round` rounds half to even, hence AP_RND_CONV; QKeras clips, hence saturation.) A linear quantizer
right after an Input or an unquantized Dense/Conv becomes that layer's result type (`fold_quantizers`).
QConv2DBatchnorm, QDepthwiseConv2DBatchnorm and QDenseBatchnorm become the Conv2D / DepthwiseConv2D / Dense
holding the quantized folded kernel and bias QKeras uses at inference (the moving statistics, in either
folding mode). Anything else (data-dependent scales on activations, stochastic rounding, negative_slope > 1,
real tanh/sigmoid, quantized_po2 as an activation, ...) raises ModelError naming the layer and the quantizer.

QKeras builds on `tf.keras`, which must be tf_keras: `TF_USE_LEGACY_KERAS=1` before TensorFlow is
imported. `nn2fpga.frontend.loading.require_legacy_keras` arranges that, or says clearly why it cannot.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from nn2fpga.frontend.converters import (
    Call,
    activations,
    batchnorm,
    conv_options,
    require_flat,
    require_last_axis,
    to_array,
)
from nn2fpga.ir.errors import ModelError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Activation, Conv2D, Dense, DepthwiseConv2D, Input, Layer
from nn2fpga.ir.types import FixedType, Overflow, Rounding

log = logging.getLogger(__name__)

MAX_CONSTANT_WIDTH = 32  # widest type fitted to quantized constants (wider means not a fixed-point grid)

# ---- quantizer -> FixedType ---------------------------------------------------------------------------


def _refuse(call: Call, q: Any, why: str) -> ModelError:
    return ModelError(f"{call.where}: quantizer {q} {why}; nn2fpga maps only quantizers it can reproduce exactly")


def _common_checks(call: Call, q: Any) -> None:
    if getattr(q, "use_stochastic_rounding", False):
        raise _refuse(call, q, "rounds stochastically")
    noise = float(to_array(getattr(q, "qnoise_factor", 1.0)))
    if noise != 1.0:
        raise _refuse(call, q, f"mixes in the float value (qnoise_factor={noise:g})")


def _int(v: Any) -> int:
    return int(to_array(v).ravel()[0])


def _bits_type(call: Call, q: Any) -> FixedType:
    """The type of quantized_bits values: (value / 2^integer) * 2^(bits - keep_negative) rounds half to even
    and clips to [-m (+1 if symmetric), m - 1], m = 2^(bits - keep_negative)."""
    bits, integer = int(q.bits), _int(q.integer)
    if bool(q.keep_negative) and bits < 2:
        raise _refuse(call, q, "is a sign function (1 bit with keep_negative)")
    if q.keep_negative:
        overflow = Overflow.SAT_SYM if q.symmetric else Overflow.SAT
        return FixedType(bits, integer + 1, True, Rounding.RND_CONV, overflow)
    return FixedType(bits, integer, False, Rounding.RND_CONV, Overflow.SAT)


def _hard_sigmoid_in_use() -> bool:
    import qkeras.quantizers as qq

    return qq._sigmoid is qq.hard_sigmoid


def output_activation(call: Call, q: Any, name: str) -> list[Activation]:
    """The Activations computing output quantizer `q` exactly, the last one named `name` and holding the
    quantizer's type (ModelError otherwise). One layer, except for quantized_relu with a negative_slope."""
    kind = type(q).__name__
    _common_checks(call, q)
    if kind == "quantized_bits":
        if q.alpha not in (None, 1, 1.0):
            raise _refuse(call, q, f"scales its output by alpha={q.alpha!r} (only alpha=None or 1 on activations)")
        return [Activation(name, shape=call.shape, fn="linear", fixed={"result": _bits_type(call, q)})]
    if kind == "quantized_relu":
        if q.use_sigmoid:
            raise _refuse(call, q, "uses use_sigmoid")
        if not getattr(q, "is_quantized_clip", True) and q.relu_upper_bound is not None:
            raise _refuse(call, q, "clips at relu_upper_bound instead of the quantizer's range")
        if q.negative_slope:
            return _leaky(call, q, name)
        t = FixedType(int(q.bits), _int(q.integer), False, Rounding.RND_CONV, Overflow.SAT)
        return [Activation(name, shape=call.shape, fn="relu", fixed={"result": t})]
    if kind in ("quantized_tanh", "quantized_sigmoid"):
        real = q.use_real_tanh if kind == "quantized_tanh" else q.use_real_sigmoid
        if real or not _hard_sigmoid_in_use():
            raise _refuse(call, q, "uses the smooth (real) function, which fixed point only approximates")
        bits = int(q.bits)
        if kind == "quantized_tanh":  # 2 * hard_sigmoid(x) - 1 = clip(x, -1, 1): a saturating cast
            overflow = Overflow.SAT_SYM if q.symmetric else Overflow.SAT
            t = FixedType(bits, 1, True, Rounding.RND_CONV, overflow)
            return [Activation(name, shape=call.shape, fn="linear", fixed={"result": t})]
        if q.symmetric:
            raise _refuse(call, q, "is symmetric (clips at 2^-bits, not 0)")
        t = FixedType(bits, 0, False, Rounding.RND_CONV, Overflow.SAT)
        return [Activation(name, shape=call.shape, fn="hard_sigmoid", slope=0.5, offset=0.5, fixed={"result": t})]
    raise _refuse(call, q, "is not supported as an activation (supported: quantized_bits, quantized_relu, "
                  "quantized_tanh, quantized_sigmoid)")  # fmt: skip


def _leaky(call: Call, q: Any, name: str) -> list[Activation]:
    """quantized_relu(b, i, negative_slope=s), s = 2^-k <= 1 (QKeras asserts a power of two), exactly.

    QKeras rounds x >= 0 and s*x < 0 half to even on the lsb 2^(i-b+1) and clips to [-s*2^i, 2^i - lsb].
    One cast to T = ap_fixed<b, i+1, AP_RND_CONV, AP_SAT> after leaky_relu(s) rounds both branches right and
    clips the positive side, but clips the negative side at -2^i. Two exact steps move that clip to -s*2^i:
    leaky_relu(1/s) into T with AP_SAT (negatives back to x's scale, saturating at -2^i), then leaky_relu(s).
    """
    bits, integer, slope = int(q.bits), _int(q.integer), float(q.negative_slope)
    if bits < 2:
        raise _refuse(call, q, "has 1 bit and a negative_slope: only the sign bit, no magnitude")
    if slope > 1.0:
        raise _refuse(call, q, f"has negative_slope={slope:g} > 1: it clips negative outputs at -{slope:g}*2^integer, "
                      "below any ap_fixed type that clips the positive ones at 2^integer - lsb")  # fmt: skip
    rounded = FixedType(bits, integer + 1, True, Rounding.RND_CONV, Overflow.SAT)
    if slope == 1.0:  # clip(round(x), -2^i, 2^i - lsb): a cast
        return [Activation(name, shape=call.shape, fn="linear", fixed={"result": rounded})]
    k = -int(np.log2(slope))
    out = FixedType(max(bits - 1, k) + 1, integer + 1, True, Rounding.RND_CONV, Overflow.SAT)  # holds -s*2^i

    def step(suffix: str, alpha: float, t: FixedType) -> Activation:
        fixed = {"result": t, "alpha": fit_type(np.array([alpha]))}
        return Activation(name + suffix, shape=call.shape, fn="leaky_relu", alpha=alpha, fixed=fixed)

    return [step("_round", slope, rounded),
            step("_unscale", 2.0**k, rounded.with_modes(Rounding.TRN, Overflow.SAT)),
            step("", slope, out)]  # fmt: skip


def fit_type(values: np.ndarray) -> FixedType | None:
    """The narrowest FixedType holding every value exactly, or None (not on a grid within MAX_CONSTANT_WIDTH bits)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if not np.isfinite(v).all():
        return None
    nz = v[v != 0]
    if nz.size == 0:
        return FixedType(1, 1, False)
    mant, exp = np.frexp(nz)
    m = np.abs(np.ldexp(mant, 53).astype(np.int64))
    lowest = np.frexp((m & -m).astype(np.float64))[1] - 1  # trailing zero bits of each mantissa
    frac = int(-(exp - 53 + lowest).min())
    raw = np.ldexp(v, frac)
    signed = bool((v < 0).any())
    top = max(float(raw.max()), float(-raw.min() - 1) if signed else 0.0)
    width = max(int(top).bit_length(), 1) + signed
    return FixedType(width, width - frac, signed) if width <= MAX_CONSTANT_WIDTH else None


def quantized_constant(call: Call, role: str, q: Any, variable: Any) -> tuple[np.ndarray, FixedType | None]:
    """(values, fixed type) of a weight/bias: QKeras's own `q(variable)`; (float values, None) without a quantizer."""
    if q is None:
        return to_array(variable), None
    _common_checks(call, q)
    values = to_array(q(variable))
    if type(q).__name__ == "quantized_bits" and q.alpha in (None, 1, 1.0) and int(q.bits) - bool(q.keep_negative) > 0:
        nominal = _bits_type(call, q).with_modes(Rounding.TRN, Overflow.WRAP)  # constants are exact: default modes
        if np.array_equal(nominal.quantize(values), values):
            return values, nominal
    # Power-of-two scales (auto_po2, po2, alpha=1) keep every value within the quantizer's bits of mantissa;
    # other scales (alpha='auto', a float alpha) give float32 mantissas: exact, but no narrow fixed-point grid.
    bits, significant = int(getattr(q, "bits", MAX_CONSTANT_WIDTH)), significant_bits(values)
    t = fit_type(values)
    if t is None or significant > bits:
        raise _refuse(call, q, f"gives {role} values with {significant} significant bits, more than its {bits} bits: "
                      "a scale that is not a power of two (alpha='auto' or a float alpha)")  # fmt: skip
    return values, t


def significant_bits(values: np.ndarray) -> int:
    """The most bits from the highest to the lowest set bit of any value (0 for all zeros)."""
    v = np.abs(np.asarray(values, dtype=np.float64).ravel())
    v = v[(v != 0) & np.isfinite(v)]
    if v.size == 0:
        return 0
    m = np.ldexp(np.frexp(v)[0], 53).astype(np.int64)
    lowest = np.frexp((m & -m).astype(np.float64))[1] - 1
    return int((53 - lowest).max())


# ---- converters ---------------------------------------------------------------------------------------


def _outputs(call: Call, act: Any, name: str) -> list[Layer]:
    """The layers of a QKeras layer's `activation`: a quantizer, a Keras activation, or none."""
    from qkeras.quantizers import BaseQuantizer

    if act is None:
        return []
    if isinstance(act, BaseQuantizer):
        return output_activation(call, act, name.format(fn=type(act).__name__))
    return activations(call, getattr(act, "__name__", None), act, name)


def _quantizer(layer: Any, role: str) -> Any:
    """The layer's `role` quantizer object (kernel, bias, depthwise), or None."""
    return getattr(layer, f"{role}_quantizer_internal", None) if getattr(layer, f"{role}_quantizer", None) else None


def _qlinear(call: Call) -> list[Layer]:
    """A QDense, QConv2D or QDepthwiseConv2D (or its *Batchnorm): the IR layer with QKeras's quantized kernel and
    bias, then its output layers."""
    layer, depthwise = call.layer, hasattr(call.layer, "depthwise_kernel")
    kernel, weight_role = (layer.depthwise_kernel, "depthwise") if depthwise else (layer.kernel, "kernel")
    if call.cls.startswith("QDense"):
        require_flat(call)
        cls, options = Dense, {}
    else:
        cls, options = (DepthwiseConv2D if depthwise else Conv2D), conv_options(call, kernel, depthwise)
    if call.cls.endswith("Batchnorm"):
        kernel, bias = _folded(call, weight_role)
    else:
        bias = layer.bias if layer.use_bias else None
    weight, w_t = quantized_constant(call, "weight", _quantizer(layer, weight_role), kernel)
    bias, b_t = (None, None) if bias is None else quantized_constant(call, "bias", _quantizer(layer, "bias"), bias)
    fixed = {role: t for role, t in (("weight", w_t), ("bias", b_t)) if t is not None}
    out = cls(call.name, shape=call.shape, weight=weight, bias=bias, fixed=fixed, **options)
    return [out, *_outputs(call, layer.activation, f"{call.name}_{{fn}}")]


def _folded(call: Call, weight_role: str) -> tuple[Any, Any]:
    """(kernel, bias) of a Q*Batchnorm layer at inference: in both folding modes (ema_stats_folding,
    batch_stats_folding) and whatever ema_freeze_delay, `call(training=False)` folds the moving statistics,
    kernel * gamma / sqrt(var + eps) and (bias - mean) * gamma / sqrt(var + eps) + beta, in float32, and then
    quantizes both: `get_folded_weights` is that same float32 arithmetic (the quantizers follow in `_qlinear`)."""
    layer = call.layer
    require_last_axis(call, layer.batchnorm.axis, "batch normalization")
    kernel, bias = layer.get_folded_weights()
    for role, ir_role in ((weight_role, "weight"), ("bias", "bias")):
        if _quantizer(layer, role) is None:  # like an unquantized QDense bias, but never on a grid after folding
            log.warning("%s: no %s_quantizer, so QKeras uses the BatchNorm-folded %s in float32; nn2fpga rounds it to "
                        "the config's %s type and the outputs differ from QKeras by that rounding (a %s_quantizer "
                        "makes them exact)", call.where, role, ir_role, ir_role, role)  # fmt: skip
    return kernel, bias


def _qactivation(call: Call) -> list[Layer]:
    layers = _outputs(call, call.layer.quantizer, call.name)
    return layers or [Activation(call.name, shape=call.shape, fn="linear")]


def _qbatchnorm(call: Call) -> list[Layer]:
    """QKeras computes batch normalization in float from quantized gamma, beta, mean and variance: a BatchNorm
    whose scale and bias are not quantizer outputs, so their types come from the config (or it folds)."""

    def value(variable: str) -> np.ndarray:  # QKeras names the quantizers gamma, beta, mean and variance
        role = variable.removeprefix("moving_")
        return quantized_constant(call, role, _quantizer(call.layer, role), getattr(call.layer, variable))[0]

    layers = batchnorm(call, value)
    log.info("%s: batch normalization is float in QKeras too; its types come from the config", call.where)
    return layers


QKERAS_CONVERTERS = {
    "QActivation": _qactivation,
    "QBatchNormalization": _qbatchnorm,
    "QConv2D": _qlinear,
    "QConv2DBatchnorm": _qlinear,
    "QDense": _qlinear,
    "QDenseBatchnorm": _qlinear,
    "QDepthwiseConv2D": _qlinear,
    "QDepthwiseConv2DBatchnorm": _qlinear,
}

# ---- graph clean-up ------------------------------------------------------------------------------------


def fold_quantizers(graph: Graph) -> None:
    """Make a linear quantizer the result type of the layer before it, where that is the same arithmetic.

    An Input converts floats (the quantizer applied to the model's input), and a Dense/Conv without an
    output quantizer holds an exact sum that QKeras keeps in float, so casting either to the quantizer's
    type is what QKeras computes. Only single-user producers without a fixed result type are changed.
    """
    for act in graph.layers():
        if not (isinstance(act, Activation) and act.fn == "linear" and "result" in act.fixed):
            continue
        src = graph.producer(act.name)
        if not isinstance(src, (Input, Dense, Conv2D)) or "result" in src.fixed or len(graph.users(src.name)) != 1:
            continue
        if isinstance(src, Input) and graph.is_output(act.name):
            continue
        src.fixed["result"] = act.fixed["result"]
        graph.remove(act.name)
