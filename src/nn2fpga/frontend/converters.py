"""Converters of Keras layers: one function per Keras class (`KERAS_CONVERTERS`) turns a layer call (`Call`)
into its IR layers, chained in order (the first consumes the call's inputs); an empty list is an inference
no-op whose output is its input. Shapes exclude the batch dimension; `types` stay empty for the quantize flow.
The QKeras converters (`nn2fpga.frontend.qkeras`) build on the public helpers here (`activations`, `batchnorm`,
`conv_options`, `require_flat`, ...); `nn2fpga.frontend.keras` walks the model and applies both tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nn2fpga.frontend import keras_file
from nn2fpga.frontend.loading import KERAS3
from nn2fpga.ir.errors import ModelError
from nn2fpga.ir.interpret import SELU_SCALE
from nn2fpga.ir.layers import (
    Activation,
    BatchNorm,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    GlobalPool2D,
    Layer,
    Pool2D,
    PReLU,
    Reshape,
    ZeroPad2D,
)

# ---- a layer call ------------------------------------------------------------------------------------------


@dataclass
class Call:
    """One application of a Keras layer, as a converter sees it."""

    layer: Any  # a Keras layer, or a keras_file.FileLayer read from a .keras file without Keras
    inputs: list[str]  # IR names of the layers producing the inputs, in order
    in_shapes: list[tuple[int, ...]]  # input shapes without batch
    shape: tuple[int, ...]  # output shape without batch
    flavor: str  # KERAS3 or TF_KERAS
    origin: str = ""  # the Keras class a 2-D view (nn2fpga.frontend.spatial) was made of, for messages
    args: tuple[Any, ...] = ()  # a keras.ops call's positional arguments: numbers, None for tensors (frontend.ops)

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def cls(self) -> str:
        """The Keras class name."""
        return self.layer.class_name if isinstance(self.layer, keras_file.FileLayer) else type(self.layer).__name__

    @property
    def where(self) -> str:
        return f"layer {self.name!r} ({self.origin or self.cls})"


Converter = Callable[[Call], list[Layer]]


# ---- converters: one per Keras class ----------------------------------------------------------------------


def to_array(variable: Any) -> np.ndarray:
    """A Keras variable or tensor (or a NumPy value) as float64."""
    value = variable.numpy() if hasattr(variable, "numpy") else variable
    return np.array(value, dtype=np.float64)


def _noop(call: Call) -> list[Layer]:
    return []


def require_flat(call: Call) -> None:
    """ModelError unless the call's input is rank 1: Dense layers take flattened inputs only."""
    (in_shape,) = call.in_shapes
    if len(in_shape) != 1:
        raise ModelError(
            f"{call.where}: {call.cls} on a rank-{len(in_shape)} input {in_shape} is not supported; Flatten first"
        )


def _dense(call: Call) -> list[Layer]:
    layer = call.layer
    require_flat(call)
    if getattr(layer, "quantization_mode", None):
        raise ModelError(f"{call.where}: Keras-quantized ({layer.quantization_mode}) Dense layers are not supported")
    bias = to_array(layer.bias) if layer.use_bias else None
    dense = Dense(call.name, shape=call.shape, weight=to_array(layer.kernel), bias=bias)
    return [dense, *activations(call, layer.get_config().get("activation"), layer.activation, f"{call.name}_{{fn}}")]


def _activation_layer(call: Call) -> list[Layer]:
    return [activation(call, call.layer.get_config().get("activation"), call.layer.activation, call.name)]


def _relu(call: Call) -> list[Layer]:
    cfg = call.layer.get_config()
    max_value, threshold = cfg.get("max_value"), float(cfg.get("threshold") or 0.0)
    slope = float(cfg.get("negative_slope") or 0.0)
    if max_value is not None or threshold != 0.0:  # ReLU6 and friends: exact comparisons in their own types
        if max_value is not None and float(max_value) <= threshold:
            raise ModelError(f"{call.where}: ReLU max_value {max_value} must exceed its threshold {threshold}")
        top = None if max_value is None else _decimal(max_value)
        return [Activation(call.name, shape=call.shape, fn="relu_clip", alpha=_decimal(slope),
                           threshold=_decimal(threshold), max_value=top)]  # fmt: skip
    if slope > 0.0:
        return [Activation(call.name, shape=call.shape, fn="leaky_relu", alpha=_decimal(slope))]
    return [Activation(call.name, shape=call.shape, fn="relu")]


