"""Keras frontend: a Keras 3 or tf_keras (Keras 2) model -> `nn2fpga.ir.graph.Graph`.

Models come from `load_model` (`nn2fpga.frontend.loading`: in memory or a file, Lambda layers refused
before anything is deserialized); Keras 3 `.keras` files of supported layers are read without Keras at
all (`nn2fpga.frontend.keras_file`). `from_keras` walks the model's functional graph (inbound nodes, so
Sequential and Functional models are one case) from the outputs back to the inputs and converts each
layer call with one function per Keras or QKeras class (`CONVERTERS`, from `nn2fpga.frontend.converters`
and `nn2fpga.frontend.qkeras`), adding the IR layers it returns, chained, to the graph.

TensorFlow / Keras are imported inside functions only, so `import nn2fpga` stays TF-free.
"""

from __future__ import annotations

import importlib
import os
import zipfile
from pathlib import Path
from typing import Any

from nn2fpga.frontend import keras_file
from nn2fpga.frontend.converters import KERAS_CONVERTERS, Call, Converter
from nn2fpga.frontend.loading import KERAS3, file_config, flavor_of, load_model, refuse_lambdas
from nn2fpga.frontend.qkeras import QKERAS_CONVERTERS, fold_quantizers
from nn2fpga.ir.errors import ModelError
from nn2fpga.ir.graph import Graph, GraphError
from nn2fpga.ir.layers import Input, Layer

CONVERTERS: dict[str, Converter] = {**KERAS_CONVERTERS, **QKERAS_CONVERTERS}  # Keras class name -> converter

# ---- walking the functional graph ------------------------------------------------------------------------

Key = Any  # a tensor's identity: (producing layer, node index, output index)


def from_keras(source: Any, name: str | None = None, custom_objects: dict[str, Any] | None = None) -> Graph:
    """Convert a Keras model (in memory or a path; see `load_model`) into a Graph named `name` or model.name.

    A Keras 3 `.keras` file of supported layers is read without Keras (`keras_file`): no TensorFlow
    import, nothing deserialized. Anything else goes through the Keras loader.
    """
    parsed = _read_file(source) if custom_objects is None else None
    if parsed is not None:
        model_name, inputs, calls, outputs, flavor = (
            parsed.name, parsed.inputs, _file_calls(parsed), parsed.outputs, KERAS3
        )  # fmt: skip
    else:
        model = load_model(source, custom_objects)
        model_name, flavor = model.name, flavor_of(model)
        inputs, calls, outputs = _model_calls(model)
    graph = Graph(name or model_name)
    produced: dict[Key, str] = {}  # Keras tensor -> IR layer holding its value
    for input_name, shape in inputs:  # 1. one Input per model input, in the model's order
        graph.add(Input(input_name, shape=shape))
        produced[(input_name, 0, 0)] = input_name
    for layer, in_keys, in_shapes, out_keys, out_shape in calls:  # 2. every other layer call, producers first
        call = Call(layer, [produced[k] for k in in_keys], in_shapes, out_shape, flavor)
        last = _add(graph, call, _converter(call)(call))
        produced.update((k, last) for k in out_keys)
    graph.outputs = [produced[k] for k in outputs]  # 3. the outputs, by the IR layer now holding each value
    fold_quantizers(graph)
    graph.lint()
    return graph


def _read_file(source: Any) -> keras_file.FileModel | None:
    """The Keras-free reading of a Keras 3 .keras file, or None (not such a file, or not one it handles)."""
    if not isinstance(source, (str, os.PathLike)) or flavor_of(source) is not None:
        return None
    path = Path(source)
    if not path.is_file() or not zipfile.is_zipfile(path):
        return None
    flavor, config = file_config(path)
    refuse_lambdas(config, path)
    if flavor != KERAS3:
        return None
    return keras_file.read(path, config, set(CONVERTERS))


def _file_calls(model: keras_file.FileModel) -> list[tuple[Any, list[Key], list[tuple[int, ...]], list[Key], Any]]:
    return [
        (c.layer, c.in_keys, [model.shapes[k] for k in c.in_keys], [c.out_key], model.shapes[c.out_key])
        for c in model.calls
    ]


def _model_calls(model: Any) -> tuple[list[tuple[str, tuple[int, ...]]], list[tuple], list[Key]]:
    """(inputs as (name, shape), layer calls as (layer, input keys, input shapes, output keys, output
    shape), output keys) of a loaded Keras model; an input's key is (its name, 0, 0), as in a file."""
    inputs, outputs = _model_io(model)
    input_keys = {_key(t): (t._keras_history[0].name, 0, 0) for t in inputs}
    calls, seen_layers = [], set()
    for layer, node in _topological_nodes(outputs):
        if node.is_input:
            continue  # model inputs are done; a dangling InputLayer cannot feed the outputs
        if id(layer) in seen_layers:
            raise ModelError(f"layer {layer.name!r} is applied more than once; shared layers are not supported")
        seen_layers.add(id(layer))
        ins, outs = _node_inputs(node), _flat(node.output_tensors)
        keys = [input_keys.get(_key(t), _key(t)) for t in ins]
        calls.append(
            (layer, keys, [_shape(t, layer.name) for t in ins], [_key(t) for t in outs], _shape(outs[0], layer.name))
        )
    specs = [(t._keras_history[0].name, _shape(t, t._keras_history[0].name)) for t in inputs]
    return specs, calls, [input_keys.get(_key(t), _key(t)) for t in outputs]


