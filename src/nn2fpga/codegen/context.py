"""Layer -> template dictionaries: Python computes every number, templates only substitute and loop.

One function per layer kind (`layer_context`), plus `project_context` for the whole project.
C++ identifiers come from `cpp_name`, which makes them legal, unique and stable.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import numpy as np

from nn2fpga.errors import ModelError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Activation, BatchNorm, Dense, Input, Layer, Reshape
from nn2fpga.ir.tables import TABLE_SIZE, activation_tables
from nn2fpga.ir.types import FixedType, sum_type

CPP_KEYWORDS = frozenset(
    "alignas alignof and asm auto bool break case catch char class const constexpr continue default delete do double "
    "else enum explicit extern false float for friend goto if inline int long namespace new not operator or private "
    "protected public register return short signed sizeof static struct switch template this throw true try typedef "
    "typename union unsigned using virtual void volatile while".split()
)


def cpp_name(name: str, taken: set[str] | None = None) -> str:
    """A legal C++ identifier for `name` (stable: the same name gives the same identifier)."""
    ident = re.sub(r"\W", "_", name)
    if not ident or ident[0].isdigit() or ident in CPP_KEYWORDS or ident.startswith("n2f"):
        ident = "l_" + ident
    if taken is not None:
        base, k = ident, 1
        while ident in taken:
            ident, k = f"{base}_{k}", k + 1
        taken.add(ident)
    return ident


@dataclass
class Constant:
    """A constant array: `const type var[size]` for synthesis (exact literals), and raw integers in
    weights/<var>.npy that the C simulation loads at run time."""

    var: str
    ctype: str
    values: np.ndarray  # float64, exact values of dtype
    dtype: FixedType
    source: tuple[str, str] | None = None  # (layer name, field) whose values these are, row-major

    @property
    def size(self) -> int:
        return int(self.values.size)

    @property
    def raw_ctype(self) -> str:
        return raw_container(self.dtype)

    def raw(self) -> np.ndarray:
        return self.dtype.to_raw(self.values.ravel()).astype(np.dtype(self.raw_ctype.removesuffix("_t")))

    def initializer(self) -> str:
        """Exact C++ literals `raw*S_` with `S_` = 2^-F (a power of two: the product is exact in double).

        Integers format about 4x faster than repr() of floats, which matters for 25 M ResNet weights.
        """
        raw = self.dtype.to_raw(self.values.ravel()).astype(np.int64).tolist()
        if self.dtype.frac == 0:
            return ",".join(map(str, raw))
        return "*S_,".join(map(str, raw)) + "*S_"

    @property
    def scale_literal(self) -> str:
        return repr(2.0**-self.dtype.frac)


@dataclass
class LayerContext:
    name: str  # C++ identifier
    kind: str
    func: str  # n2f:: function
    in_var: str
    out_var: str
    in_type: str
    out_type: str
    out_size: int
    config: dict[str, object] = field(default_factory=dict)  # static const members
    typedefs: dict[str, str] = field(default_factory=dict)  # typedef members
    constants: list[Constant] = field(default_factory=list)
    alias: bool = False  # no code: out_var is the input's buffer (reshape)


def raw_container(t: FixedType) -> str:
    """The C integer type that carries one raw value of `t` across the kernel interface."""
    bits = next(b for b in (8, 16, 32, 64) if t.width <= b)
    return f"{'' if t.signed else 'u'}int{bits}_t"


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
    n = layer.n_multiplications
    base.config.update(
        n_in=layer.n_in,
        n_out=layer.n_out,
        reuse_factor=layer.reuse_factor,
        multiplier_limit=-(-n // layer.reuse_factor),
        strategy=f"n2f::{layer.strategy}",
        relu=layer.activation == "relu",
    )
    return linear_constants(layer, base, layer.weight)


def linear_constants(layer: Dense, base: LayerContext, weight: np.ndarray) -> LayerContext:
    """Typedefs and constant arrays (weights row-major, bias or zeros) of a Dense/Conv layer."""
    t = layer.types
    base.typedefs.update(accum_t=t["accum"].cpp(), weight_t=t["weight"].cpp(), bias_t=t["bias"].cpp())
    bias = layer.bias if layer.bias is not None else np.zeros(layer.n_out)
    base.constants = [
        Constant(f"{base.name}_w", f"config_{base.name}::weight_t", weight, t["weight"], (layer.name, "weight")),
        Constant(
            f"{base.name}_b",
            f"config_{base.name}::bias_t",
            bias,
            t["bias"],
            (layer.name, "bias") if layer.bias is not None else None,
        ),
    ]
    return base


@layer_context.register
def _(layer: BatchNorm, base: LayerContext) -> LayerContext:
    base.func = "batchnorm"
    base.config.update(n=layer.size, n_chan=layer.shape[-1])
    base.typedefs.update(scale_t=layer.types["scale"].cpp(), bias_t=layer.types["bias"].cpp())
    base.constants = [
        Constant(
            f"{base.name}_s", f"config_{base.name}::scale_t", layer.scale, layer.types["scale"], (layer.name, "scale")
        ),
        Constant(
            f"{base.name}_b", f"config_{base.name}::bias_t", layer.bias, layer.types["bias"], (layer.name, "bias")
        ),
    ]
    return base


@layer_context.register
def _(layer: Activation, base: LayerContext) -> LayerContext:
    t = layer.types
    base.config.update(n=layer.size)
    base.func = {"sigmoid": "table_activation", "tanh": "table_activation"}.get(layer.fn, layer.fn)
    for role in ("alpha", "slope", "offset"):
        if role in t:
            base.typedefs[f"{role}_t"] = t[role].cpp()
            base.config[role] = float(getattr(layer, role))
    tables = activation_tables(layer.fn, t, layer.shape[-1])
    for key, table in tables.items():
        base.typedefs[f"{key}_t"] = table.dtype.cpp()
        base.constants.append(Constant(f"{base.name}_{key}", f"config_{base.name}::{key}_t", table.values, table.dtype))
    if layer.fn in ("sigmoid", "tanh"):
        table = tables["table"]
        base.config.update(table_size=table.size, table_k=table.k, table_offset=table.offset)
    if layer.fn == "softmax":
        exp_t, inv_t = tables["exp_table"], tables["inv_table"]
        base.config.update(
            n_last=layer.shape[-1], table_size=TABLE_SIZE, exp_k=exp_t.k, inv_k=inv_t.k, inv_offset=inv_t.offset
        )
        base.typedefs["sum_t"] = sum_type(exp_t.dtype, layer.shape[-1]).cpp()
    return base


def project_context(graph: Graph, project: str, config) -> dict:
    """Everything the templates need for an io_parallel project."""
    inputs, outputs = graph.inputs(), graph.outputs
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(
            f"io_parallel projects take one input and one output; this model has {len(inputs)} and {len(outputs)}"
        )
    taken: set[str] = {project, "in", "out"}
    names = {layer.name: cpp_name(layer.name, taken) for layer in graph.layers()}
    layers: list[LayerContext] = []
    var_of: dict[str, str] = {}
    for layer in graph.layers():
        ident = names[layer.name]
        if isinstance(layer, Input):
            var_of[layer.name] = "in"
            continue
        src = graph.producer(layer.name)
        base = LayerContext(
            name=ident,
            kind=layer.kind,
            func="",
            in_var=var_of[src.name],
            out_var=f"{ident}_out",
            in_type=f"{names[src.name]}_result_t",
            out_type=f"{ident}_result_t",
            out_size=layer.size,
        )
        ctx = layer_context(layer, base)
        var_of[layer.name] = ctx.out_var
        layers.append(ctx)
    in_layer = inputs[0]
    out_layer = graph[outputs[0]]
    result_types = {names[lay.name]: lay.types["result"].cpp() for lay in graph.layers()}
    if layers and not layers[-1].alias:
        layers[-1].out_var = "out"
    else:  # the model ends in a reshape or is an input alone: copy into out
        layers.append(
            LayerContext(
                name="output_copy",
                kind="Copy",
                func="linear",
                in_var=var_of[out_layer.name],
                out_var="out",
                in_type=f"{names[out_layer.name]}_result_t",
                out_type="result_t",
                out_size=out_layer.size,
                config={"n": out_layer.size},
            )
        )
    in_t, out_t = in_layer.types["result"], out_layer.types["result"]
    return {
        "io_type": "io_parallel",
        "project": project,
        "layers": layers,
        "result_types": result_types,
        "input_name": names[in_layer.name],
        "output_name": names[out_layer.name],
        "n_in": in_layer.size,
        "n_out": out_layer.size,
        "input_type": in_t.cpp(),
        "output_type": out_t.cpp(),
        "input_width": in_t.width,
        "output_width": out_t.width,
        "input_signed": in_t.signed,
        "output_signed": out_t.signed,
        "in_raw": raw_container(in_t),
        "out_raw": raw_container(out_t),
        "ii": max([lay.reuse_factor for lay in graph.layers() if lay.HAS_MULTIPLIERS] or [1]),
        "constants": [c for lay in layers for c in lay.constants],
        "part": config.part,
        "clock_period": config.clock_period,
    }
