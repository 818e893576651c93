"""io_stream code generation: one stream per edge, one n2f::*_stream call per layer, forks for fan-out.

Python computes every number here (window geometry, exact sum types, reciprocals, FIFO depths);
the template `top_stream.cpp.j2` only substitutes. Array-level configuration (Dense, activations,
BatchNorm) is shared with io_parallel through `context.layer_context`.

FIFO depths. Streams default to depth 2. Where a fork's branches meet again (a skip connection
into Add/Concatenate), the faster branch must buffer what the slower branch consumes before it
emits its first value, or the dataflow deadlocks in hardware. For each branch we add up the
line-buffer fill of its windowed layers, (kh - 1) * padded_width + kw pixels, counted in the
fork's pixels (scaled by each layer's input size relative to the fork's); a branch's stream then
gets depth max_lag - own_lag + 2. No stream is ever sized to a whole feature map.
"""

from __future__ import annotations

import functools

import numpy as np

from nn2fpga.codegen.context import (
    LayerContext,
    layer_context,
    layer_names,
    linear_constants,
    pool_types,
    raw_container,
    window_config,
)
from nn2fpga.ir.errors import ModelError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import (
    Activation,
    Add,
    BatchNorm,
    Concatenate,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    GlobalPool2D,
    Input,
    Layer,
    Pool2D,
    Reshape,
    ZeroPad2D,
)
from nn2fpga.ir.rules import sum_type, union_type

DEFAULT_DEPTH = 2


def pixels(layer: Layer) -> tuple[int, int]:
    """(number of pixels, channels per pixel) of a layer's output stream."""
    shape = layer.shape
    return (int(np.prod(shape[:-1])) if len(shape) > 1 else 1), int(shape[-1])


@functools.singledispatch
def stream_layer(layer: Layer, base: LayerContext, g: Graph) -> LayerContext:
    raise ModelError(f"layer {layer.name!r} ({layer.kind}) has no io_stream implementation")


@stream_layer.register(Activation)
@stream_layer.register(BatchNorm)
def _(layer: Layer, base: LayerContext, g: Graph) -> LayerContext:
    n_pix, chan = pixels(layer)
    ctx = layer_context(layer, base)  # the array function, applied to each pixel
    ctx.config.update(n=chan, n_pixels=n_pix)
    if isinstance(layer, BatchNorm):
        ctx.config["n_chan"] = chan
    ctx.func = f"{ctx.func}_stream"
    return ctx


@stream_layer.register(Dense)
def _(layer: Dense, base: LayerContext, g: Graph) -> LayerContext:
    ctx = layer_context(layer, base)
    ctx.func = "dense_stream"
    return ctx


@stream_layer.register(Conv2D)
def _(layer: Conv2D, base: LayerContext, g: Graph) -> LayerContext:
    in_shape = g.producer(layer.name).shape
    depthwise = isinstance(layer, DepthwiseConv2D)
    weight = layer.weight[..., 0] if depthwise else layer.weight
    base.func = "conv2d_stream"
    base.config.update(
        window_config(layer, in_shape, layer.kernel, layer.strides, layer.padding),
        n_filt=layer.n_out,
        n_weights=int(weight.size),
        depthwise=depthwise,
        relu=layer.activation == "relu",
        reuse_factor=layer.reuse_factor,
        strategy=f"n2f::{layer.strategy}",
    )
    return linear_constants(layer, base, weight)


@stream_layer.register(Pool2D)
def _(layer: Pool2D, base: LayerContext, g: Graph) -> LayerContext:
    src = g.producer(layer.name)
    base.func = "pool2d_stream"
    base.config.update(window_config(layer, src.shape, layer.pool, layer.strides, layer.padding))
    pool_types(layer, base, src.types["result"], layer.pool[0] * layer.pool[1])
    return base


@stream_layer.register(GlobalPool2D)
def _(layer: GlobalPool2D, base: LayerContext, g: Graph) -> LayerContext:
    src = g.producer(layer.name)
    n_pix, chan = pixels(src)
    base.func = "global_pool_stream"
    base.config.update(n_chan=chan, n_pixels=n_pix)
    pool_types(layer, base, src.types["result"], n_pix)
    return base


@stream_layer.register(ZeroPad2D)
def _(layer: ZeroPad2D, base: LayerContext, g: Graph) -> LayerContext:
    base.func = "zeropad_stream"
    base.config.update(window_config(layer, g.producer(layer.name).shape, (1, 1), (1, 1), layer.padding))
    return base


@stream_layer.register(Add)
def _(layer: Add, base: LayerContext, g: Graph) -> LayerContext:
    prods = g.producers(layer.name)
    n_pix, chan = pixels(layer)
    u = functools.reduce(union_type, [p.types["result"] for p in prods])
    base.func = "add_stream"
    base.config.update(n_pixels=n_pix, n_chan=chan, relu=layer.activation == "relu")
    base.typedefs["sum_t"] = sum_type(u, len(prods)).cpp()
    return base


@stream_layer.register(Concatenate)
def _(layer: Concatenate, base: LayerContext, g: Graph) -> LayerContext:
    base.func = "concat_stream"
    base.config["n_pixels"] = pixels(layer)[0]
    return base