def _add(graph: Graph, call: Call, converted: list[Layer]) -> str:
    """Add the IR layers of one call, chained; the name of the layer holding the call's output."""
    if not converted:  # inference no-op: its output is its input
        if len(call.inputs) != 1:
            raise ModelError(f"{call.where}: a no-op with {len(call.inputs)} inputs")
        return call.inputs[0]
    prev = call.inputs
    for ir_layer in converted:
        try:
            graph.add(ir_layer, prev)
        except GraphError as e:  # a fused activation named like another Keras layer
            raise ModelError(f"{call.where}: cannot name its IR layer {ir_layer.name!r}: {e}; rename a layer") from e
        prev = [ir_layer.name]
    return prev[0]


def _model_io(model: Any) -> tuple[list[Any], list[Any]]:
    """The model's input and output Keras tensors; ModelError for unbuilt or subclassed models."""
    try:
        inputs, outputs = _flat(model.inputs), _flat(model.outputs)
    except (AttributeError, ValueError):
        inputs, outputs = [], []
    if not inputs or not outputs or not all(hasattr(t, "_keras_history") for t in inputs + outputs):
        raise ModelError(
            f"model {model.name!r} ({type(model).__name__}) has no layer graph: only Sequential models with a known "
            "input shape and Functional models are supported (not subclassed models)"
        )
    return inputs, outputs


def _topological_nodes(outputs: list[Any]) -> list[tuple[Any, Any]]:
    """(layer, node) pairs reachable from `outputs`, every node after the nodes feeding it."""
    order: list[tuple[Any, Any]] = []
    done: set[int] = set()
    stack: list[tuple[Any, bool]] = [(t, False) for t in reversed(outputs)]
    while stack:  # iterative depth-first post-order (deep models exceed the recursion limit)
        tensor, expanded = stack.pop()
        layer, node_index, _ = tensor._keras_history
        node = layer._inbound_nodes[node_index]
        if id(node) in done:
            continue
        if expanded:
            done.add(id(node))
            order.append((layer, node))
            continue
        stack.append((tensor, True))
        stack.extend((t, False) for t in reversed(_node_inputs(node)))
    return order


def _key(tensor: Any) -> tuple[int, int, int]:
    """A Keras tensor's identity: (producing layer, node index, output index) from its history."""
    layer, node_index, tensor_index = tensor._keras_history
    return id(layer), node_index, tensor_index


def _node_inputs(node: Any) -> list[Any]:
    # tf_keras keeps the flat Keras inputs in `keras_inputs`; Keras 3's `input_tensors` is already flat
    return _flat(node.keras_inputs if hasattr(node, "keras_inputs") else node.input_tensors)


def _flat(x: Any) -> list[Any]:
    if isinstance(x, dict):
        return [t for v in x.values() for t in _flat(v)]
    if isinstance(x, (list, tuple)):
        return [t for v in x for t in _flat(v)]
    return [] if x is None else [x]


def _shape(tensor: Any, layer_name: str) -> tuple[int, ...]:
    dims = tuple(tensor.shape)[1:]
    if any(d is None for d in dims):
        raise ModelError(f"layer {layer_name!r}: output shape {dims} has unknown dimensions; give a fixed input shape")
    return tuple(int(d) for d in dims)


def _converter(call: Call) -> Converter:
    """The converter for this call's Keras class, or ModelError naming the layer and the supported list."""
    layer, cls = call.layer, call.cls
    if isinstance(layer, keras_file.FileLayer):
        return CONVERTERS[cls]  # the reader takes supported classes only
    base = importlib.import_module(call.flavor).layers.Layer
    converter = CONVERTERS.get(cls) if isinstance(layer, base) else None
    if converter is not None:
        return converter
    supported = ", ".join(sorted(CONVERTERS))
    if cls == "Lambda":
        raise ModelError(f"{call.where} runs arbitrary Python code and is not supported; supported: {supported}")
    if not isinstance(layer, base):  # Keras 3 ops on Keras tensors (x * 2, keras.ops.add) are not layers
        raise ModelError(f"operation {layer.name!r} ({cls}, a keras.ops call) is not supported; supported: {supported}")
    raise ModelError(f"{call.where} is not supported; supported: {supported}")