def _elu(call: Call) -> list[Layer]:
    alpha = _decimal(call.layer.get_config().get("alpha", 1.0))
    return [Activation(call.name, shape=call.shape, fn="elu", alpha=alpha)]


def _leaky_relu(call: Call) -> list[Layer]:
    cfg = call.layer.get_config()
    alpha = cfg["negative_slope"] if "negative_slope" in cfg else cfg["alpha"]  # Keras 3 / tf_keras spelling
    return [Activation(call.name, shape=call.shape, fn="leaky_relu", alpha=_decimal(alpha))]


def _prelu(call: Call) -> list[Layer]:
    """One alpha per channel: the slopes Keras holds for every position must repeat along all other axes."""
    shape = call.shape
    alpha = np.broadcast_to(to_array(call.layer.alpha), shape).reshape(-1, shape[-1])
    if not (alpha == alpha[0]).all():
        raise ModelError(f"{call.where}: PReLU with slopes that differ between positions is not supported (one "
                         f"per channel: shared_axes={list(range(1, len(shape)))})")  # fmt: skip
    return [PReLU(call.name, shape=shape, alpha=alpha[0].copy())]


def _softmax(call: Call) -> list[Layer]:
    require_last_axis(call, call.layer.get_config().get("axis", -1), "softmax")
    return [Activation(call.name, shape=call.shape, fn="softmax")]


def batchnorm(call: Call, value: Callable[[str], np.ndarray]) -> list[Layer]:
    """The BatchNorm of a batch normalization layer whose variables `value` gives by their Keras names
    (gamma and beta only where the layer has them: `scale`, `center`)."""
    layer, channels = call.layer, call.shape[-1]
    require_last_axis(call, layer.axis, "batch normalization")
    gamma = value("gamma") if layer.scale else np.ones(channels)
    beta = value("beta") if layer.center else np.zeros(channels)
    mean, var = value("moving_mean"), value("moving_variance")
    scale = gamma / np.sqrt(var + float(layer.epsilon))
    return [BatchNorm(call.name, shape=call.shape, scale=scale, bias=beta - mean * scale)]


def _batchnorm(call: Call) -> list[Layer]:
    return batchnorm(call, lambda name: to_array(getattr(call.layer, name)))


def _reshape(call: Call) -> list[Layer]:
    (in_shape,) = call.in_shapes
    if getattr(call.layer, "data_format", "channels_last") == "channels_first" and len(in_shape) > 1:
        raise ModelError(f"{call.where}: Flatten(data_format='channels_first') is not supported")
    return [Reshape(call.name, shape=call.shape)]


def pair(value: Any) -> tuple[int, int]:
    """(a, b) of a Keras pair option given as one number or two (kernel_size=3, strides=(2, 1))."""
    v = list(value) if hasattr(value, "__iter__") else [value, value]
    return int(v[0]), int(v[1])


def image_config(call: Call) -> dict[str, Any]:
    """The layer's config; ModelError unless it reads a channels_last (height, width, channels) input."""
    cfg, (in_shape,) = call.layer.get_config(), call.in_shapes
    if len(in_shape) != 3:
        raise ModelError(f"{call.where}: expected a rank-3 (height, width, channels) input, got {in_shape}")
    if cfg.get("data_format", "channels_last") not in (None, "channels_last"):
        raise ModelError(f"{call.where}: data_format={cfg['data_format']!r} is not supported (channels_last only)")
    return cfg


def _window(call: Call, kernel: tuple[int, int], strides: tuple[int, int]) -> dict[str, Any]:
    """The strides and explicit (top, bottom, left, right) padding of a windowed layer; ModelError if unsupported."""
    cfg, (in_shape,) = image_config(call), call.in_shapes
    if pair(cfg.get("dilation_rate", 1)) != (1, 1):
        raise ModelError(f"{call.where}: dilation_rate={cfg['dilation_rate']} is not supported (only 1)")
    if int(cfg.get("groups", 1) or 1) != 1:
        raise ModelError(f"{call.where}: groups={cfg['groups']} is not supported (only 1)")
    padding = cfg.get("padding", "valid")
    if padding not in ("valid", "same"):
        raise ModelError(f"{call.where}: padding={padding!r} is not supported (valid or same)")
    return {"strides": strides, "padding": keras_file.window_padding(in_shape[:2], kernel, strides, padding)}


