"""Keras 3 `.keras` files read without TensorFlow or Keras (the fast path of `from_keras`).

A `.keras` file is a zip of `config.json` (the architecture) and `model.weights.h5` (the variables,
one HDF5 group per layer whose `vars` group names the layer in its `name` attribute). `read` turns
such a file into the same layer calls `from_keras` gets from a loaded model: nothing in the file is
deserialized by Keras, so nothing in it can run, and the TensorFlow import (about 5 s) is skipped.

The reader is deliberately narrow. It takes Sequential and Functional models whose layers are all
classes with a converter and a shape rule here, each applied once, with every recorded input shape equal
to the one it computes (stored variables that disagree with the config are an error). Else it returns
None and `from_keras` loads the model with Keras as before, so an unknown file never converts
differently, it only converts slower. Lambda layers are refused before either path runs.
"""

from __future__ import annotations

import io
import logging
import math
import zipfile
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from nn2fpga.frontend.screening import check_variables
from nn2fpga.ir.errors import ModelError

log = logging.getLogger(__name__)

Key = tuple[Any, int, int]  # a tensor's identity: (its layer's name, or id for a loaded model; node; output index)
T = TypeVar("T")


class Unsupported(Exception):
    """Something this reader does not handle: `from_keras` falls back to loading the model with Keras."""


# Keras 3 activation functions whose parameters the Keras frontend measures by evaluating them
ACTIVATION_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.2 * x),  # Keras 3 default negative_slope
    "hard_sigmoid": lambda x: np.clip(x + 3.0, 0.0, 6.0) / 6.0,  # Keras 3: relu6(x + 3) / 6
    # checked against nn2fpga's definitions when converted (Keras 3's own functions)
    "elu": lambda x: np.where(x >= 0, x, np.expm1(np.minimum(x, 0.0))),
    "silu": lambda x: x / (1.0 + np.exp(-x)),
    "swish": lambda x: x / (1.0 + np.exp(-x)),
    "gelu": lambda x: 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0))),
    "hard_swish": lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
    "hard_silu": lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
}

# classes whose output has the shape of their (first) input
_SAME_SHAPE = (
    "Activation", "ActivityRegularization", "Add", "AlphaDropout", "Average", "BatchNormalization", "Dropout", "ELU",
    "GaussianDropout", "GaussianNoise", "Identity", "LeakyReLU", "Maximum", "Minimum", "Multiply", "ReLU", "Rescaling",
    "Softmax",
    "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "Subtract",
)  # fmt: skip


def _variables(cls: str, cfg: dict[str, Any]) -> list[str]:
    """Keras 3 variables of a class, in creation order (vars/0, vars/1, ...); config flags drop optional ones."""
    if cls in ("Dense", "Conv2D", "DepthwiseConv2D"):
        return ["kernel", "bias"] if cfg.get("use_bias", True) else ["kernel"]
    if cls == "BatchNormalization":
        names = (["gamma"] if cfg.get("scale", True) else []) + (["beta"] if cfg.get("center", True) else [])
        return [*names, "moving_mean", "moving_variance"]
    return []


@dataclass
class FileLayer:
    """A layer as the Keras converters see it: `get_config()`, its variables as attributes and the
    config values they read as attributes (`use_bias`, `axis`, ...); `activation` a NumPy function."""

    class_name: str
    name: str
    config: dict[str, Any]
    input_shape: Any = None  # build_config.input_shape: (batch, ...) or a list of them
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def get_config(self) -> dict[str, Any]:
        return self.config

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        if attr in self.arrays:
            return self.arrays[attr]
        if attr == "activation":
            spec = self.config.get("activation", "linear")
            fn = ACTIVATION_FUNCTIONS.get(spec) if isinstance(spec, str) else None
            return fn or (lambda x: x)  # only the measured or checked activations are ever evaluated
        if attr in ("use_bias", "scale", "center"):
            return bool(self.config.get(attr, True))
        if attr in self.config:
            return self.config[attr]
        raise AttributeError(f"{self.class_name} {self.name!r} has no {attr!r} in its stored config")


@dataclass
class LayerCall:
    """One layer call: the layer (a FileLayer, or a Keras layer of a loaded model), the keys of the tensors it
    reads and of those it produces."""

    layer: Any
    in_keys: list[Key]
    out_keys: list[Key]
    args: tuple[Any, ...] = ()  # a keras.ops call's positional arguments (nn2fpga.frontend.ops.scalar_args)


