"""io_stream code generation: one stream per edge, one n2f::*_stream call per layer, forks for fan-out.

Python computes every number here (window geometry, exact sum types, reciprocals, FIFO depths);
the template `top_stream.cpp.j2` only substitutes. Array-level configuration (Dense, activations,
BatchNorm, pooling, padding) is shared with io_parallel through `context.layer_context`.

FIFO depths come from the graph (`layer.fifo_depths`, set by `nn2fpga.passes.hardware.size_fifos`).
"""

from __future__ import annotations

import functools
import math

from nn2fpga.codegen.constants import LINE_BITS, LayerContext, linear_constants, merge_config, pool_types, weight_words
from nn2fpga.codegen.context import (
    base_context,
    io_context,
    layer_context,
    layer_names,
)
from nn2fpga.codegen.shapes import transpose_config, window_config
from nn2fpga.estimate.geometry import STREAMED, in_lanes, matrix
from nn2fpga.ir.errors import ModelError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import (
    Activation,
    Add,
    BatchNorm,
    ChannelScale,
    Concatenate,
    Conv2D,
    Crop2D,
    Dense,
    DepthwiseConv2D,
    Dot,
    Embedding,
    GlobalPool2D,
    Input,
    Layer,
    LayerNorm,
    Linear,
    Pool2D,
    PReLU,
    Reshape,
    Transpose,
    UpSample2D,
    ZeroPad2D,
)
from nn2fpga.ir.names import port_var, stream_names
from nn2fpga.ir.recurrent import Recurrent
from nn2fpga.passes.hardware import DEFAULT_DEPTH, pixels


@functools.singledispatch
def stream_layer(layer: Layer, base: LayerContext) -> LayerContext:
    raise ModelError(f"layer {layer.name!r} ({layer.kind}) has no io_stream implementation")


@stream_layer.register(Activation)
@stream_layer.register(BatchNorm)
@stream_layer.register(PReLU)
@stream_layer.register(LayerNorm)
@stream_layer.register(Dense)
@stream_layer.register(Pool2D)
@stream_layer.register(ZeroPad2D)
@stream_layer.register(Crop2D)
@stream_layer.register(UpSample2D)
@stream_layer.register(Transpose)
@stream_layer.register(Embedding)
@stream_layer.register(Recurrent)
def _(layer: Layer, base: LayerContext) -> LayerContext:
    # the array function's configuration; its _stream variant applies it to each pixel (Dense: the whole
    # vector, Pool2D and ZeroPad2D: the window geometry)
    ctx = layer_context(layer, base)
    ctx.func = f"{ctx.func}_stream"
    if isinstance(layer, (Activation, BatchNorm, PReLU, LayerNorm)):
        n_pix, chan = pixels(layer)
        ctx.config.update(n=chan, n_chan=chan, n_pixels=n_pix)
    if isinstance(layer, Transpose):  # in words of its lanes
        ctx.config.update(transpose_config(layer, base.inputs[0].shape, layer.lanes))
    if isinstance(layer, Dense):
        stream_weights(layer, ctx)
    return ctx


