"""Constant arrays and the layer context that carries them: the weights, biases, scales and tables of a
layer as C++ arrays (exact literals for synthesis, raw integers in weights/*.npy for the C simulation), and
the pragmas that put a folded layer's weights into PE banks of SIMD-wide words in a named memory."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

import numpy as np

from nn2fpga.estimate.geometry import STREAMED, matrix, weight_memory
from nn2fpga.ir.layers import MERGE_OPS, Add, Conv2D, Dense, GlobalPool2D, Layer, Linear, Pool2D
from nn2fpga.ir.rules import product_type, raw_container, reciprocal, sum_type, union_type
from nn2fpga.ir.types import FixedType


@dataclass
class Constant:
    """A constant array: `const type var[size]` for synthesis (exact literals), and raw integers in
    weights/<var>.npy that the C simulation loads at run time."""

    var: str
    ctype: str
    values: np.ndarray  # float64, exact values of dtype
    dtype: FixedType
    source: tuple[str, str] | None = None  # (layer name, field) whose values these are, row-major
    dims: tuple[int, ...] = ()  # the C++ array's dimensions (row-major over the same values); () = flat
    onchip: bool = True  # False: weights streamed from DDR (saved for the IR, not compiled into the firmware)

    @property
    def size(self) -> int:
        return int(self.values.size)

    @property
    def decl(self) -> str:
        """`[rows][columns]` (or `[size]`): the dimensions after the name in a declaration."""
        return "".join(f"[{d}]" for d in (self.dims or (self.size,)))

    @property
    def first(self) -> str:
        """A pointer to the first value."""
        return f"&{self.var}" + "[0]" * max(len(self.dims), 1)

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
    """One call in the top function, and the config struct it is instantiated with."""

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
    inputs: list[Layer] = field(default_factory=list)  # the producers, in input order
    merges: bool = False  # the C++ function takes the output first, then every input (Layer.MERGES)
    template_args: list[str] = field(default_factory=list)  # after the config struct (concat: channels)
    pragmas: list[str] = field(default_factory=list)  # for the top function: the layer's weight memories
    port: dict | None = None  # WeightStorage uram / offchip: the DDR port of its weights (codegen.stream)
    argument: bool = False  # out_var is a top-function argument (a model output), out_type its type


def add_constant(
    base: LayerContext,
    role: str,
    var: str,
    values: np.ndarray,
    dtype: FixedType,
    source: tuple[str, str] | None = None,
    dims: tuple[int, ...] = (),
) -> Constant:
    """The typedef `<role>_t` and the constant array `<name>_<var>` of that type."""
    base.typedefs[f"{role}_t"] = dtype.cpp()
    c = Constant(f"{base.name}_{var}", f"config_{base.name}::{role}_t", values, dtype, source, dims)
    base.constants.append(c)
    return c


# bind_storage implementation of each WeightStorage (UG1399 pragma HLS bind_storage)
STORAGE_IMPL = {"bram": "bram", "lutram": "lutram"}


def linear_constants(layer: Dense | Conv2D, base: LayerContext) -> LayerContext:
    """Typedefs and constant arrays (weights, bias or zeros) of a Dense/Conv layer, and the pragmas that
    lay the weights out as PE banks of SIMD-wide words. The weights are declared as the (rows, columns)
    matrix of `nn2fpga.passes.fold.matrix` over the IR's row-major values (nothing is reordered)."""
    t = layer.types
    base.typedefs["accum_t"] = t["accum"].cpp()
    rows, cols, _ = matrix(layer)
    w = add_constant(base, "weight", "w", layer.weight, t["weight"], (layer.name, "weight"), (rows, cols))
    w.onchip = layer.weight_storage not in STREAMED
    if layer.bias is None:
        b = add_constant(base, "bias", "b", np.zeros(layer.n_out), t["bias"])
    else:
        b = add_constant(base, "bias", "b", layer.bias, t["bias"], (layer.name, "bias"))
    if layer.weight_storage in STORAGE_IMPL:  # folded: PE banks of SIMD-wide words (the Latency Dense: none)
        banks, words, bits = weight_memory(layer)
        cyclic = f"cyclic factor = {layer.pe}"
        base.pragmas += [
            f"// {base.name}: {banks} bank(s) of {words} words x {bits} bits (SIMD {layer.simd} x "
            f"{t['weight'].width} bits) in {layer.weight_storage.upper()}",
            *(
                f"#pragma HLS ARRAY_RESHAPE variable = {w.var} cyclic factor = {layer.simd} dim = 1"
                for _ in range(layer.simd > 1)
            ),
            *(
                f"#pragma HLS ARRAY_PARTITION variable = {v} {cyclic}{d}"
                for v, d in ((w.var, " dim = 2"), (b.var, ""))
                if layer.pe > 1
            ),
            f"#pragma HLS BIND_STORAGE variable = {w.var} type = rom_2p impl = {STORAGE_IMPL[layer.weight_storage]}",
        ]
    return base