@dataclass
class ModelCalls:
    """A model as `from_keras` converts it: read from a file here, or walked from a loaded model."""

    name: str
    inputs: list[tuple[str, tuple[int, ...]]]  # (InputLayer name, shape without batch); its key is (name, 0, 0)
    calls: list[LayerCall]  # producers first
    outputs: list[Key]
    shapes: dict[Key, tuple[int, ...]]  # every tensor's shape without batch (the first output's only, per call)


def post_order(roots: list[T], inputs: Callable[[T], list[T]], identity: Callable[[T], Hashable]) -> list[T]:
    """Everything reachable from `roots` through `inputs`, each after what it reads, in the depth-first order
    of the Keras path (which uses it too, so that both paths build identical graphs); ValueError on a cycle.
    Iterative: deep models exceed the recursion limit."""
    order: list[T] = []
    done, opened = set(), set()
    stack = [(root, False) for root in reversed(roots)]
    while stack:
        item, expanded = stack.pop()
        key = identity(item)
        if key in done:
            continue
        if expanded:
            done.add(key)
            order.append(item)
        elif key in opened:  # reached again from what it reads
            raise ValueError("a cycle")
        else:
            opened.add(key)
            stack.append((item, True))
            stack.extend((i, False) for i in reversed(inputs(item)))
    return order


def read(path: Path, config: dict[str, Any], supported: set[str]) -> ModelCalls | None:
    """The model in a Keras 3 `.keras` file whose architecture `config` was already read (and scanned
    for Lambda layers); None when the file holds anything this reader does not handle.
    `supported`: the Keras classes the frontend converts."""
    try:
        try:
            model = _architecture(config, supported)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:  # a config of another shape
            raise Unsupported(f"config: {type(e).__name__} {e}") from e
        try:
            _attach_weights(path, model)
        except ModelError:
            raise
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:  # h5py and zipfile on damaged files
            raise ModelError(f"{path}: the weights (model.weights.h5) cannot be read: {e}") from e
        return model
    except Unsupported as e:
        log.debug("%s: reading it with Keras (%s)", path, e)
        return None


# ---- architecture -----------------------------------------------------------------------------------------


def _architecture(config: dict[str, Any], supported: set[str]) -> ModelCalls:
    cls, inner = config.get("class_name"), config.get("config")
    if not isinstance(inner, dict) or not isinstance(inner.get("layers"), list):
        raise Unsupported("no layer list")
    layers = inner["layers"]
    for spec in layers:
        if not isinstance(spec, dict) or spec.get("class_name") not in (*supported, "InputLayer"):
            raise Unsupported(f"class {spec.get('class_name') if isinstance(spec, dict) else spec!r}")
        if spec.get("module") not in ("keras.layers", None) or spec.get("registered_name") not in (None,):
            raise Unsupported(f"{spec.get('class_name')} from module {spec.get('module')!r}")
    if cls == "Sequential":
        model = _sequential(inner, layers)
    elif cls == "Functional":
        model = _functional(inner, layers)
    else:
        raise Unsupported(f"model class {cls!r}")
    _infer_shapes(model)
    return model


def _layer(spec: dict[str, Any]) -> FileLayer:
    cfg = spec.get("config") or {}
    if not isinstance(cfg.get("name"), str):
        raise Unsupported("a layer without a name")
    if cfg.get("quantization_config") or cfg.get("lora_rank"):
        raise Unsupported(f"{cfg['name']}: quantized or LoRA layer")
    built = (spec.get("build_config") or {}).get("input_shape")
    if built is not None and not (isinstance(built, list) and built):
        raise Unsupported(f"{cfg['name']}: build_config {built!r}")
    return FileLayer(spec["class_name"], cfg["name"], cfg, built)


def _sequential(inner: dict[str, Any], layers: list[dict[str, Any]]) -> ModelCalls:
    specs = list(layers)
    if specs and specs[0]["class_name"] == "InputLayer":
        first = _layer(specs.pop(0))
        shape = first.config.get("batch_shape")
    else:  # built without an Input: the first layer's build_config holds the input shape
        shape = ((specs[0].get("build_config") or {}).get("input_shape")) if specs else None
        first = FileLayer("InputLayer", f"{inner.get('name', 'sequential')}_input", {})
    model = ModelCalls(str(inner.get("name", "sequential")), [(first.name, _dims(shape))], [], [], {})
    key = (first.name, 0, 0)
    for spec in specs:
        out = (spec["config"]["name"], 0, 0)
        model.calls.append(LayerCall(_layer(spec), [key], [out]))
        key = out
    model.outputs = [key]
    return model


