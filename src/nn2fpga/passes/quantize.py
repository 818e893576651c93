"""Quantization passes (flow "quantize"): every tensor gets its FixedType, constants are quantized."""

from __future__ import annotations

import functools
import logging
import math

import numpy as np

from nn2fpga.config import EXACT, Config, LayerSettings
from nn2fpga.ir.errors import ConfigError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import (
    Activation,
    Add,
    BatchNorm,
    ChannelScale,
    Conv2D,
    Dense,
    Dot,
    Embedding,
    Layer,
    LayerNorm,
    PReLU,
)
from nn2fpga.ir.recurrent import Recurrent, float64_widths
from nn2fpga.ir.rules import exact_accumulator, layernorm_types, product_type
from nn2fpga.ir.types import MAX_WIDTH, FixedType, Overflow, Rounding

log = logging.getLogger(__name__)


def infer_precision(g: Graph, cfg: Config) -> bool:
    """Set every layer's `types` from the config, compute exact accumulators, quantize constants.

    Pre: the optimize flow ran (BatchNorm folded where possible, ReLU fused). Post: every layer has
    all roles of `type_roles()` as FixedType; weights/biases/scales hold exactly representable
    values of their types. Runs once (returns False).
    """
    for layer in g.layers():
        settings = cfg.resolve(layer)
        types = {role: settings.precision[role] for role in layer.type_roles() if role in settings.precision}
        fused = getattr(layer, "fused", None)
        result_source = settings.source.get("Precision.result")
        if fused is not None:  # a fused activation's configured output type is this layer's output
            fused_settings = cfg.resolve(fused)
            types["result"] = fused_settings.precision["result"]
            result_source = fused_settings.source["Precision.result"]
        producers = g.producers(layer.name)
        in_type = producers[0].types["result"] if len(producers) == 1 else None  # None: Input, Add, Concatenate
        if hasattr(layer, "table_size"):  # Activation, LayerNorm, Recurrent: the entries of each table
            layer.table_size = settings.table_size
        _quantize(layer, types, in_type, settings)
        if "weight" in layer.fixed and result_source == "default":
            _keep_float_output(layer, types)
        layer.types = {k: v for k, v in types.items() if isinstance(v, FixedType)}
        if (isinstance(layer, Add) and layer.op == "multiply") or isinstance(layer, ChannelScale):
            _check_product(layer, [p.types["result"] for p in producers])
        if isinstance(layer, Dot):
            _check_product(layer, [p.types["result"] for p in producers], producers[0].shape[-1])
    return False


def _check_product(layer: Add | Dot | ChannelScale, types: list[FixedType], terms: int = 1) -> None:
    """A Multiply's exact product (a Dot's sum of `terms` products) must fit float64's 53 bits: the reference
    computes them in float64."""
    bits = sum(t.width + (not t.signed) for t in types) + math.ceil(math.log2(terms))
    if bits > 53:
        what = "Multiply" if not isinstance(layer, Dot) else f"Dot (a sum of {terms} products)"
        raise ConfigError(f"LayerName.{layer.name}.Precision: {what} {layer.name!r} of inputs of "
                          f"{' + '.join(str(t.width) for t in types)} bits needs {bits}; at most 53 "
                          "(narrow the inputs' result types)")  # fmt: skip


@functools.singledispatch
def _quantize(layer: Layer, types: dict, in_type: FixedType | None, settings: LayerSettings) -> None:
    """Kinds without constants: the configured types are all there is; a kind that moves values (or adds
    zeros) never converts them, so its result type is its input's."""
    if layer.MOVES_VALUES:
        types["result"] = in_type


@_quantize.register(Dense)
@_quantize.register(Conv2D)
def _(layer: Dense | Conv2D, types: dict, in_type: FixedType | None, settings: LayerSettings) -> None:
    w_t, b_t = types["weight"], types["bias"]
    layer.weight = _quantized(layer, "weight", layer.weight, w_t)
    if layer.bias is not None:
        layer.bias = _quantized(layer, "bias", layer.bias, b_t)
    types["input"] = in_type  # the reference and codegen need it; not a configurable role
    prod = product_type(in_type, w_t)
    exact = exact_accumulator(in_type, w_t, b_t, layer.n_in)
    types["accum"] = _accumulator(layer, types.get("accum", EXACT), exact, prod, settings)


@_quantize.register
def _(layer: BatchNorm, types: dict, in_type: FixedType | None, settings: LayerSettings) -> None:
    for role in ("scale", "bias"):
        setattr(layer, role, _quantized(layer, role, getattr(layer, role), types[role]))


@_quantize.register
def _(layer: Embedding, types: dict, in_type: FixedType | None, settings: LayerSettings) -> None:
    if in_type is None or in_type.signed or in_type.integer != in_type.width or in_type.width > 24:
        raise ConfigError(f"layer {layer.name!r} (Embedding) reads {in_type}; it needs unsigned integer indices")
    layer.weight = _quantized(layer, "weight", layer.weight, types["weight"])
    types["input"] = in_type  # the reference and codegen need it; not a configurable role