@stream_layer.register(Reshape)
def _(layer: Reshape, base: LayerContext, g: Graph) -> LayerContext:
    base.func = "reshape_stream"
    base.config["n_total"] = layer.size
    return base


def _fill(layer: Layer, g: Graph) -> float:
    """Input pixels a layer consumes before its first output (line-buffer fill), 1 for others."""
    if isinstance(layer, (Conv2D, Pool2D)):
        kh, kw = layer.kernel if isinstance(layer, Conv2D) else layer.pool
        width = g.producer(layer.name).shape[1] + layer.padding[2] + layer.padding[3]
        return (kh - 1) * width + kw
    if isinstance(layer, (GlobalPool2D, Dense, Reshape)):
        return pixels(g.producer(layer.name))[0]
    return 1


def branch_depths(g: Graph, fork: Layer) -> dict[str, int]:
    """FIFO depth of each fork output stream (keyed by consumer name); see the module docstring."""
    fork_pixels = pixels(fork)[0]
    lags: dict[str, float] = {}
    for user in g.users(fork.name):
        lag, layer = 0.0, user
        while not isinstance(layer, (Add, Concatenate)):
            lag += _fill(layer, g) * fork_pixels / max(pixels(g.producer(layer.name))[0], 1)
            nxt = g.users(layer.name)
            if len(nxt) != 1:
                break
            layer = nxt[0]
        lags[user.name] = lag
    top = max(lags.values())
    return {name: int(np.ceil(top - lag)) + DEFAULT_DEPTH for name, lag in lags.items()}


def stream_context(graph: Graph, project: str, config) -> dict:
    """Everything `top_stream.cpp.j2` and the shared templates need for an io_stream project."""
    inputs, outputs = graph.inputs(), graph.outputs
    names = layer_names(graph, project, "io_stream")
    out_name = outputs[0]
    # stream feeding each (producer, consumer) edge, and the streams each producer writes
    edge: dict[tuple[str, str], str] = {}
    streams: list[dict[str, object]] = []
    forks: list[dict[str, object]] = []
    for layer in graph.layers():
        ident = names[layer.name]
        main = "in" if isinstance(layer, Input) else ("out" if layer.name == out_name else f"{ident}_out")
        if main not in ("in", "out"):
            streams.append({"name": main, "type": f"{ident}_pix_t", "depth": DEFAULT_DEPTH})
        users = graph.users(layer.name)
        if len(users) <= 1:
            for u in users:
                edge[(layer.name, u.name)] = main
            continue
        depths = branch_depths(graph, layer)
        outs = []
        for u in users:
            var = f"{ident}_to_{names[u.name]}"
            streams.append({"name": var, "type": f"{ident}_pix_t", "depth": depths[u.name]})
            edge[(layer.name, u.name)] = var
            outs.append(var)
        forks.append(
            {
                "after": layer.name,
                "name": f"{ident}_fork",
                "src": main,
                "outs": outs,
                "type": f"{ident}_pix_t",
                "n_pixels": pixels(layer)[0],
            }
        )
    layers: list[LayerContext] = []
    for layer in graph.layers():
        ident = names[layer.name]
        if not isinstance(layer, Input):
            prods = graph.producers(layer.name)
            base = LayerContext(
                name=ident,
                kind=layer.kind,
                func="",
                in_var=", ".join(edge[(p.name, layer.name)] for p in prods),
                out_var="out" if layer.name == out_name else f"{ident}_out",
                in_type=f"{names[prods[0].name]}_pix_t",
                out_type=f"{ident}_pix_t",
                out_size=layer.size,
            )
            layers.append(stream_layer(layer, base, graph))
        for f in forks:
            if f["after"] == layer.name:
                layers.append(
                    LayerContext(
                        name=f["name"],
                        kind="Fork",
                        func="fork_stream",
                        in_var=str(f["src"]),
                        out_var=", ".join(f["outs"]),
                        in_type=str(f["type"]),
                        out_type=str(f["type"]),
                        out_size=0,
                        config={"n_pixels": f["n_pixels"]},
                    )
                )
    in_layer, out_layer = inputs[0], graph[out_name]
    in_t, out_t = in_layer.types["result"], out_layer.types["result"]
    return {
        "io_type": "io_stream",
        "project": project,
        "layers": layers,
        "streams": streams,
        "result_types": {names[lay.name]: lay.types["result"].cpp() for lay in graph.layers()},
        "pixel_sizes": {names[lay.name]: pixels(lay)[1] for lay in graph.layers()},
        "input_name": names[in_layer.name],
        "output_name": names[out_name],
        "n_in": in_layer.size,
        "n_out": out_layer.size,
        "in_chan": pixels(in_layer)[1],
        "out_chan": pixels(out_layer)[1],
        "input_type": in_t.cpp(),
        "output_type": out_t.cpp(),
        "input_width": in_t.width,
        "output_width": out_t.width,
        "input_signed": in_t.signed,
        "output_signed": out_t.signed,
        "in_raw": raw_container(in_t),
        "out_raw": raw_container(out_t),
        "ii": 1,
        "constants": [c for lay in layers for c in lay.constants],
        "part": config.part,
        "clock_period": config.clock_period,
    }