def _functional(inner: dict[str, Any], layers: list[dict[str, Any]]) -> ModelCalls:
    model = ModelCalls(str(inner.get("name", "model")), [], [], _refs(inner.get("output_layers")), {})
    input_names = {ref[0] for ref in _refs(inner.get("input_layers"))}
    calls: dict[str, LayerCall] = {}
    for spec in layers:
        layer = _layer(spec)
        nodes = spec.get("inbound_nodes") or []
        if spec["class_name"] == "InputLayer":
            if nodes or layer.name not in input_names:
                raise Unsupported(f"InputLayer {layer.name!r} that is not a model input")
            model.inputs.append((layer.name, _dims(layer.config.get("batch_shape"))))
            continue
        if len(nodes) != 1:
            raise Unsupported(f"layer {layer.name!r} applied {len(nodes)} times")
        node = nodes[0]
        if not isinstance(node, dict) or _tensors(node.get("kwargs", {})):
            raise Unsupported(f"layer {layer.name!r}: tensors in keyword arguments")
        tensors = _tensors(node.get("args", []))
        if not tensors:
            raise Unsupported(f"layer {layer.name!r} without input tensors")
        for t in tensors:  # the shapes Keras recorded, checked against the inferred ones later
            model.shapes.setdefault(t[0], t[1])
        calls[layer.name] = LayerCall(layer, [t[0] for t in tensors], [(layer.name, 0, 0)])
    if sorted(name for name, _ in model.inputs) != sorted(input_names):
        raise Unsupported("model inputs that are not InputLayers")
    # producers first; a tensor without a producer is a KeyError, a cycle a ValueError (both Unsupported)
    input_keys = {(name, 0, 0) for name, _ in model.inputs}
    keys = post_order(model.outputs, lambda k: [] if k in input_keys else calls[k[0]].in_keys, lambda k: k)
    model.calls = [calls[k[0]] for k in keys if k not in input_keys]
    return model


def _ref(ref: Any) -> Key:
    """The key of a [name, node, tensor] reference; only node 0 / tensor 0 (single-output layers)."""
    if not (isinstance(ref, list) and len(ref) == 3 and isinstance(ref[0], str)) or list(ref[1:]) != [0, 0]:
        raise Unsupported(f"tensor reference {ref!r}")
    return (ref[0], 0, 0)


def _refs(value: Any) -> list[Key]:
    """The keys of the model inputs or outputs: one reference or a list of them."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise Unsupported("model inputs or outputs")
    return [_ref(ref) for ref in value]


def _tensors(value: Any) -> list[tuple[Key, tuple[int, ...]]]:
    """(key, recorded shape) of every Keras tensor in a node's args, in order."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            cfg = value.get("config") or {}
            return [(_ref(cfg.get("keras_history")), _dims(cfg.get("shape")))]
        return [t for v in value.values() for t in _tensors(v)]
    if isinstance(value, list):
        return [t for v in value for t in _tensors(v)]
    return []


def _dims(shape: Any) -> tuple[int, ...]:
    """A stored (batch, ...) shape without the batch, every dimension known."""
    if not isinstance(shape, list) or len(shape) < 2 or not all(isinstance(d, int) for d in shape[1:]):
        raise Unsupported(f"shape {shape!r}")
    return tuple(shape[1:])


# ---- shapes -----------------------------------------------------------------------------------------------


def _infer_shapes(model: ModelCalls) -> None:
    """Every layer's output shape from its class and config; Unsupported where Keras recorded another."""
    recorded = dict(model.shapes)
    shapes = {(name, 0, 0): shape for name, shape in model.inputs}
    for call in model.calls:
        ins = [shapes[k] for k in call.in_keys]
        built = call.layer.input_shape  # what Keras recorded when it built the layer
        if built is not None and [_dims(b) for b in (built if isinstance(built[0], list) else [built])] != ins:
            raise Unsupported(f"{call.layer.name}: input shapes {ins} but the file records {built}")
        shapes[call.out_keys[0]] = _output_shape(call.layer, ins)
    for key, shape in recorded.items():
        if shapes.get(key) != shape:
            raise Unsupported(f"{key[0]}: inferred shape {shapes.get(key)} but the file records {shape}")
    model.shapes = shapes


def _pair(value: Any) -> tuple[int, int]:
    v = list(value) if isinstance(value, (list, tuple)) else [value, value]
    if len(v) != 2 or not all(isinstance(d, int) for d in v):
        raise Unsupported(f"pair {value!r}")
    return v[0], v[1]


