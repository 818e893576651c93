"""Stored model configs screened before Keras reads them (hostile files, docs/reliability.md).

`check_config` runs on the parsed config of every model file (`nn2fpga.frontend.loading.file_config`), before
TensorFlow is imported, and refuses with one line naming the file, the layer and the key:

- shapes: every dimension of a declared shape (`SHAPE_KEYS`), and the values per sample they multiply to, at
  most `MAX_ELEMENTS` (2^28: a 16k x 16k RGB image; nn2fpga's streams and line buffers are far smaller);
- sizes: every number under `SIZE_KEYS` (units, filters, kernel sizes, paddings, ...) at most `MAX_ELEMENTS`, and
  the weights a layer would allocate from its recorded input shape (Keras 3 `build_config`: inputs x units or
  filters x kernel area; Embedding vocabulary x width) at most `MAX_ELEMENTS` values: Keras allocates a layer's
  variables before it reads the weights file, so a config alone could fill the memory;
- QKeras: every quantizer a QKeras layer names (`*_quantizer`, `quantizer`, and its `activation` strings) is a
  QKeras quantizer or a Keras activation (`QUANTIZERS`, `ACTIVATIONS`): QKeras evaluates these strings by
  looking the name up in its module, so an unknown name would call whatever that module holds.

`check_variables` holds the variables the Keras-free reader found against those its layer's config needs.
`objects` walks a config without recursion (configs are bounded in depth by `nn2fpga.frontend.archive`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nn2fpga.ir.errors import ModelError

MAX_ELEMENTS = 1 << 28  # per declared shape (per sample), per size, per layer's weights
SHAPE_KEYS = ("batch_shape", "batch_input_shape", "input_shape", "shape", "build_input_shape")  # first: batch
TARGET_KEYS = ("target_shape",)  # shapes without the batch
SIZE_KEYS = ("units", "filters", "depth_multiplier", "input_dim", "output_dim", "kernel_size", "pool_size", "size",
             "padding", "cropping", "n", "num_heads", "key_dim", "value_dim", "output_sequence_length")  # fmt: skip
# the layer classes of QKeras (and QInitializer, which holds a quantizer)
QKERAS_LAYERS = frozenset({
    "QActivation", "QAdaptiveActivation", "QAveragePooling2D", "QBatchNormalization", "QBidirectional", "QConv1D",
    "QConv2D", "QConv2DBatchnorm", "QConv2DTranspose", "QDense", "QDenseBatchnorm", "QDepthwiseConv2D",
    "QDepthwiseConv2DBatchnorm", "QGRU", "QGlobalAveragePooling2D", "QInitializer", "QLSTM", "QSeparableConv1D",
    "QSeparableConv2D", "QSimpleRNN",
})  # fmt: skip
# the quantizer classes of qkeras.quantizers
QUANTIZERS = frozenset({
    "quantized_bits", "quantized_relu", "quantized_po2", "quantized_relu_po2", "quantized_tanh", "quantized_sigmoid",
    "quantized_ulaw", "quantized_hswish", "binary", "ternary", "stochastic_binary", "stochastic_ternary", "bernoulli",
})  # fmt: skip
# Keras's activations, and the functions of qkeras.quantizers that QKeras accepts as activations
ACTIVATIONS = frozenset({
    "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "mish", "sigmoid",
    "hard_sigmoid", "tanh", "softmax", "log_softmax", "softplus", "softsign", "exponential", "binary_sigmoid",
    "smooth_sigmoid", "binary_tanh", "hard_tanh", "smooth_tanh",
})  # fmt: skip


def objects(config: Any, owner: str = "the model") -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(enclosing layer name, class_name, its config, the serialized dict) of every serialized object in a config
    tree, depth first in file order; the layer name is the nearest `config.name` at or above the object."""
    for owner_, item in _dicts(config, owner):
        if isinstance(item.get("class_name"), str):
            inner = item.get("config")
            yield owner_, item["class_name"], inner if isinstance(inner, dict) else {}, item