def stream_weights(layer: Linear, base: LayerContext) -> None:
    """The weight words of a folded stream layer (n2f::wword, one step each), and for WeightStorage uram /
    offchip the port its weight_reader process reads them from (`base.port`)."""
    rows, cols, _ = matrix(layer)
    words = rows * cols // (layer.pe * layer.simd)
    base.config.update(uram=layer.weight_storage == "uram", w_words=words, steps=rows // layer.simd)
    if layer.weight_storage not in STREAMED:
        return
    bits = layer.types["weight"].container_bits
    per_line = LINE_BITS // bits
    lines = -(-layer.pe * layer.simd // per_line)
    base.config.update(w_lines=lines, w_per_line=per_line, w_bits=bits)
    uram = layer.weight_storage == "uram"
    per_image = words * math.prod(layer.shape[:-1])  # offchip: the matrix again for every output pixel
    base.port = {
        "layer": base.name,
        "mem": f"{base.name}_wmem",
        "stream": f"{base.name}_ws",
        "words": f"load ? {words} : 0" if uram else str(per_image),
        "lines": words * lines,
        "uram": uram,
        "image": weight_words(layer),
    }


@stream_layer.register(Conv2D)
def _(layer: Conv2D, base: LayerContext) -> LayerContext:
    rows, cols, _ = matrix(layer)
    depthwise = isinstance(layer, DepthwiseConv2D)
    base.func = "conv2d_stream"
    base.config.update(
        window_config(layer, base.inputs[0], layer.kernel, layer.strides),
        n_filt=cols,
        n_rows=rows,
        pe=layer.pe,
        simd=layer.simd,
        depthwise=depthwise,
        relu=layer.activation == "relu",
        fabric=layer.multipliers == "lut",
        packed=layer.multipliers == "packed",
        reuse_factor=layer.reuse_factor,
        strategy=f"n2f::{layer.strategy}",
    )
    stream_weights(layer, base)
    return linear_constants(layer, base)


@stream_layer.register(GlobalPool2D)
def _(layer: GlobalPool2D, base: LayerContext) -> LayerContext:
    src = base.inputs[0]
    n_pix, chan = pixels(src)
    base.func = "global_pool_stream"
    base.config.update(n_chan=chan, n_pixels=n_pix)
    pool_types(layer, base, src.types["result"], n_pix)
    return base


@stream_layer.register(Add)
def _(layer: Add, base: LayerContext) -> LayerContext:
    base.func = "add_stream"
    base.config.update(n_words=layer.size // layer.lanes)
    merge_config(layer, base)
    return base


@stream_layer.register(ChannelScale)
def _(layer: ChannelScale, base: LayerContext) -> LayerContext:
    ctx = layer_context(layer, base)
    ctx.func = "channel_scale_stream"
    return ctx


@stream_layer.register(Dot)
def _(layer: Dot, base: LayerContext) -> LayerContext:
    ctx = layer_context(layer, base)
    ctx.func = "dot_stream"
    ctx.config["n_words"] = base.inputs[0].shape[-1] // in_lanes(layer)
    return ctx


@stream_layer.register(Concatenate)
def _(layer: Concatenate, base: LayerContext) -> LayerContext:
    base.func = "concat_stream"
    base.config["n_pixels"] = pixels(layer)[0]
    return base


@stream_layer.register(Reshape)
def _(layer: Reshape, base: LayerContext) -> LayerContext:
    base.func = "reshape_stream"
    base.config["n_total"] = layer.size
    return base


def depth_into(g: Graph, producer: Layer, consumer: Layer) -> int:
    """The FIFO depth the hardware flow chose for the stream from `producer` into `consumer`."""
    index = [p.name for p in g.producers(consumer.name)].index(producer.name)
    return consumer.fifo_depths[index]


def converter(name: str, src: str, src_type: str, dst_type: str, n_values: int, a: int, b: int) -> LayerContext:
    """A width converter process from `a` to `b` lanes, writing stream `name`."""
    return LayerContext(
        name=name,
        kind="Convert",
        func="convert_stream",
        in_var=src,
        out_var=name,
        in_type=src_type,
        out_type=dst_type,
        out_size=n_values,
        config={"n_values": n_values, "group": math.lcm(a, b)},
    )


def stream_context(graph: Graph, project: str, config) -> dict:
    """Everything `top_stream.cpp.j2` and the shared templates need for an io_stream project."""
    names = layer_names(graph, project)
    named = stream_names(graph, project)  # the stream on each edge (the names `Streams:` sets depths by)
    args = {layer.name: port_var(k, False) for k, layer in enumerate(graph.inputs())}  # top-function arguments
    args |= {name: port_var(k, True) for k, name in enumerate(graph.outputs)}
    edge: dict[tuple[str, str], str] = {}  # the stream of each (producer, consumer) edge
    streams: list[dict[str, object]] = []
    layers: list[LayerContext] = []
    word_types: dict[str, tuple[str, int, int]] = {}  # pixel type -> (value type, lanes, channels)
    for layer in graph.layers():  # producers come first: the streams into `layer` are known
        ident, users = names[layer.name], graph.users(layer.name)
        pix_t = f"{ident}_pix_t"
        word_types[pix_t] = (f"{ident}_result_t", layer.lanes, pixels(layer)[1])
        main = args.get(layer.name, f"{ident}_out")
        if not isinstance(layer, Input):
            in_vars = []
            for p in graph.producers(layer.name):  # a width converter where the lanes differ
                var, a, b = edge[p.name, layer.name], p.lanes, in_lanes(layer)
                if a != b:
                    dwc_t = f"{var}_dwc_pix_t"
                    word_types[dwc_t] = (f"{names[p.name]}_result_t", b, pixels(p)[1])
                    layers.append(converter(f"{var}_dwc", var, f"{names[p.name]}_pix_t", dwc_t, p.size, a, b))
                    streams.append({"name": f"{var}_dwc", "type": dwc_t, "depth": DEFAULT_DEPTH})
                    var = f"{var}_dwc"
                in_vars.append(var)
            base = base_context(graph, names, layer, in_vars, "_pix_t")
            if in_vars[0].endswith("_dwc"):
                base.in_type = f"{in_vars[0]}_pix_t"
            base.out_var = main
            layers.append(stream_layer(layer, base))
        if layer.name not in args:  # a fork's input stream, or the one edge to the only user
            depth = DEFAULT_DEPTH if len(users) != 1 else depth_into(graph, layer, users[0])
            streams.append({"name": main, "type": pix_t, "depth": depth})
        edge.update({(layer.name, u.name): named[layer.name, u.name] for u in users})
        if len(users) <= 1:
            continue
        outs = [named[layer.name, u.name] for u in users]
        for u, var in zip(users, outs):
            streams.append({"name": var, "type": pix_t, "depth": depth_into(graph, layer, u)})
        layers.append(
            LayerContext(
                name=f"{ident}_fork",
                kind="Fork",
                func="fork_stream",
                in_var=main,
                out_var=", ".join(outs),
                in_type=pix_t,
                out_type=pix_t,
                out_size=0,
                config={"n_words": layer.size // layer.lanes},
            )
        )
    ports, offset = [], 0
    for ctx in [c for c in layers if c.port]:  # a weight_reader process and a weight stream per streamed layer
        ctx.port["offset"] = offset
        offset += ctx.port["lines"]
        ports.append(ctx.port)
        streams.append({"name": ctx.port["stream"], "type": f"n2f::wword<config_{ctx.name}>", "depth": DEFAULT_DEPTH})
        reader = LayerContext(ctx.name + "_weights", "Reader", "weight_reader", ctx.port["mem"], ctx.port["stream"],
                              "", "", 0, config={"of": ctx.name}, alias=True)  # fmt: skip
        layers.insert(layers.index(ctx), reader)
    for i, ctx in enumerate(layers):
        ctx.config["id"] = i  # the trip counter of bounded C simulation
        if ctx.kind == "Reader":
            next(c for c in layers if c.name == ctx.config["of"]).config["reader_id"] = i
    return {
        **io_context(graph, project, config, names, layers),
        "io_type": "io_stream",
        "streams": streams,
        "word_types": word_types,
        "weight_ports": ports,  # uram / offchip layers: a kernel argument each, into weights/streamed.bin
        "load": any(p["uram"] for p in ports),
    }