def window_padding(size: Any, kernel: Any, strides: Any, mode: Any) -> tuple[int, int, int, int]:
    """Explicit (top, bottom, left, right) padding of a 2-D window over a (height, width) input: none for
    'valid', TensorFlow's for 'same' (the extra pixel after); ValueError for other modes."""
    if mode not in ("valid", "same"):
        raise ValueError(f"padding {mode!r}")
    totals = [max((-(-n // s) - 1) * s + k - n, 0) if mode == "same" else 0 for n, k, s in zip(size, kernel, strides)]
    return totals[0] // 2, totals[0] - totals[0] // 2, totals[1] // 2, totals[1] - totals[1] // 2


def _output_shape(layer: FileLayer, ins: list[tuple[int, ...]]) -> tuple[int, ...]:
    cls, cfg, x = layer.class_name, layer.config, ins[0]
    if cls in _SAME_SHAPE:
        return x
    if cls == "Dense":
        return (*x[:-1], int(cfg["units"]))
    if cls == "Concatenate":
        if cfg.get("axis", -1) not in (-1, len(x)):
            raise Unsupported("concatenation axis")
        return (*x[:-1], sum(s[-1] for s in ins))
    if cls in ("Flatten", "Reshape"):
        if cls == "Flatten":
            return (math.prod(x),)
        target = list(cfg.get("target_shape") or [])
        if target.count(-1) == 1:
            known = math.prod(d for d in target if d != -1)
            target[target.index(-1)] = math.prod(x) // known if known else 0
        return tuple(int(d) for d in target)
    if len(x) != 3 or cfg.get("data_format", "channels_last") not in (None, "channels_last"):
        raise Unsupported(f"{cls} on {x}")  # the converter's own error comes from the Keras path
    h, w, c = x
    if cls in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        if cfg.get("keepdims"):
            raise Unsupported("keepdims")
        return (c,)
    if cls == "ZeroPadding2D":
        (t, b), (left, r) = (_pair(p) for p in cfg["padding"])
        return (h + t + b, w + left + r, c)
    if cls in ("Conv2D", "DepthwiseConv2D"):
        kernel, strides = _pair(cfg["kernel_size"]), _pair(cfg["strides"])
        if _pair(cfg.get("dilation_rate", 1)) != (1, 1) or int(cfg.get("groups", 1) or 1) != 1:
            raise Unsupported("dilation or groups")
        c = c * int(cfg.get("depth_multiplier", 1)) if cls == "DepthwiseConv2D" else int(cfg["filters"])
    elif cls in ("MaxPooling2D", "AveragePooling2D"):
        kernel, strides = _pair(cfg["pool_size"]), _pair(cfg.get("strides") or cfg["pool_size"])
    else:
        raise Unsupported(f"no shape rule for {cls}")
    top, bottom, left, right = window_padding((h, w), kernel, strides, cfg.get("padding"))
    return (h + top + bottom - kernel[0]) // strides[0] + 1, (w + left + right - kernel[1]) // strides[1] + 1, c


# ---- weights ----------------------------------------------------------------------------------------------


def _attach_weights(path: Path, model: ModelCalls) -> None:
    """Each layer's variables from model.weights.h5, found by the layer name its `vars` group records."""
    import h5py

    with zipfile.ZipFile(path) as z:
        if "model.weights.h5" not in z.namelist():
            raise Unsupported("no model.weights.h5")
        data = z.read("model.weights.h5")
    stored: dict[str, list[np.ndarray]] = {}
    with h5py.File(io.BytesIO(data), "r") as f:
        group = f.get("layers")
        for key in group.keys() if group is not None else []:
            variables = group[key].get("vars")
            if variables is None or not isinstance(variables.attrs.get("name"), str):
                raise Unsupported(f"weights group layers/{key}")
            n = len(variables.keys())
            if sorted(variables.keys()) != sorted(str(i) for i in range(n)):
                raise Unsupported(f"variables of layers/{key}")
            stored[variables.attrs["name"]] = [np.asarray(variables[str(i)]) for i in range(n)]
    for call in model.calls:
        layer = call.layer
        names, arrays = _variables(layer.class_name, layer.config), stored.get(layer.name, [])
        check_variables(f"{path}: layer {layer.name!r}", names, arrays, layer.config, model.shapes[call.in_keys[0]])
        layer.arrays = dict(zip(names, arrays))