def conv_options(call: Call, kernel: Any, depthwise: bool) -> dict[str, Any]:
    """The strides and explicit padding of a Conv2D or DepthwiseConv2D with filter `kernel` (kh, kw, ...);
    ModelError for unsupported options."""
    cfg = call.layer.get_config()
    if depthwise and int(cfg.get("depth_multiplier", 1)) != 1:
        raise ModelError(f"{call.where}: depth_multiplier={cfg['depth_multiplier']} is not supported (only 1)")
    return _window(call, (int(kernel.shape[0]), int(kernel.shape[1])), pair(cfg["strides"]))


def conv(call: Call) -> list[Layer]:
    layer, depthwise = call.layer, call.cls == "DepthwiseConv2D"
    # Keras 3 names the depthwise filter `kernel`, tf_keras `depthwise_kernel`; both are (kh, kw, c, 1)
    weight = to_array(layer.depthwise_kernel if depthwise and hasattr(layer, "depthwise_kernel") else layer.kernel)
    bias = to_array(layer.bias) if layer.use_bias else None
    cls = DepthwiseConv2D if depthwise else Conv2D
    conv = cls(call.name, shape=call.shape, weight=weight, bias=bias, **conv_options(call, weight, depthwise))
    return [conv, *activations(call, layer.get_config().get("activation"), layer.activation, f"{call.name}_{{fn}}")]


def pool(call: Call) -> list[Layer]:
    cfg = call.layer.get_config()
    op = "max" if "Max" in call.cls else "avg"
    pool = pair(cfg["pool_size"])
    options = _window(call, pool, pair(cfg.get("strides") or cfg["pool_size"]))
    return [Pool2D(call.name, shape=call.shape, op=op, pool=pool, **options)]


def global_pool(call: Call) -> list[Layer]:
    image_config(call)
    return [GlobalPool2D(call.name, shape=call.shape, op="max" if "Max" in call.cls else "avg")]


def zero_pad(call: Call) -> list[Layer]:
    cfg = image_config(call)
    (top, bottom), (left, right) = (pair(p) for p in cfg["padding"])
    return [ZeroPad2D(call.name, shape=call.shape, padding=(top, bottom, left, right))]


def require_last_axis(call: Call, axis: Any, what: str) -> None:
    """ModelError unless `axis` (an int or a one-element list, batch axis counted) is the last axis of the
    call's output (of its input too: the layers that take an axis keep the rank)."""
    axes = list(axis) if hasattr(axis, "__iter__") else [axis]  # tf_keras keeps a ListWrapper
    rank = len(call.shape) + 1
    if len(axes) != 1 or int(axes[0]) % rank != rank - 1:
        raise ModelError(f"{call.where}: {what} is supported over the last axis only, not axis {axis}")


KERAS_CONVERTERS: dict[str, Converter] = {
    "Activation": _activation_layer,
    "AveragePooling2D": pool,
    "Conv2D": conv,
    "DepthwiseConv2D": conv,
    "GlobalAveragePooling2D": global_pool,
    "GlobalMaxPooling2D": global_pool,
    "MaxPooling2D": pool,
    "ZeroPadding2D": zero_pad,
    "ActivityRegularization": _noop,
    "AlphaDropout": _noop,
    "BatchNormalization": _batchnorm,
    "Dense": _dense,
    "Dropout": _noop,
    "Flatten": _reshape,
    "GaussianDropout": _noop,
    "GaussianNoise": _noop,
    "Identity": _noop,
    "InputLayer": _noop,
    "ELU": _elu,
    "LeakyReLU": _leaky_relu,
    "PReLU": _prelu,
    "ReLU": _relu,
    "Reshape": _reshape,
    "Softmax": _softmax,
    "SpatialDropout1D": _noop,
    "SpatialDropout2D": _noop,
    "SpatialDropout3D": _noop,
}

# ---- activation functions ---------------------------------------------------------------------------------

_PROBE = np.array([[-4.0, -2.5, -1.0, -0.25, 0.0, 0.5, 1.0, 2.0, 4.0]], dtype=np.float32)


def activation(call: Call, spec: Any, fn: Callable[[Any], Any], name: str) -> Activation:
    """The IR Activation for Keras activation `spec` (its serialized name) with function `fn`.

    `name` may hold "{fn}" (fused activations are named f"{layer}_{fn}"). Parameters that differ
    between Keras versions (leaky_relu slope, hard_sigmoid slope/offset) are measured from `fn`.
    """
    if not isinstance(spec, str) or spec not in _ACTIVATIONS:
        raise ModelError(
            f"{call.where}: activation {spec!r} is not supported; supported: {', '.join(sorted(_ACTIVATIONS))}"
        )
    params = _MEASURED[spec](call, fn) if spec in _MEASURED else {}
    ir_fn = _ALIASES.get(spec, spec)
    return Activation(name.format(fn=spec), shape=call.shape, fn=ir_fn, **{**_FIXED.get(spec, {}), **params})