@_quantize.register
def _(layer: LayerNorm, types: dict, in_type: FixedType | None, settings: LayerSettings) -> None:
    for role in ("scale", "bias"):
        setattr(layer, role, _quantized(layer, role, getattr(layer, role), types[role]))
    types["input"] = in_type  # the reference and codegen need it; not a configurable role
    t = layernorm_types(in_type, layer.shape[-1])
    widths = {  # what float64 (53 bits) and int64 (62) must hold exactly in the reference
        "the mean's product": (t["sum"].width + types["recip"].width, 53),
        "the sum of squares": (t["sq"].width, 62),
        "the normalized product": (t["diff"].width + types["table"].width, 53),
        "the scaled result": (t["norm"].width + types["scale"].width + 1, 53),
    }
    for what, (bits, most) in widths.items():
        if bits > most:
            raise ConfigError(f"LayerName.{layer.name}.Precision: LayerNorm {layer.name!r}: {what} takes {bits} bits, "
                              f"at most {most} (narrow its input's result type)")  # fmt: skip


@_quantize.register
def _(layer: Recurrent, types: dict, in_type: FixedType | None, settings: LayerSettings) -> None:
    for role, names in (("weight", ("weight", "recurrent")), ("bias", ("bias", "recurrent_bias"))):
        for name in names:
            setattr(layer, name, _quantized(layer, role, getattr(layer, name), types[role]))
    types["input"] = in_type  # the reference and codegen need it; not a configurable role
    layer.types = {k: v for k, v in types.items() if isinstance(v, FixedType)}
    for what, bits in float64_widths(layer).items():
        if bits > 53:
            raise ConfigError(f"LayerName.{layer.name}.Precision: {layer.cell.upper()} {layer.name!r}: {what} takes "
                              f"{bits} bits, at most 53 (narrow its types)")  # fmt: skip


@_quantize.register
def _(layer: PReLU, types: dict, in_type: FixedType | None, settings: LayerSettings) -> None:
    layer.alpha = _quantized(layer, "alpha", layer.alpha, types["alpha"])


@_quantize.register
def _(layer: Activation, types: dict, in_type: FixedType | None, settings: LayerSettings) -> None:
    for role in ("alpha", "slope", "offset", "threshold", "max_value"):
        if role in types:
            setattr(layer, role, float(_quantized(layer, role, getattr(layer, role), types[role])))


def _keep_float_output(layer: Layer, types: dict) -> None:
    """A QKeras layer without an output quantizer keeps its sum in float32: give it the exact accumulator's
    type (no rounding), unless the config sets its result type. Wider than 53 bits stays the default, with a warning.
    The type is recorded in `fixed` of the layer owning the output, so the resolved config names it."""
    accum = types["accum"]
    if accum.width <= 53:
        types["result"] = accum
        owner = layer.fused if getattr(layer, "fused", None) is not None else layer
        owner.fixed["result"] = accum
    else:
        log.warning("layer %s: no output quantizer and a %d-bit accumulator; its output is cast to %s",
                    layer.name, accum.width, types["result"])  # fmt: skip


def _accumulator(
    layer: Dense | Conv2D, given: FixedType | str, exact: FixedType, prod: FixedType, settings
) -> FixedType:
    where = settings.source.get("Precision.accum", "default")
    if where == "default":  # name the key the user would set to change it
        where = f"LayerName.{layer.name}.Precision.accum (default: exact)"
    if given == EXACT:
        if exact.width > MAX_WIDTH:
            raise ConfigError(
                f"{where}: layer {layer.name!r} needs a {exact.width}-bit exact accumulator ({exact}), more than "
                f"{MAX_WIDTH}; lower the input/weight precision or set a narrower accum type"
            )
        return exact
    if given.contains(exact):
        return given
    # Narrower than exact: the sum order then matters unless truncation and wrapping are used,
    # which the C++ and the reference share regardless of loop order (floor and wrap commute with
    # adding values already on the accumulator's grid).
    if given.rounding != Rounding.TRN or given.overflow != Overflow.WRAP:
        raise ConfigError(
            f"{where}: accumulator {given} of layer {layer.name!r} is narrower than exact ({exact}); such "
            f"accumulators must use AP_TRN and AP_WRAP (order-independent), or set accum: exact"
        )
    if prod.width > 62:
        raise ConfigError(f"{where}: products of {prod.width} bits are too wide for a narrow accumulator")
    log.warning("layer %s: accumulator %s is narrower than exact %s and can overflow", layer.name, given, exact)
    return given


def _quantized(layer: Layer, role: str, values: np.ndarray | float, t: FixedType) -> np.ndarray:
    """The constant `values` of `layer`'s `role` on the grid of `t`, with a warning for those outside its range."""
    if t.width > 53:
        raise ConfigError(f"layer {layer.name!r}: {role} type {t} is wider than 53 bits (constants are float64)")
    v = np.asarray(values, dtype=np.float64)
    outside = (v > t.max) | (v < t.min)
    if outside.any():
        log.warning(
            "layer %s: %d of %d %s values lie outside %s [%g, %g] and saturate/wrap",
            layer.name,
            int(outside.sum()),
            v.size,
            role,
            t,
            t.min,
            t.max,
        )
    return t.quantize(values)