def _dicts(config: Any, owner: str) -> Iterator[tuple[str, dict[str, Any]]]:
    stack = [(config, owner)]
    while stack:
        item, owner = stack.pop()
        if isinstance(item, dict):
            inner = item.get("config")
            if isinstance(inner, dict) and isinstance(inner.get("name"), str):
                owner = inner["name"]
            yield owner, item
            stack.extend((v, owner) for v in reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend((v, owner) for v in reversed(item))


def check_config(config: Any, path: Path) -> None:
    """Refuse absurd shapes and sizes and unknown QKeras quantizers (see the module docstring)."""
    for owner, item in _dicts(config, "the model"):
        where = f"{path}: layer {owner!r}"
        for key, value in item.items():
            if key in SHAPE_KEYS or key in TARGET_KEYS:
                for shape in _shapes(value):
                    _check_shape(where, key, shape, batch=key in SHAPE_KEYS)
            elif key in SIZE_KEYS:
                for n in _ints(value):
                    if abs(n) > MAX_ELEMENTS:
                        raise ModelError(f"{where}: {key} {_short(value)} is above {MAX_ELEMENTS} (2^28)")
        if isinstance(item.get("class_name"), str) and isinstance(item.get("config"), dict):
            _check_weights(where, item)
            if item["class_name"] in QKERAS_LAYERS:
                _check_quantizers(where, item["config"])


def _check_shape(where: str, key: str, shape: list[Any], batch: bool) -> None:
    dims = [d for d in (shape[1:] if batch else shape) if isinstance(d, int) and d != -1]
    bad = [d for d in shape if isinstance(d, int) and d != -1 and not 0 <= d <= MAX_ELEMENTS]
    if bad or math.prod(dims) > MAX_ELEMENTS:
        raise ModelError(f"{where}: {key} {_short(shape)} declares {math.prod(dims)} values per sample (at most "
                         f"{MAX_ELEMENTS} = 2^28, every dimension 0 to 2^28)")  # fmt: skip


def _check_weights(where: str, item: dict[str, Any]) -> None:
    """The values a layer's kernel (or embedding table) would hold, from its recorded input shape."""
    cfg, built = item["config"], (item.get("build_config") or {}).get("input_shape")
    if "input_dim" in cfg and "output_dim" in cfg:
        values = math.prod(n for n in (cfg["input_dim"], cfg["output_dim"]) if isinstance(n, int))
    else:
        width = next((cfg[k] for k in ("units", "filters", "depth_multiplier") if isinstance(cfg.get(k), int)), None)
        if width is None or not isinstance(built, list) or len(built) < 2:
            return
        channels = built[1] if cfg.get("data_format") == "channels_first" else built[-1]
        values = width * (channels if isinstance(channels, int) else 1) * math.prod(_ints(cfg.get("kernel_size")))
    if values > MAX_ELEMENTS:
        raise ModelError(f"{where} ({item['class_name']}): its weights would hold {values} values for input shape "
                         f"{_short(built)} (at most {MAX_ELEMENTS} = 2^28 per layer)")  # fmt: skip


def _check_quantizers(where: str, cfg: dict[str, Any]) -> None:
    for key, value in cfg.items():
        activation = key in ("activation", "recurrent_activation")
        if not (activation or key == "quantizer" or key.endswith("_quantizer")) or value is None:
            continue
        if isinstance(value, str):
            name = value.split("(", 1)[0].strip()
        elif isinstance(value, dict) and isinstance(value.get("class_name"), str):
            name = value["class_name"]
        else:
            raise ModelError(f"{where}: {key} {_short(value)} is neither a quantizer name nor a serialized quantizer")
        allowed = QUANTIZERS | ACTIVATIONS if activation else QUANTIZERS
        if name not in allowed:
            raise ModelError(f"{where}: {key} {_short(value)} names {name!r}, not a QKeras quantizer"
                             + (" or Keras activation" if activation else "") + "; allowed: "
                             + ", ".join(sorted(allowed)))  # fmt: skip


def check_variables(where: str, names: list[str], arrays: list[Any], cfg: dict[str, Any], x: tuple[int, ...]) -> None:
    """ModelError unless `arrays` (stored) have the shapes of the variables `names` of a layer on input shape `x`."""
    shapes = [tuple(a.shape) for a in arrays]
    want = [_variable_shape(name, cfg, x) for name in names]
    if shapes != want:
        needs = ", ".join(f"{n} {s}" for n, s in zip(names, want)) or "none"
        raise ModelError(f"{where}: model.weights.h5 stores variables of shapes {_short(shapes)}, the config needs "
                         f"{needs}")  # fmt: skip


def _variable_shape(name: str, cfg: dict[str, Any], x: tuple[int, ...]) -> tuple[int, ...]:
    """Keras 3's shape of variable `name` of a Dense, Conv2D, DepthwiseConv2D or BatchNormalization on input `x`
    (the reader has checked the config's numbers: its output shapes come from them)."""
    channels = x[-1]
    if "depth_multiplier" in cfg:  # DepthwiseConv2D: a kernel per channel
        per, out = int(cfg["depth_multiplier"]), channels * int(cfg["depth_multiplier"])
    else:
        per = out = int(cfg.get("units", cfg.get("filters", 0)))
    if name == "kernel":
        return (*_ints(cfg.get("kernel_size")), channels, per)
    if name == "bias":
        return (out,)
    axis = cfg.get("axis", -1)  # BatchNormalization: one value per channel along `axis` (counted with the batch)
    axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
    if isinstance(axis, int) and (-len(x) <= axis < 0 or 0 < axis <= len(x)):
        return (x[axis if axis < 0 else axis - 1],)
    return ()


def _shapes(value: Any) -> Iterator[list[Any]]:
    """The shapes (lists of ints and nulls) in a shape value: one shape, or lists / dicts of them."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list) and all(d is None or (isinstance(d, int) and not isinstance(d, bool)) for d in item):
            yield item
        elif isinstance(item, (list, dict)):
            stack.extend(item.values() if isinstance(item, dict) else item)


def _ints(value: Any) -> list[int]:
    """Every integer in a number, or in lists of them (not booleans)."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    return [n for v in value for n in _ints(v)] if isinstance(value, list) else []


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