def activations(call: Call, spec: Any, fn: Callable[[Any], Any], name: str) -> list[Activation]:
    """The `activation` a layer applies after its own arithmetic (a Dense's, a Conv's): none when it is linear."""
    act = activation(call, spec, fn, name)
    return [] if act.fn == "linear" else [act]


def _evaluate(call: Call, fn: Callable[[Any], Any]) -> np.ndarray:
    """fn(_PROBE) as float64, through the model's own Keras (NumPy for a file read without Keras)."""
    if isinstance(call.layer, keras_file.FileLayer):
        return np.asarray(fn(_PROBE.astype(np.float64)), dtype=np.float64)
    if call.flavor == KERAS3:
        import keras

        return np.asarray(keras.ops.convert_to_numpy(fn(keras.ops.convert_to_tensor(_PROBE))), dtype=np.float64)
    import tensorflow as tf

    return np.asarray(fn(tf.constant(_PROBE)).numpy(), dtype=np.float64)


def _leaky_params(call: Call, fn: Callable[[Any], Any]) -> dict[str, float]:
    return {"alpha": _decimal(-_evaluate(call, fn)[0, 2])}  # the slope, -f(-1) (Keras 3 default 0.2)


def _hard_sigmoid_params(call: Call, fn: Callable[[Any], Any]) -> dict[str, float]:
    y, x = _evaluate(call, fn), _PROBE.astype(np.float64)
    offset = y[0, 4]  # f(0)
    slope = (y[0, 6] - y[0, 4]) / x[0, 6]  # (f(1) - f(0)) / 1, inside the linear part for both versions
    # snap to the exact constants Keras uses (float32 evaluation blurs 1/6)
    slope = next((s for s in (1 / 6, 0.2) if abs(slope - s) < 1e-6), slope)
    offset = 0.5 if abs(offset - 0.5) < 1e-6 else offset
    if not np.allclose(np.clip(slope * x + offset, 0.0, 1.0), y, atol=1e-6):
        raise ModelError(f"{call.where}: hard_sigmoid is not clip(a*x + b, 0, 1) for any a, b")
    return {"slope": float(slope), "offset": float(offset)}


def _decimal(value: Any) -> float:
    """The shortest decimal that rounds to the same float32 (0.30000001192 -> 0.3): Keras stores float32."""
    return float(str(np.float32(float(value))))


def _checked(ir_fn: str, **params: float) -> Callable[[Call, Callable[[Any], Any]], dict[str, float]]:
    """A measurement that only checks: Keras's function equals ours (gelu exact, not its tanh approximation)."""

    def check(call: Call, fn: Callable[[Any], Any]) -> dict[str, float]:
        from nn2fpga.ir.interpret import ACTIVATIONS

        probe = Activation("probe", fn=ir_fn, **params)
        if not np.allclose(_evaluate(call, fn), ACTIVATIONS[ir_fn](probe, _PROBE.astype(np.float64)), atol=1e-5):
            raise ModelError(f"{call.where}: activation {ir_fn} of this Keras differs from its definition "
                             "(docs/layers.md); use a layer with explicit parameters")  # fmt: skip
        return {}

    return check


_ACTIVATIONS = ("linear", "relu", "leaky_relu", "sigmoid", "tanh", "softmax", "hard_sigmoid", "relu6", "elu", "selu",
                "softplus", "swish", "silu", "gelu", "hard_swish", "hard_silu", "softsign")  # fmt: skip
_ALIASES = {"relu6": "relu_clip", "silu": "swish", "hard_silu": "hard_swish"}  # Keras name -> IR fn
_FIXED = {"relu6": {"max_value": 6.0, "alpha": 0.0}, "elu": {"alpha": 1.0}, "selu": {"slope": SELU_SCALE}}
# the parameters of these differ between Keras versions: measured from the function (or checked against ours)
_MEASURED = {"leaky_relu": _leaky_params, "hard_sigmoid": _hard_sigmoid_params,
             "gelu": _checked("gelu"), "swish": _checked("swish"), "silu": _checked("swish"),
             "elu": _checked("elu", alpha=1.0), "hard_swish": _checked("hard_swish"),
             "hard_silu": _checked("hard_swish")}  # fmt: skip
