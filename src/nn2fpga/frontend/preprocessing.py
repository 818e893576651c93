"""Converters of the Keras preprocessing layers that are arithmetic: Rescaling (x * scale + offset) and
Normalization ((x - mean) / max(sqrt(variance), epsilon), Keras's definition) become a BatchNorm layer of
their own, a per-channel multiply-add in the `scale` and `bias` types. They are not folded into the next
layer: a following convolution's zero padding would then pad with -offset / scale instead of 0, which is
not what Keras computes; and where the fold is exact in real arithmetic (a Dense, an unpadded convolution)
it moves the scale onto the weights' grid and the raw inputs' range: measured on 0-255 images, Rescaling
into a DepthwiseConv2D + Conv2D at 16-bit weights, folding made the mean |reference - Keras| 0.103 instead
of 0.012 (and the derived bound 2.2 instead of 0.14), so it is not done. LayerNormalization (over the last
axis) is a LayerNorm layer.
"""

from __future__ import annotations

import numpy as np

from nn2fpga.frontend.converters import Call, Converter, require_last_axis, to_array
from nn2fpga.ir.errors import ModelError
from nn2fpga.ir.layers import BatchNorm, Layer, LayerNorm

KERAS_EPSILON = 1e-7  # keras.backend.epsilon(), the floor of Normalization's standard deviation


def _per_channel(call: Call, value: object, what: str) -> np.ndarray:
    """A scalar or per-channel (last axis) constant as one value per channel."""
    channels = call.shape[-1]
    v = np.asarray(to_array(value), dtype=np.float64).reshape(-1)
    if v.size == 1:
        return np.full(channels, float(v[0]))
    if v.size != channels:
        raise ModelError(f"{call.where}: {what} of {v.size} values for {channels} channels: only a scalar or one "
                         "value per channel (last axis) is supported")  # fmt: skip
    return v


def _rescaling(call: Call) -> list[Layer]:
    cfg = call.layer.get_config()
    scale = _per_channel(call, cfg.get("scale", 1.0), "scale")
    offset = _per_channel(call, cfg.get("offset", 0.0), "offset")
    return [BatchNorm(call.name, shape=call.shape, scale=scale, bias=offset)]


def _normalization(call: Call) -> list[Layer]:
    cfg = call.layer.get_config()
    if cfg.get("invert"):
        raise ModelError(f"{call.where}: Normalization(invert=True) is not supported")
    require_last_axis(call, cfg.get("axis", -1), "normalization")
    mean, variance = _per_channel(call, call.layer.mean, "mean"), _per_channel(call, call.layer.variance, "variance")
    scale = 1.0 / np.maximum(np.sqrt(variance), KERAS_EPSILON)
    return [BatchNorm(call.name, shape=call.shape, scale=scale, bias=-mean * scale)]


def _layernorm(call: Call) -> list[Layer]:
    cfg, layer = call.layer.get_config(), call.layer
    axis = cfg.get("axis", -1)
    require_last_axis(call, axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis, "normalization")
    if cfg.get("rms_scaling"):
        raise ModelError(f"{call.where}: rms_scaling=True is not supported")
    channels = call.shape[-1]
    scale = to_array(layer.gamma) if cfg.get("scale", True) else np.ones(channels)
    bias = to_array(layer.beta) if cfg.get("center", True) else np.zeros(channels)
    return [LayerNorm(call.name, shape=call.shape, scale=scale, bias=bias, epsilon=float(cfg.get("epsilon", 1e-3)))]


PREPROCESSING_CONVERTERS: dict[str, Converter] = {
    "Rescaling": _rescaling,
    "Normalization": _normalization,
    "LayerNormalization": _layernorm,
}
