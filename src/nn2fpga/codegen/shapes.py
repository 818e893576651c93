"""The geometry of the spatial kinds as the C++ configs name it: window (Conv2D, Pool2D, ZeroPad2D), a pixel
re-ordering's input and output sizes (Crop2D, UpSample2D), a Transpose's shape and strides in words."""

from __future__ import annotations

import math

from nn2fpga.ir.layers import Conv2D, Layer, Pool2D, Transpose, ZeroPad2D


def window_config(
    layer: Conv2D | Pool2D | ZeroPad2D, src: Layer, kernel: tuple[int, int], strides: tuple[int, int]
) -> dict[str, object]:
    """Window geometry of a Conv2D/Pool2D/ZeroPad2D: input (in_h, in_w, n_chan) from its producer `src`,
    kernel, strides, explicit (top, bottom, left, right) padding, output (out_h, out_w)."""
    in_shape = src.shape
    top, bottom, left, right = layer.padding
    return {
        "in_h": in_shape[0],
        "in_w": in_shape[1],
        "n_chan": in_shape[2],
        "kh": kernel[0],
        "kw": kernel[1],
        "sh": strides[0],
        "sw": strides[1],
        "pad_t": top,
        "pad_b": bottom,
        "pad_l": left,
        "pad_r": right,
        "out_h": layer.shape[0],
        "out_w": layer.shape[1],
    }


def spatial_config(layer: Layer, src: Layer) -> dict[str, int]:
    """in_h, in_w, n_chan of the producer `src` and out_h, out_w of `layer` (a pixel re-ordering)."""
    (in_h, in_w, n_chan), (out_h, out_w, _) = src.shape, layer.shape
    return {"in_h": in_h, "in_w": in_w, "n_chan": n_chan, "out_h": out_h, "out_w": out_w}


def transpose_config(layer: Transpose, in_shape: tuple[int, ...], lanes: int = 1) -> dict[str, int]:
    """d0, d1, d2: the result's shape in words (padded to three axes with leading 1s); s0, s1, s2: the input
    word stride of each. With the channel axis kept last a word holds `lanes` channels, else one value."""
    pad = 3 - len(in_shape)
    shape, perm = (1,) * pad + tuple(in_shape), tuple(range(pad)) + tuple(a + pad for a in layer.perm)
    if layer.keeps_channels:
        shape = (*shape[:-1], shape[-1] // lanes)
    strides = [math.prod(shape[a + 1 :]) for a in range(3)]
    out = [shape[a] for a in perm]
    return {"n": layer.size, **{f"d{k}": out[k] for k in range(3)}, **{f"s{k}": strides[perm[k]] for k in range(3)}}
