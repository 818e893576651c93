"""Converters of the 1-D layers and the separable convolutions.

A 1-D layer reads (steps, channels). It is converted as its 2-D counterpart on a view of one row,
(1, steps, channels): a `FileLayer` whose config and filters are the 2-D ones (kernel (k,) -> (1, k),
filter (k, c, f) -> (1, k, c, f)), run through the 2-D converter, between a Reshape to the row and one
back (`_as_rows`). The 2-D machinery (folding, line buffers, templates, estimates) then serves both;
the optimize pass `merge_reshapes` removes the reshapes between consecutive 1-D layers. Causal padding is
a ZeroPad2D of k - 1 columns on the left (folded into the convolution by `fold_zeropad`).

Cropping and nearest-neighbour UpSampling (1-D and 2-D) are the pixel re-orderings Crop2D and UpSample2D;
Permute is a Transpose.

SeparableConv1D/2D are a DepthwiseConv2D without bias named `{layer}_depthwise` followed by a 1x1 Conv2D
carrying the layer's name, bias and activation, as Keras computes them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nn2fpga.frontend.converters import (
    Call,
    Converter,
    activations,
    conv,
    conv_options,
    global_pool,
    image_config,
    pair,
    pool,
    to_array,
    zero_pad,
)
from nn2fpga.frontend.keras_file import FileLayer
from nn2fpga.ir.errors import ModelError
from nn2fpga.ir.layers import Conv2D, Crop2D, DepthwiseConv2D, Layer, Reshape, Transpose, UpSample2D, ZeroPad2D

_WINDOW_KEYS = ("kernel_size", "strides", "dilation_rate", "pool_size", "size")  # n -> (1, n) on the row view
_EDGE_KEYS = {"ZeroPadding1D": "padding", "Cropping1D": "cropping"}  # n or (left, right) -> ((0, 0), (l, r))


def _single(call: Call, key: str, value: Any) -> int:
    """One number of a 1-D option given as n or (n,)."""
    v = list(value) if hasattr(value, "__iter__") else [value]
    if len(v) != 1:
        raise ModelError(f"{call.where}: {key}={value!r} is not one number")
    return int(v[0])


def _row_view(call: Call, cls: str, filters: tuple[str, ...]) -> tuple[Call, list[Layer]]:
    """The 2-D `cls` call over the (1, steps, channels) view of a 1-D call, and the layers before it (a
    causal padding)."""
    cfg = dict(call.layer.get_config())
    if cfg.get("data_format", "channels_last") not in (None, "channels_last"):
        raise ModelError(f"{call.where}: data_format={cfg['data_format']!r} is not supported (channels_last only)")
    for key in _WINDOW_KEYS:
        if cfg.get(key) is not None:
            cfg[key] = (1, _single(call, key, cfg[key]))
    edge = _EDGE_KEYS.get(call.cls)
    if edge is not None:
        cfg[edge] = ((0, 0), pair(cfg[edge]))
    before: list[Layer] = []
    (in_shape,) = call.in_shapes
    if len(in_shape) != 2:
        raise ModelError(f"{call.where}: expected a rank-2 (steps, channels) input, got {in_shape}")
    view_in = (1, *in_shape)
    if cfg.get("padding") == "causal":
        k, d = cfg["kernel_size"][1], cfg.get("dilation_rate", (1, 1))[1]
        view_in = (1, in_shape[0] + (k - 1) * d, in_shape[1])
        before.append(ZeroPad2D(f"{call.name}_causal", shape=view_in, padding=(0, 0, (k - 1) * d, 0)))
        cfg["padding"] = "valid"
    arrays = {name: to_array(_filter(call.layer, name))[np.newaxis] for name in filters}
    if cfg.get("use_bias", False):
        arrays["bias"] = to_array(call.layer.bias)
    cfg["activation"] = "linear"  # applied on the view by _as_rows, measured on the Keras layer
    shape = (1, *call.shape) if len(call.shape) == 2 else call.shape
    view = FileLayer(cls, call.name, cfg, arrays=arrays)
    return Call(view, call.inputs, [view_in], shape, call.flavor, origin=call.cls), before


def _as_rows(cls: str, convert: Converter, filters: tuple[str, ...] = ()) -> Converter:
    """The converter of a 1-D layer: the 2-D `convert` of its row view, between reshapes, then its activation."""

    def convert_1d(call: Call) -> list[Layer]:
        view, before = _row_view(call, cls, filters)
        layers = [Reshape(f"{call.name}_rows", shape=(1, *call.in_shapes[0])), *before, *convert(view)]
        spec = call.layer.get_config().get("activation")
        if spec is not None:
            acts = activations(call, spec, call.layer.activation, f"{call.name}_{{fn}}")
            for act in acts:
                act.shape = view.shape
            layers += acts
        if layers[-1].shape != call.shape:
            layers.append(Reshape(f"{call.name}_steps", shape=call.shape))
        return layers

    return convert_1d


def separable(call: Call) -> list[Layer]:
    """SeparableConv2D: a depthwise filter per channel (no bias), then a 1x1 convolution with the bias."""
    layer = call.layer
    dw, pw = to_array(layer.depthwise_kernel), to_array(layer.pointwise_kernel)
    options = conv_options(call, dw, depthwise=True)
    bias = to_array(layer.bias) if layer.use_bias else None
    depthwise = DepthwiseConv2D(f"{call.name}_depthwise", shape=(*call.shape[:2], dw.shape[2]), weight=dw, **options)
    pointwise = Conv2D(call.name, shape=call.shape, weight=pw, bias=bias)
    spec = layer.get_config().get("activation")
    return [depthwise, pointwise, *activations(call, spec, layer.activation, f"{call.name}_{{fn}}")]


def crop(call: Call) -> list[Layer]:
    (top, bottom), (left, right) = (pair(p) for p in image_config(call)["cropping"])
    return [Crop2D(call.name, shape=call.shape, cropping=(top, bottom, left, right))]


def upsample(call: Call) -> list[Layer]:
    cfg = image_config(call)
    if cfg.get("interpolation", "nearest") != "nearest":
        raise ModelError(f"{call.where}: interpolation={cfg['interpolation']!r} is not supported (nearest only)")
    return [UpSample2D(call.name, shape=call.shape, factor=pair(cfg["size"]))]


def permute(call: Call) -> list[Layer]:
    perm = tuple(int(d) - 1 for d in call.layer.get_config()["dims"])  # Keras counts axes from 1 (0 = batch)
    if perm == tuple(range(len(perm))):
        return [Reshape(call.name, shape=call.shape)]  # the identity
    return [Transpose(call.name, shape=call.shape, perm=perm)]


def _filter(layer: Any, name: str) -> Any:
    """A filter variable; tf_keras names a depthwise `kernel` `depthwise_kernel`."""
    if name == "kernel" and not hasattr(layer, "kernel"):
        return layer.depthwise_kernel
    return getattr(layer, name)


SPATIAL_CONVERTERS: dict[str, Converter] = {
    "SeparableConv2D": separable,
    "Conv1D": _as_rows("Conv2D", conv, ("kernel",)),
    "DepthwiseConv1D": _as_rows("DepthwiseConv2D", conv, ("kernel",)),
    "SeparableConv1D": _as_rows("SeparableConv2D", separable, ("depthwise_kernel", "pointwise_kernel")),
    "MaxPooling1D": _as_rows("MaxPooling2D", pool),
    "AveragePooling1D": _as_rows("AveragePooling2D", pool),
    "GlobalMaxPooling1D": _as_rows("GlobalMaxPooling2D", global_pool),
    "GlobalAveragePooling1D": _as_rows("GlobalAveragePooling2D", global_pool),
    "ZeroPadding1D": _as_rows("ZeroPadding2D", zero_pad),
    "Cropping2D": crop,
    "Cropping1D": _as_rows("Cropping2D", crop),
    "UpSampling2D": upsample,
    "UpSampling1D": _as_rows("UpSampling2D", upsample),
    "Permute": permute,
}
