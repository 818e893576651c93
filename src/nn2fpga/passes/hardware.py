"""Hardware passes (flow "hardware"): every decision about the structure synthesis builds, stored on
the graph so that code generation only renders it and the summary, report.json and the written
nn2fpga.yml show it.

- `choose_io_type`: io_parallel (arrays) or io_stream (FIFOs, dataflow) for the whole graph;
- `nn2fpga.passes.fold.fold_layers`: PE x SIMD, reuse factor, weight storage and stream lanes of every layer;
- `size_fifos`: the depth of every stream (io_stream), per input edge of each layer;
- `place_weights`: where synthesis gets the weight literals (inline headers or written at build time).

Each pass sweeps the whole graph once and returns False (it never needs a second sweep).

FIFO depths. Streams default to depth 2. Where a fork's branches meet again (a skip connection
into Add/Concatenate), the faster branch must buffer what the slower branch consumes before it
emits its first value, or the dataflow deadlocks in hardware. For each branch we add up the
line-buffer fill of its windowed layers, (kh - 1) * padded_width + kw pixels, counted in the
fork's pixels (scaled by each layer's input size relative to the fork's); a branch's stream then
gets (max_lag - own_lag) pixels of words (channels / lanes each) plus 2.
No stream is ever sized to a whole feature map.
"""

from __future__ import annotations

import math

from nn2fpga.config import Config
from nn2fpga.ir.errors import ConfigError, closest
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import (
    Activation,
    Conv2D,
    Dense,
    Embedding,
    GlobalPool2D,
    Layer,
    Pool2D,
    Reshape,
    Transpose,
)
from nn2fpga.ir.names import input_vars, stream_names
from nn2fpga.ir.tables import activation_tables

PARALLEL_FEATURE_MAP_LIMIT = 4096  # values per sample: io_parallel partitions every feature map into registers
INLINE_LIMIT = 1_000_000  # WeightLiterals auto: inline literals up to this many constant values
DEFAULT_DEPTH = 2  # FIFO depth of a stream that no fork feeds


def choose_io_type(g: Graph, cfg: Config) -> bool:
    """Set `g.io_type`: the config's IOType, or for `auto` io_parallel, except io_stream for a
    convolutional model whose largest feature map (any layer's output) holds more than
    PARALLEL_FEATURE_MAP_LIMIT values."""
    if cfg.io_type != "auto":
        g.io_type = cfg.io_type
        return False
    layers = g.layers()
    spatial = any(isinstance(layer, (Conv2D, Pool2D, GlobalPool2D)) for layer in layers)
    large = max(layer.size for layer in layers) > PARALLEL_FEATURE_MAP_LIMIT
    g.io_type = "io_stream" if spatial and large else "io_parallel"
    return False


def pixels(layer: Layer) -> tuple[int, int]:
    """(number of pixels, channels per pixel) of a layer's output stream."""
    shape = layer.shape
    return (math.prod(shape[:-1]) if len(shape) > 1 else 1), int(shape[-1])


def _fill(layer: Layer, g: Graph) -> float:
    """Input pixels a layer consumes before its first output (line-buffer fill), 1 for others."""
    if isinstance(layer, (Conv2D, Pool2D)):
        kh, kw = layer.kernel if isinstance(layer, Conv2D) else layer.pool
        width = g.producer(layer.name).shape[1] + layer.padding[2] + layer.padding[3]
        return (kh - 1) * width + kw
    if isinstance(layer, (GlobalPool2D, Dense, Reshape, Transpose, Embedding)):
        return pixels(g.producer(layer.name))[0]
    return 1


def branch_depths(g: Graph, fork: Layer) -> dict[str, int]:
    """FIFO depth of each stream out of a fork (keyed by consumer name); see the module docstring."""
    fork_pixels = pixels(fork)[0]
    lags: dict[str, float] = {}
    for user in g.users(fork.name):
        lag, layer = 0.0, user
        while not layer.MERGES:
            lag += _fill(layer, g) * fork_pixels / max(pixels(g.producer(layer.name))[0], 1)
            nxt = g.users(layer.name)
            if len(nxt) != 1:
                break
            layer = nxt[0]
        lags[user.name] = lag
    top = max(lags.values())
    words = pixels(fork)[1] // fork.lanes if fork.lanes else 1  # stream words per pixel (io_stream lanes)
    return {name: math.ceil((top - lag) * words) + DEFAULT_DEPTH for name, lag in lags.items()}


def size_fifos(g: Graph, cfg: Config) -> bool:
    """Set every layer's `fifo_depths` (one per input edge, in input order) for io_stream graphs:
    `branch_depths` on edges out of a fork, DEFAULT_DEPTH elsewhere, unless `Streams:` gives the stream's
    depth (by its name, `nn2fpga.ir.names.stream_names`); () for io_parallel.

    Pre: `choose_io_type` ran. Raises ConfigError for a `Streams:` name the graph does not have.
    """
    if g.io_type != "io_stream":
        if cfg.streams:
            raise ConfigError("Streams: this is an io_parallel project, it has no streams (IOType: io_stream has)")
        for layer in g.layers():
            layer.fifo_depths = ()
        return False
    names = stream_names(g, cfg.resolved_project_name(g))
    sized = set(names.values()) - input_vars(g)  # the top function's own inputs have no FIFO
    for name in cfg.streams:
        if name not in sized:
            listed = sorted(sized)
            raise ConfigError(f"Streams.{name}: no stream of that name{closest(name, listed)}; streams into the "
                              f"layers of {g.name!r}: {', '.join(listed)}")  # fmt: skip
    forks = {f.name: branch_depths(g, f) for f in g.layers() if len(g.users(f.name)) > 1}
    for layer in g.layers():
        layer.fifo_depths = tuple(
            cfg.streams.get(names[(p.name, layer.name)], forks.get(p.name, {}).get(layer.name, DEFAULT_DEPTH))
            for p in g.producers(layer.name)
        )
    return False


def constant_values(layer: Layer) -> int:
    """Constant values synthesis stores for `layer`: weights, biases (zeros where there is none), BatchNorm
    scale and bias, activation tables."""
    n = sum(v.size for v in layer.weights().values())
    if layer.HAS_MULTIPLIERS and getattr(layer, "bias", None) is None:
        n += layer.n_out
    if isinstance(layer, Activation):
        n += sum(t.size for t in activation_tables(layer.fn, layer.types, layer.shape[-1], layer.alpha,
                                                          layer.table_size).values())  # fmt: skip
    return n


def place_weights(g: Graph, cfg: Config) -> bool:
    """Set `g.weight_literals`: the config's WeightLiterals, or for `auto` "inline" (firmware/weights/*.h
    written by convert) up to INLINE_LIMIT constant values, else "at_build" (written by build_prj.tcl
    from weights/*.npy: one copy of the constants in the project, a fast convert)."""
    if cfg.weight_literals != "auto":
        g.weight_literals = cfg.weight_literals
    else:
        total = sum(constant_values(layer) for layer in g.layers())
        g.weight_literals = "inline" if total <= INLINE_LIMIT else "at_build"
    return False
