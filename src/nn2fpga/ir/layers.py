"""One dataclass per layer kind.

Fields are typed; weights are NumPy float64 arrays in Keras layout (Dense weight: (n_in, n_out)).
Shapes exclude the batch dimension and are channels-last. `types` maps a role to a FixedType:
every layer has `result`; Dense has `weight`, `bias`, `accum`; BatchNorm has `scale`, `bias`;
table-based activations have `table` (and softmax `exp_table`, `inv_table`); leaky_relu has `alpha`,
hard_sigmoid has `slope`, `offset`. Which roles a kind has is declared once in `TYPE_ROLES`.
`fixed` holds the types the model itself fixes (QKeras quantizers): the config cannot change them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from nn2fpga.ir.types import FixedType

ACTIVATIONS = ("linear", "relu", "leaky_relu", "sigmoid", "tanh", "softmax", "hard_sigmoid", "relu_clip", "elu",
               "selu", "softplus", "swish", "gelu", "hard_swish", "softsign")  # fmt: skip
# a table below `tail_from`, x (selu: slope x) above
TAIL_TABLE_FNS = ("elu", "selu", "softplus", "swish", "gelu", "hard_swish")
CENTRED_TABLE_FNS = ("sigmoid", "tanh", "softsign")  # a table centred on 0, clipped at both ends


@dataclass(eq=False)
class Layer:
    """Common fields. `shape` is the output shape (no batch dimension)."""

    name: str
    shape: tuple[int, ...] = ()
    types: dict[str, FixedType] = field(default_factory=dict)
    reuse_factor: int = 1
    strategy: str = "latency"
    # role -> type fixed by the model (a QKeras quantizer); Config.resolve returns it, LayerName may not differ
    fixed: dict[str, FixedType] = field(default_factory=dict)
    # role -> type chosen from data by the calibrate pass; Config.resolve ranks it below LayerName/LayerType
    calibrated: dict[str, FixedType] = field(default_factory=dict)
    # hardware flow decisions (nn2fpga.passes.hardware): multipliers instantiated (Dense/Conv), and the
    # FIFO depth of the stream on each input edge, in input order (io_stream; () for io_parallel)
    multiplier_limit: int = 0
    fifo_depths: tuple[int, ...] = ()
    # values per stream word of this layer's output (io_stream lanes; nn2fpga.passes.fold), 0 before the pass
    lanes: int = 0

    # roles of `types` this kind uses (the config keys under `Precision:` derive from these)
    TYPE_ROLES: ClassVar[tuple[str, ...]] = ("result",)
    # True for kinds that carry multipliers and so take a reuse factor / strategy
    HAS_MULTIPLIERS: ClassVar[bool] = False
    # True for kinds whose output values are input values (or zeros), moved and never converted: their
    # result type is the input's, their bit-exact reference is the float interpreter, their errors move
    # with the values (quantize, sim.reference and testing need no rule of their own)
    MOVES_VALUES: ClassVar[bool] = False
    MERGES: ClassVar[bool] = False  # reads several inputs at once (the C++ takes the output first, then them)

    @property
    def kind(self) -> str:
        return type(self).__name__

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    def type_roles(self) -> tuple[str, ...]:
        """The roles of `types` this layer uses (the keys allowed under its config `Precision:`)."""
        return self.TYPE_ROLES

    def weights(self) -> dict[str, np.ndarray]:
        """Named constant arrays of this layer (empty for weightless kinds)."""
        return {}


@dataclass(eq=False)
class Input(Layer):
    """A model input; values enter as cast<result_t>(x) from float."""


@dataclass(eq=False)
class Linear(Layer):
    """Common part of Dense and Conv2D: acc = bias + sum(x * weight), then the fused activation.
    `activation` is "linear" or "relu" (fused by a pass); `fused` keeps the merged Activation layer (its
    result precision applies)."""

    weight: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    bias: np.ndarray | None = None
    activation: str = "linear"
    fused: Layer | None = None
    # folding (nn2fpga.passes.fold): PE outputs x SIMD inputs per clock, and where the weights live
    pe: int = 0
    simd: int = 0
    weight_storage: str = ""
    multipliers: str = ""  # "dsp" (the tool's choice) or "lut" (BIND_OP impl=fabric), set by the fold pass

    TYPE_ROLES: ClassVar[tuple[str, ...]] = ("result", "weight", "bias", "accum")
    HAS_MULTIPLIERS: ClassVar[bool] = True

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[0])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[-1])

    @property
    def n_multiplications(self) -> int:
        """Multiplications per output value (Dense) or output pixel (Conv2D): the unit the reuse factor divides."""
        return self.n_in * self.n_out

    def weights(self) -> dict[str, np.ndarray]:
        return {"weight": self.weight} | ({"bias": self.bias} if self.bias is not None else {})


@dataclass(eq=False)
class Dense(Linear):
    """y = act(x @ weight + bias), weight (n_in, n_out)."""


@dataclass(eq=False)
class Activation(Layer):
    """Element-wise activation, or softmax over the last axis.

    alpha: leaky_relu slope for x < 0 (relu_clip: Keras ReLU's negative_slope; elu: its alpha).
    slope/offset: hard_sigmoid = clip(slope * x + offset, 0, 1) (Keras 3 uses slope 1/6, tf_keras 0.2);
    selu: slope = its scale. relu_clip (Keras ReLU with max_value /
    threshold / negative_slope): max_value if x >= max_value, x if x > threshold, else alpha * (x - threshold).
    The TAIL_TABLE_FNS read a table below `nn2fpga.ir.tables.TAIL_FROM` and are x (selu: slope * x) above.
    """

    fn: str = "linear"
    table_size: int = 1024  # entries of each of its tables (TableSize; nn2fpga.ir.tables.TABLE_SIZE by default)
    alpha: float = 0.3
    slope: float = 0.2
    offset: float = 0.5
    threshold: float = 0.0
    max_value: float | None = None

    TYPE_ROLES: ClassVar[tuple[str, ...]] = ("result", "table", "exp_table", "inv_table", "alpha", "slope", "offset",
                                             "threshold", "max_value")  # fmt: skip

    def type_roles(self) -> tuple[str, ...]:
        if self.fn == "relu_clip":
            return ("result", "alpha", "threshold") + (("max_value",) if self.max_value is not None else ())
        return {
            "leaky_relu": ("result", "alpha"),
            "softmax": ("result", "exp_table", "inv_table"),
            "hard_sigmoid": ("result", "slope", "offset"),
            "selu": ("result", "table", "slope"),
        }.get(self.fn, ("result", "table") if self.fn in (*TAIL_TABLE_FNS, *CENTRED_TABLE_FNS) else ("result",))


@dataclass(eq=False)
class BatchNorm(Layer):
    """y = x * scale + bias per channel (last axis); scale = gamma / sqrt(var + eps), bias = beta - mean * scale."""

    scale: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0))

    TYPE_ROLES: ClassVar[tuple[str, ...]] = ("result", "scale", "bias")

    def weights(self) -> dict[str, np.ndarray]:
        return {"scale": self.scale, "bias": self.bias}


@dataclass(eq=False)
class LayerNorm(Layer):
    """Keras LayerNormalization over the last axis: y = (x - mean) / sqrt(var + epsilon) * scale + bias, by the
    fixed-point algorithm of `nn2fpga.ir.rules.layernorm_types` (docs/arithmetic.md)."""

    scale: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0))
    epsilon: float = 1e-3
    table_size: int = 1024  # entries of its 1/sqrt table (TableSize)

    TYPE_ROLES: ClassVar[tuple[str, ...]] = ("result", "scale", "bias", "table", "recip")

    def weights(self) -> dict[str, np.ndarray]:
        return {"scale": self.scale, "bias": self.bias}


@dataclass(eq=False)
class Reshape(Layer):
    """Flatten / Reshape: values unchanged (row-major order), only the shape changes.

    Its result type is its input's (set by infer_precision); it has no configurable precision.
    """

    TYPE_ROLES: ClassVar[tuple[str, ...]] = ()
    MOVES_VALUES: ClassVar[bool] = True


@dataclass(eq=False)
class Conv2D(Linear):
    """2-D convolution, channels-last. weight: (kh, kw, c_in, c_out); padding: (top, bottom, left, right)
    zero rows/columns added to the input (Keras 'same' is made explicit by the frontend)."""

    weight: np.ndarray = field(default_factory=lambda: np.zeros((1, 1, 1, 1)))
    strides: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)

    @property
    def kernel(self) -> tuple[int, int]:
        return int(self.weight.shape[0]), int(self.weight.shape[1])

    @property
    def n_in(self) -> int:
        """Terms summed per output value."""
        kh, kw = self.kernel
        return kh * kw * int(self.weight.shape[2])


@dataclass(eq=False)
class DepthwiseConv2D(Conv2D):
    """Depthwise convolution (depth multiplier 1). weight: (kh, kw, c, 1); each channel has its own filter."""

    @property
    def n_in(self) -> int:
        kh, kw = self.kernel
        return kh * kw

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[2])


@dataclass(eq=False)
class ZeroPad2D(Layer):
    """Zero padding (top, bottom, left, right); folded into a following convolution when possible."""

    padding: tuple[int, int, int, int] = (0, 0, 0, 0)

    TYPE_ROLES: ClassVar[tuple[str, ...]] = ()
    MOVES_VALUES: ClassVar[bool] = True


@dataclass(eq=False)
class Crop2D(Layer):
    """Cropping (top, bottom, left, right) rows/columns off the input (Keras Cropping1D/2D): a stream that
    forwards the pixels inside and drops the others."""

    cropping: tuple[int, int, int, int] = (0, 0, 0, 0)

    TYPE_ROLES: ClassVar[tuple[str, ...]] = ()
    MOVES_VALUES: ClassVar[bool] = True


@dataclass(eq=False)
class UpSample2D(Layer):
    """Nearest-neighbour upsampling by (rows, columns) (Keras UpSampling1D/2D): every input pixel repeated
    `factor[0]` times down and `factor[1]` times across (Keras's `size`; `Layer.size` counts values)."""

    factor: tuple[int, int] = (2, 2)

    TYPE_ROLES: ClassVar[tuple[str, ...]] = ()
    MOVES_VALUES: ClassVar[bool] = True


@dataclass(eq=False)
class Transpose(Layer):
    """Axes permuted (Keras Permute): output axis k is input axis perm[k] (0-based, batch excluded). A stream
    holds the whole map (read, then written in the new order), `lanes` channels a word when the channel axis
    stays last, one value a word otherwise."""

    perm: tuple[int, ...] = ()

    TYPE_ROLES: ClassVar[tuple[str, ...]] = ()
    MOVES_VALUES: ClassVar[bool] = True

    @property
    def keeps_channels(self) -> bool:
        return self.perm[-1] == len(self.perm) - 1


@dataclass(eq=False)
class Embedding(Layer):
    """y[p] = weight[x[p]]: the table row of each integer index (input (steps,), result (steps, dim)); the
    table is quantized to `weight`, then cast to `result`."""

    weight: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    TYPE_ROLES: ClassVar[tuple[str, ...]] = ("result", "weight")

    @property
    def rows(self) -> int:
        return int(self.weight.shape[0])

    def padded(self, index_bits: int) -> np.ndarray:
        """The table with zero rows up to 2**index_bits: one row for every index the input type holds."""
        table = np.zeros((2**index_bits, self.weight.shape[1]))
        table[: self.rows] = self.weight
        return table

    def weights(self) -> dict[str, np.ndarray]:
        return {"weight": self.weight}


@dataclass(eq=False)
class PReLU(Layer):
    """y = x if x >= 0 else alpha[c] * x, one alpha per channel (last axis), quantized to `alpha`; the product
    is exact before the one cast to `result`."""

    alpha: np.ndarray = field(default_factory=lambda: np.zeros(0))

    TYPE_ROLES: ClassVar[tuple[str, ...]] = ("result", "alpha")

    def weights(self) -> dict[str, np.ndarray]:
        return {"alpha": self.alpha}


@dataclass(eq=False)
class Pool2D(Layer):
    """Max or average pooling over (ph, pw) windows. Max pooling ignores padded positions (Keras 'same').
    Average pooling sums exactly, then multiplies by 1/n quantized to the `recip` type, n the window's taps
    inside the unpadded input (Keras 'same' divides by those; n = ph*pw without padding)."""

    op: str = "max"  # "max" | "avg"
    pool: tuple[int, int] = (2, 2)
    strides: tuple[int, int] = (2, 2)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)

    TYPE_ROLES: ClassVar[tuple[str, ...]] = ("result", "recip")

    def type_roles(self) -> tuple[str, ...]:
        return ("result", "recip") if self.op == "avg" else ("result",)


@dataclass(eq=False)
class GlobalPool2D(Layer):
    """Max or average over all pixels per channel; average = exact sum * 1/(H*W) quantized to `recip`."""

    op: str = "avg"

    TYPE_ROLES: ClassVar[tuple[str, ...]] = ("result", "recip")

    def type_roles(self) -> tuple[str, ...]:
        return ("result", "recip") if self.op == "avg" else ("result",)


@dataclass(eq=False)
class Add(Layer):
    """Element-wise merge of same-shaped inputs (`op`, MERGE_OPS): add (any number), subtract (first - second),
    multiply (two), average (the exact sum times `recip` = 1/n), maximum, minimum; computed exactly, then
    `activation` ("linear" or "relu", fused by a pass), then one cast to the result type."""

    MERGES: ClassVar[bool] = True

    activation: str = "linear"
    fused: Layer | None = None  # the Activation merged into this layer (its result precision applies)
    op: str = "add"

    TYPE_ROLES: ClassVar[tuple[str, ...]] = ("result", "recip")

    def type_roles(self) -> tuple[str, ...]:
        return ("result", "recip") if self.op == "average" else ("result",)


@dataclass(eq=False)
class ChannelScale(Layer):
    """A feature map (first input) times a per-channel vector the graph computes (second input, shape (C,) or
    (1, 1, C): Keras Multiply broadcasting it, as squeeze-and-excitation does); exact product, one cast."""

    MERGES: ClassVar[bool] = True


@dataclass(eq=False)
class Dot(Layer):
    """Keras Dot of two vectors (n,): y = (sum_i a_i b_i,), the products and their sum exact (at most 53 bits,
    checked by the quantize pass), then one cast."""

    MERGES: ClassVar[bool] = True


@dataclass(eq=False)
class Concatenate(Layer):
    """Concatenation along the channel (last) axis; each input is cast to the result type."""

    MERGES: ClassVar[bool] = True


MERGE_OPS = ("add", "subtract", "multiply", "average", "maximum", "minimum")  # Add.op; the C++ `op` code is the index
