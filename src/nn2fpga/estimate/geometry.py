"""What the templates build for a folded layer, loop by loop: the geometry the lint, the cycle model, the
estimator and the folding pass share.

Every Dense, Conv2D and DepthwiseConv2D is a matrix-vector unit over a (rows x columns) weight matrix:
rows = terms per output (Dense n_in, Conv2D kh*kw*n_chan, DepthwiseConv2D kh*kw taps), columns =
outputs per pixel (n_out, n_filt, n_chan). Per clock it computes PE columns x SIMD rows. `unroll`, `trips`
and `weight_memory` are what the templates in templates/n2f do; tests check them against the C
simulation's counters. The decisions (which PE, SIMD, lanes) are made by `nn2fpga.passes.fold`.
"""

from __future__ import annotations

import math

from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import (
    Add,
    ChannelScale,
    Conv2D,
    Crop2D,
    Dense,
    DepthwiseConv2D,
    Dot,
    Embedding,
    GlobalPool2D,
    Input,
    Layer,
    Linear,
    Pool2D,
    Transpose,
    ZeroPad2D,
)
from nn2fpga.ir.recurrent import Recurrent

MAX_UNROLL = 4096  # operations unrolled in one pipelined loop body (docs/synthesis.md)
MAX_WORD_BITS = 4096  # widest ap_uint Vitis HLS accepts: one stream or memory word
STREAMED = ("uram", "offchip")  # storage whose weights come from DDR through a weight_reader process


def divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def matrix(layer: Linear) -> tuple[int, int, int]:
    """(rows, columns, what SIMD must divide) of a layer's weight matrix."""
    if isinstance(layer, DepthwiseConv2D):
        return layer.n_in, layer.n_out, layer.n_in
    if isinstance(layer, Conv2D):
        return layer.n_in, layer.n_out, int(layer.weight.shape[2])
    return layer.n_in, layer.n_out, layer.n_in


def channels(layer: Layer) -> int:
    return int(layer.shape[-1]) if layer.shape else 1


def latency_kernel(layer: Layer, io_type: str) -> bool:
    """The io_parallel Latency Dense: fully unrolled, not folded."""
    return isinstance(layer, Dense) and io_type == "io_parallel" and layer.strategy == "latency"


def in_lanes(layer: Layer) -> int:
    """Values per word this layer reads from each input stream."""
    if isinstance(layer, DepthwiseConv2D):
        return layer.pe
    if isinstance(layer, Conv2D):  # a SIMD spanning kernel taps reads whole pixels
        return min(layer.simd, int(layer.weight.shape[2]))
    if isinstance(layer, Linear):
        return layer.simd
    return layer.lanes


def unroll(layer: Layer, g: Graph) -> int:
    """Operations in the body of the layer's pipelined loop (multiplications, or values handled)."""
    if isinstance(layer, Linear):
        return layer.pe * layer.simd
    if isinstance(layer, Pool2D):
        return layer.lanes * layer.pool[0] * layer.pool[1]
    if isinstance(layer, Add):
        return layer.lanes * len(g.producers(layer.name))
    return layer.lanes


def weight_memory(layer: Linear) -> tuple[int, int, int]:
    """(banks, words per bank, bits per word) of a folded layer's weights: PE banks of SIMD-wide words."""
    rows, cols, _ = matrix(layer)
    return layer.pe, rows * cols // (layer.pe * layer.simd), layer.simd * layer.types["weight"].width


def pixels(layer: Layer) -> int:
    return math.prod(layer.shape[:-1]) if len(layer.shape) > 1 else 1


def trips(layer: Layer, g: Graph) -> int:
    """Iterations of the layer's pipelined loops (II = 1) per image in io_stream: its cycles per image,
    not counting pipeline fill per loop entry."""
    if isinstance(layer, Input):
        return 0
    src = g.producers(layer.name)[0]
    words_in = src.size // in_lanes(layer) if in_lanes(layer) else 0
    if isinstance(layer, (Conv2D, Pool2D, ZeroPad2D)):
        top, bottom, left, right = layer.padding
        padded = (src.shape[0] + top + bottom) * (src.shape[1] + left + right)
        read = padded * (channels(src) // in_lanes(layer))
        if isinstance(layer, ZeroPad2D):
            return read
        if isinstance(layer, Pool2D):
            return read + pixels(layer) * channels(layer) // layer.lanes
        rows, cols, _ = matrix(layer)
        return read + pixels(layer) * rows * cols // (layer.pe * layer.simd)
    if isinstance(layer, Dense):
        rows, cols, _ = matrix(layer)
        return rows // layer.simd + rows * cols // (layer.pe * layer.simd)
    if isinstance(layer, GlobalPool2D):
        return words_in + channels(layer) // layer.lanes
    if isinstance(layer, Crop2D):  # every input word is read, those inside written
        return words_in
    if isinstance(layer, Transpose):  # the whole map read, then written
        return 2 * words_in
    if isinstance(layer, ChannelScale):  # the vector's words, then the map's
        return (channels(layer) + layer.size) // layer.lanes
    if isinstance(layer, Recurrent):  # per step its input words and the cell; h's words each step or at the end
        steps, words_out = src.shape[0], layer.units // layer.lanes
        return steps * (layer.n_in // layer.lanes + 1) + words_out * (steps if layer.return_sequences else 1)
    if isinstance(layer, Dot):  # a word of each input per iteration
        return words_in
    if isinstance(layer, Embedding):  # the indices read, then the rows written
        return words_in + layer.size // layer.lanes
    return layer.size // layer.lanes


def converter_trips(n_values: int, a: int, b: int) -> int:
    """Iterations of a width converter from a to b lanes."""
    return n_values // a + n_values // b