LINE_BITS = 512  # one memory word of the kernel's m_axi ports


def weight_words(layer: Linear) -> np.ndarray:
    """The DDR image of a streamed layer's weights (docs/host.md, "Weights in memory"): the (fold, step)
    words in the order the layer consumes them, value s * PE + p of word (fo, st) = w[st * SIMD + s][fo * PE
    + p] as its raw integer in its container (raw_container), each word padded to whole 512-bit lines.
    Returns uint8 (words, lines * 64)."""
    rows, cols, _ = matrix(layer)
    pe, simd, t = layer.pe, layer.simd, layer.types["weight"]
    container = np.dtype(raw_container(t).removesuffix("_t"))
    raw = t.to_raw(np.asarray(layer.weight, dtype=np.float64).reshape(rows, cols)).astype(container)
    words = raw.reshape(rows // simd, simd, cols // pe, pe).transpose(2, 0, 1, 3).reshape(-1, pe * simd)
    line_values = LINE_BITS // t.container_bits
    lines = -(-pe * simd // line_values)
    padded = np.zeros((words.shape[0], lines * line_values), dtype=container.newbyteorder("<"))
    padded[:, : pe * simd] = words
    return padded.view(np.uint8).reshape(words.shape[0], -1)


def pool_types(layer: Pool2D | GlobalPool2D, base: LayerContext, in_t: FixedType, n: int) -> None:
    """is_max, the quantized reciprocal 1/n (average), and the exact sum type of n inputs."""
    avg = layer.op == "avg"
    base.config.update(is_max=not avg, recip=reciprocal(layer, n) if avg else 0.0)
    base.typedefs.update(sum_t=sum_type(in_t, n).cpp(), recip_t=layer.types.get("recip", FixedType(2, 1)).cpp())


def merge_config(layer: Add, base: LayerContext) -> None:
    """relu, op (MERGE_OPS index), sum_t (the exact merge) and for average recip_t / recip of an Add."""
    base.config.update(relu=layer.activation == "relu", op=MERGE_OPS.index(layer.op))
    base.typedefs["sum_t"] = exact_merge_type(layer, base.inputs)
    average = layer.op == "average"  # the template names recip_t and recip; only average multiplies by them
    base.typedefs["recip_t"] = layer.types["recip"].cpp() if average else "ap_uint<1>"
    base.config["recip"] = reciprocal(layer, len(base.inputs)) if average else 1.0


def exact_merge_type(layer: Add, inputs: list[Layer]) -> str:
    """The C++ type that holds the merge of the inputs' results exactly: the sum (add, average, subtract: signed),
    the product (multiply), their union (maximum, minimum)."""
    types = [p.types["result"] for p in inputs]
    union = functools.reduce(union_type, types)
    if layer.op == "multiply":
        return functools.reduce(product_type, types).cpp()  # at most 53 bits (the quantize pass checks)
    if layer.op in ("maximum", "minimum"):
        return union.cpp()
    total = sum_type(union, len(inputs))
    # a difference of unsigned values: the same bits read as signed hold (-2**I, 2**I)
    return (dataclasses.replace(total, signed=True) if layer.op == "subtract" else total).cpp()
