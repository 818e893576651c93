"""Layer -> template dictionaries: Python computes every number, templates only substitute and loop.

One function per layer kind (`layer_context`), plus `project_context` for the whole project; `base_context`
and `io_context` are what io_stream (`stream.py`) shares with it. C++ identifiers come from `cpp_name`,
which makes them legal, unique and stable.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from nn2fpga.codegen.constants import (
    LayerContext,
    add_constant,
    linear_constants,
    merge_config,
    pool_types,
)
from nn2fpga.codegen.ports import check_ports, load_order, ports, store_order
from nn2fpga.codegen.shapes import spatial_config, transpose_config, window_config
from nn2fpga.estimate.geometry import latency_kernel
from nn2fpga.ir.errors import ModelError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import (
    CENTRED_TABLE_FNS,
    TAIL_TABLE_FNS,
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
    Pool2D,
    PReLU,
    Reshape,
    Transpose,
    UpSample2D,
    ZeroPad2D,
)
from nn2fpga.ir.names import layer_idents, port_var
from nn2fpga.ir.recurrent import GATES, Recurrent, gru_inner, recurrent_accum
from nn2fpga.ir.rules import product_type, reciprocal, reciprocals, sum_type
from nn2fpga.ir.tables import TAIL_FROM, activation_tables, layernorm_parts, recurrent_tables


@functools.singledispatch
def layer_context(layer: Layer, base: LayerContext) -> LayerContext:
    raise ModelError(f"layer {layer.name!r} ({layer.kind}) has no io_parallel implementation; use IOType: io_stream")


@layer_context.register
def _(layer: Reshape, base: LayerContext) -> LayerContext:
    base.alias = True
    base.out_var = base.in_var
    return base


@layer_context.register
def _(layer: Dense, base: LayerContext) -> LayerContext:
    base.func = "dense"
    base.config.update(
        n_in=layer.n_in,
        n_out=layer.n_out,
        pe=layer.pe,
        simd=layer.simd,
        depthwise=False,
        reuse_factor=layer.reuse_factor,
        multiplier_limit=layer.multiplier_limit,
        strategy=f"n2f::{layer.strategy}",
        relu=layer.activation == "relu",
        fabric=layer.multipliers == "lut",
        packed=layer.multipliers == "packed",
    )
    return linear_constants(layer, base)


@layer_context.register
def _(layer: Conv2D, base: LayerContext) -> LayerContext:
    # the Dense kernel on each output pixel's window: n_in = kh*kw*n_chan (depthwise: kh*kw), n_out
    base.func = "conv2d"
    base.config.update(
        window_config(layer, base.inputs[0], layer.kernel, layer.strides),
        n_in=layer.n_in,
        n_out=layer.n_out,
        pe=layer.pe,
        simd=layer.simd,
        depthwise=isinstance(layer, DepthwiseConv2D),
        reuse_factor=layer.reuse_factor,
        multiplier_limit=layer.multiplier_limit,
        strategy=f"n2f::{layer.strategy}",
        relu=layer.activation == "relu",
        fabric=layer.multipliers == "lut",
    )
    return linear_constants(layer, base)


@layer_context.register
def _(layer: Pool2D, base: LayerContext) -> LayerContext:
    src = base.inputs[0]
    base.func = "pool2d"
    base.config.update(window_config(layer, src, layer.pool, layer.strides))
    n = layer.pool[0] * layer.pool[1]
    pool_types(layer, base, src.types["result"], n)
    if layer.op == "avg" and any(layer.padding):  # 1/count per number of taps inside the input, 0 for none
        table = np.concatenate([[0.0], reciprocals(layer, np.arange(1, n + 1))])
        add_constant(base, "recip", "r", table, layer.types["recip"])
    return base


@layer_context.register
def _(layer: GlobalPool2D, base: LayerContext) -> LayerContext:
    src = base.inputs[0]
    n_pixels = math.prod(src.shape[:-1])
    base.func = "global_pool"
    base.config.update(n_pixels=n_pixels, n_chan=src.shape[-1])
    pool_types(layer, base, src.types["result"], n_pixels)
    return base


@layer_context.register
def _(layer: ZeroPad2D, base: LayerContext) -> LayerContext:
    base.func = "zeropad"
    base.config.update(window_config(layer, base.inputs[0], (1, 1), (1, 1)))
    return base


@layer_context.register
def _(layer: Crop2D, base: LayerContext) -> LayerContext:
    base.func = "crop"
    base.config.update(spatial_config(layer, base.inputs[0]), crop_t=layer.cropping[0], crop_l=layer.cropping[2])
    return base


@layer_context.register
def _(layer: UpSample2D, base: LayerContext) -> LayerContext:
    base.func = "upsample"
    base.config.update(spatial_config(layer, base.inputs[0]), up_h=layer.factor[0], up_w=layer.factor[1])
    return base


@layer_context.register
def _(layer: Transpose, base: LayerContext) -> LayerContext:
    base.func = "transpose"
    base.config.update(transpose_config(layer, base.inputs[0].shape))
    return base


@layer_context.register
def _(layer: Embedding, base: LayerContext) -> LayerContext:
    base.func = "embedding"
    rows, dim = 2 ** layer.types["input"].width, layer.weight.shape[1]
    base.config.update(n_in=layer.shape[0], dim=dim, rows=rows)
    table = layer.padded(layer.types["input"].width)
    add_constant(base, "weight", "w", table.ravel(), layer.types["weight"])
    return base


@layer_context.register
def _(layer: LayerNorm, base: LayerContext) -> LayerContext:
    base.func = "layernorm"
    t, table, shift = layernorm_parts(layer)
    n = layer.shape[-1]
    base.config.update(n=layer.size, n_chan=n, per_channel=False, recip=reciprocal(layer, n), shift=shift,
                       table_size=table.size)  # fmt: skip
    base.typedefs.update({f"{k}_t": v.cpp() for k, v in t.items()}, recip_t=layer.types["recip"].cpp())
    add_constant(base, "scale", "s", layer.scale, layer.types["scale"], (layer.name, "scale"))
    add_constant(base, "bias", "b", layer.bias, layer.types["bias"], (layer.name, "bias"))
    add_constant(base, "table", "t", table.values, table.dtype)
    return base


@layer_context.register
def _(layer: Recurrent, base: LayerContext) -> LayerContext:
    base.func = "recurrent"
    t = layer.types
    tanh, sig = recurrent_tables(layer)
    steps = base.inputs[0].shape[0]
    base.config.update(n_in=layer.n_in, units=layer.units, steps=steps, gates=GATES[layer.cell], n_out=layer.size,
                       cell=list(GATES).index(layer.cell), return_sequences=layer.return_sequences,
                       table_size=tanh.size, tanh_k=tanh.k, tanh_offset=tanh.offset, sig_k=sig.k,
                       sig_offset=sig.offset)  # fmt: skip
    base.typedefs["accum_t"] = recurrent_accum(layer).cpp()
    base.typedefs["cell_t"] = t.get("cell", t["result"]).cpp()
    base.typedefs["inner_t"] = gru_inner(layer).cpp()
    for var, name, role in (("w", "weight", "weight"), ("u", "recurrent", "weight"), ("b", "bias", "bias"),
                            ("rb", "recurrent_bias", "bias")):  # fmt: skip
        add_constant(base, role, var, getattr(layer, name), t[role], (layer.name, name))
    add_constant(base, "table", "tanh", tanh.values, tanh.dtype)
    add_constant(base, "rec_table", "sig", sig.values, sig.dtype)
    return base


@layer_context.register
def _(layer: PReLU, base: LayerContext) -> LayerContext:
    base.func = "prelu"
    base.config.update(n=layer.size, n_chan=layer.shape[-1], per_channel=True)
    add_constant(base, "alpha", "a", layer.alpha, layer.types["alpha"], (layer.name, "alpha"))
    return base


@layer_context.register
def _(layer: Add, base: LayerContext) -> LayerContext:
    # the exact merge of all inputs, optional fused ReLU, one cast
    base.func = "add"
    base.config.update(n=layer.size)
    merge_config(layer, base)
    return base


@layer_context.register
def _(layer: ChannelScale, base: LayerContext) -> LayerContext:
    base.func = "channel_scale"
    base.config.update(n=layer.size, n_chan=layer.shape[-1], n_pixels=layer.size // layer.shape[-1])
    return base


@layer_context.register
def _(layer: Dot, base: LayerContext) -> LayerContext:
    base.func = "dot"
    n = base.inputs[0].shape[-1]
    a, b = (p.types["result"] for p in base.inputs)
    base.config.update(n=n)
    base.typedefs["sum_t"] = sum_type(product_type(a, b), n).cpp()
    return base


@layer_context.register
def _(layer: Concatenate, base: LayerContext) -> LayerContext:
    base.func = "concat"
    base.config.update(n=layer.size, n_pixels=math.prod(layer.shape[:-1]), n_chan=layer.shape[-1])
    base.template_args = [str(p.shape[-1]) for p in base.inputs]
    return base


@layer_context.register
def _(layer: BatchNorm, base: LayerContext) -> LayerContext:
    base.func = "batchnorm"
    base.config.update(n=layer.size, n_chan=layer.shape[-1], per_channel=True)
    add_constant(base, "scale", "s", layer.scale, layer.types["scale"], (layer.name, "scale"))
    add_constant(base, "bias", "b", layer.bias, layer.types["bias"], (layer.name, "bias"))
    return base


@layer_context.register
def _(layer: Activation, base: LayerContext) -> LayerContext:
    t = layer.types
    base.config.update(n=layer.size, n_chan=layer.shape[-1], per_channel=False)
    funcs = dict.fromkeys(CENTRED_TABLE_FNS, "table_activation")
    funcs |= dict.fromkeys(TAIL_TABLE_FNS, "tail_table_activation")
    base.func = funcs.get(layer.fn, layer.fn)
    for role in ("alpha", "slope", "offset", "threshold", "max_value"):
        if role in t:
            base.typedefs[f"{role}_t"] = t[role].cpp()
            base.config[role] = float(getattr(layer, role))
    if layer.fn == "relu_clip":
        base.config["has_max"] = layer.max_value is not None
        if layer.max_value is None:  # the template still names the type and the constant
            base.typedefs["max_value_t"], base.config["max_value"] = t["threshold"].cpp(), 0.0
    if layer.fn in TAIL_TABLE_FNS:
        base.config.update(tail_from=TAIL_FROM[layer.fn], scaled_tail=layer.fn == "selu")
        if "slope" not in t:  # the template names slope_t; only selu's tail multiplies by it
            base.typedefs["slope_t"], base.config["slope"] = "ap_uint<1>", 1.0
    tables = activation_tables(layer.fn, t, layer.shape[-1], layer.alpha, layer.table_size)
    for key, table in tables.items():
        add_constant(base, key, key, table.values, table.dtype)
    if layer.fn in (*CENTRED_TABLE_FNS, *TAIL_TABLE_FNS):
        table = tables["table"]
        base.config.update(table_size=table.size, table_k=table.k, table_offset=table.offset)
    if layer.fn == "softmax":
        exp_t, inv_t = tables["exp_table"], tables["inv_table"]
        base.config.update(
            n_last=layer.shape[-1], table_size=exp_t.size, exp_k=exp_t.k, inv_k=inv_t.k, inv_offset=inv_t.offset
        )
        base.typedefs["sum_t"] = sum_type(exp_t.dtype, layer.shape[-1]).cpp()
    return base


def interval(layer: Layer) -> int:
    """Clock cycles between inputs a layer accepts in io_parallel: its reuse factor for Dense; a
    convolution reuses its kernel*in*out/reuse_factor multipliers for every output pixel."""
    if isinstance(layer, Conv2D):
        return layer.reuse_factor * math.prod(layer.shape[:-1])
    return layer.reuse_factor


def layer_names(graph: Graph, project: str) -> dict[str, str]:
    """C++ identifiers of the layers of a graph whose outputs end branches (ModelError for any other)."""
    check_ports(graph)
    return layer_idents(graph, project)


def base_context(graph: Graph, names: dict[str, str], layer: Layer, in_vars: list[str], suffix: str) -> LayerContext:
    """A layer's context before its kind fills it in: C++ names, the variables its producers write, and
    types `<name><suffix>` (result arrays in io_parallel, pixels in io_stream)."""
    ident, prods = names[layer.name], graph.producers(layer.name)
    return LayerContext(
        name=ident,
        kind=layer.kind,
        func="",
        in_var=", ".join(in_vars),
        out_var=f"{ident}_out",
        in_type=f"{names[prods[0].name]}{suffix}",
        out_type=f"{ident}{suffix}",
        out_size=layer.size,
        inputs=prods,
        merges=layer.MERGES,
    )


def io_context(graph: Graph, project: str, config, names: dict[str, str], layers: list[LayerContext]) -> dict:
    """What the templates need in either IOType: the layers and their constants, the kernel's ports
    (`nn2fpga.codegen.ports`), the target part and clock."""
    inputs, outputs = ports(graph)
    return {
        "project": project,
        "layers": layers,
        "result_types": {names[lay.name]: lay.types["result"].cpp() for lay in graph.layers()},
        "inputs": inputs,
        "outputs": outputs,
        "load_order": load_order(inputs),
        "store_order": store_order(outputs),
        "in_words": sum(p.words for p in inputs),
        "out_words": sum(p.words for p in outputs),
        "constants": [c for lay in layers for c in lay.constants if c.onchip],  # compiled into the firmware
        "all_constants": [c for lay in layers for c in lay.constants],  # saved in weights/*.npy
        "weight_ports": [],  # io_stream: uram / offchip layers (codegen.stream)
        "load": False,
        "part": config.part,
        "clock_period": config.clock_period,
    }


def project_context(graph: Graph, project: str, config) -> dict:
    """Everything the templates need for an io_parallel project."""
    names = layer_names(graph, project)
    layers: list[LayerContext] = []
    var_of = {layer.name: port_var(k, False) for k, layer in enumerate(graph.inputs())}
    out_var = {name: port_var(k, True) for k, name in enumerate(graph.outputs)}
    for layer in graph.layers():
        if isinstance(layer, Input):
            continue
        in_vars = [var_of[p.name] for p in graph.producers(layer.name)]
        ctx = layer_context(layer, base_context(graph, names, layer, in_vars, "_result_t"))
        if layer.name in out_var and not ctx.alias:  # an output no other layer reads (check_ports)
            k = graph.outputs.index(layer.name)
            ctx.out_var, ctx.out_type, ctx.argument = out_var[layer.name], f"result{k or ''}_t", True
        var_of[layer.name] = ctx.out_var
        layers.append(ctx)
    for k, name in enumerate(graph.outputs):  # an output a reshape gives: copy into its argument
        if var_of[name] == out_var[name]:
            continue
        out_layer = graph[name]
        layers.append(
            LayerContext(
                name=f"output{k or ''}_copy",
                kind="Copy",
                func="linear",
                in_var=var_of[name],
                out_var=out_var[name],
                in_type=f"{names[name]}_result_t",
                out_type=f"result{k or ''}_t",
                out_size=out_layer.size,
                config={"n": out_layer.size},
                argument=True,
            )
        )
    ii = max([interval(lay) for lay in graph.layers() if lay.HAS_MULTIPLIERS] or [1])
    # a pipelined top unrolls every loop inside it: only for fully unrolled (Latency Dense) layers
    pipelined = all(latency_kernel(lay, "io_parallel") for lay in graph.layers() if lay.HAS_MULTIPLIERS)
    return {
        **io_context(graph, project, config, names, layers),
        "io_type": "io_parallel",
        "ii": ii,
        "pipelined": pipelined,
    }
