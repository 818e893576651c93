"""io_stream code generation: one stream per edge, one n2f::*_stream call per layer, forks for fan-out.

Python computes every number here (window geometry, exact sum types, reciprocals, FIFO depths);
the template `top_stream.cpp.j2` only substitutes. Array-level configuration (Dense, activations,
BatchNorm) is shared with io_parallel through `context.layer_context`.

FIFO depths come from the graph (`layer.fifo_depths`, set by `nn2fpga.passes.hardware.size_fifos`).
"""

from __future__ import annotations

import functools

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
from nn2fpga.passes.hardware import DEFAULT_DEPTH, pixels


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


def depth_into(g: Graph, producer: Layer, consumer: Layer) -> int:
    """The FIFO depth the hardware flow chose for the stream from `producer` into `consumer`."""
    index = [p.name for p in g.producers(consumer.name)].index(producer.name)
    return consumer.fifo_depths[index]


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
        users = graph.users(layer.name)
        if main not in ("in", "out"):  # a fork's input stream, or the one edge to the only user
            depth = DEFAULT_DEPTH if len(users) != 1 else depth_into(graph, layer, users[0])
            streams.append({"name": main, "type": f"{ident}_pix_t", "depth": depth})
        if len(users) <= 1:
            for u in users:
                edge[(layer.name, u.name)] = main
            continue
        outs = []
        for u in users:
            var = f"{ident}_to_{names[u.name]}"
            streams.append({"name": var, "type": f"{ident}_pix_t", "depth": depth_into(graph, layer, u)})
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
