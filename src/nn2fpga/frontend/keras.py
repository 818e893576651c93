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
from nn2fpga.frontend.embedding import embedding, index_inputs
from nn2fpga.frontend.keras_file import Key, LayerCall, ModelCalls, post_order
from nn2fpga.frontend.loading import KERAS3, file_config, flavor_of, load_model, refuse_lambdas
from nn2fpga.frontend.merges import MERGE_CONVERTERS
from nn2fpga.frontend.ops import OP_CONVERTERS, scalar_args
from nn2fpga.frontend.preprocessing import PREPROCESSING_CONVERTERS
from nn2fpga.frontend.qkeras import QKERAS_CONVERTERS, fold_quantizers
from nn2fpga.frontend.recurrent import RECURRENT_CONVERTERS
from nn2fpga.frontend.spatial import SPATIAL_CONVERTERS
from nn2fpga.ir.errors import ModelError
from nn2fpga.ir.graph import Graph, GraphError
from nn2fpga.ir.layers import Input, Layer

CONVERTERS: dict[str, Converter] = {
    **KERAS_CONVERTERS,
    **SPATIAL_CONVERTERS,
    **MERGE_CONVERTERS,
    **RECURRENT_CONVERTERS,
    "Embedding": embedding,
    **PREPROCESSING_CONVERTERS,
    **QKERAS_CONVERTERS,
}  # Keras class name -> converter

# ---- walking the functional graph ------------------------------------------------------------------------


def from_keras(source: Any, name: str | None = None, custom_objects: dict[str, Any] | None = None) -> Graph:
    """Convert a Keras model (in memory or a path; see `load_model`) into a Graph named `name` or model.name.

    A Keras 3 `.keras` file of supported layers is read without Keras (`keras_file`): no TensorFlow
    import, nothing deserialized. Anything else goes through the Keras loader.
    """
    model = _read_file(source) if custom_objects is None else None
    flavor = KERAS3  # of a file read without Keras
    if model is None:
        keras_model = load_model(source, custom_objects)
        model, flavor = _model_calls(keras_model), flavor_of(keras_model)
    graph = Graph(name or model.name)
    produced: dict[Key, str] = {}  # Keras tensor -> IR layer holding its value
    for input_name, shape in model.inputs:  # 1. one Input per model input, in the model's order
        graph.add(Input(input_name, shape=shape))
        produced[(input_name, 0, 0)] = input_name
    for c in model.calls:  # 2. every other layer call, producers first
        in_shapes, shape = [model.shapes[k] for k in c.in_keys], model.shapes[c.out_keys[0]]
        call = Call(c.layer, [produced[k] for k in c.in_keys], in_shapes, shape, flavor, args=c.args)
        last = _add(graph, call, _converter(call)(call))
        produced.update((k, last) for k in c.out_keys)
    graph.outputs = [produced[k] for k in model.outputs]  # 3. the outputs, by the IR layer now holding each value
    fold_quantizers(graph)
    index_inputs(graph)
    graph.lint()
    return graph


def _read_file(source: Any) -> ModelCalls | None:
    """The Keras-free reading of a Keras 3 .keras file, or None (not such a file, or not one it handles)."""
    if not isinstance(source, (str, os.PathLike)) or not zipfile.is_zipfile(source):
        return None
    path = Path(source)
    flavor, config = file_config(path)
    refuse_lambdas(config, path)
    if flavor != KERAS3:
        return None
    return keras_file.read(path, config, set(CONVERTERS))


def _model_calls(model: Any) -> ModelCalls:
    """The layer calls of a loaded Keras model, producers first; ModelError for unbuilt or subclassed models."""
    try:
        inputs, outputs = _flat(model.inputs), _flat(model.outputs)
    except (AttributeError, ValueError):
        inputs, outputs = [], []
    if not inputs or not outputs or not all(hasattr(t, "_keras_history") for t in inputs + outputs):
        raise ModelError(
            f"model {model.name!r} ({type(model).__name__}) has no layer graph: only Sequential models with a known "
            "input shape and Functional models are supported (not subclassed models)"
        )
    walked, seen_layers = ModelCalls(model.name, [], [], [_key(t) for t in outputs], {}), set()
    for tensor in post_order(outputs, lambda t: _node_inputs(_node(t)), lambda t: id(_node(t))):
        layer, node = tensor._keras_history[0], _node(tensor)
        if node.is_input:
            continue  # model inputs are done; a dangling InputLayer cannot feed the outputs
        if id(layer) in seen_layers:
            raise ModelError(f"layer {layer.name!r} is applied more than once; shared layers are not supported")
        seen_layers.add(id(layer))
        ins, outs = _node_inputs(node), _flat(node.output_tensors)
        walked.calls.append(LayerCall(layer, [_key(t) for t in ins], [_key(t) for t in outs], scalar_args(node)))
        walked.shapes.update((_key(t), _shape(t, layer.name)) for t in ins)
        walked.shapes[_key(outs[0])] = _shape(outs[0], layer.name)
    walked.inputs = [(t._keras_history[0].name, _shape(t, t._keras_history[0].name)) for t in inputs]
    return walked


def _add(graph: Graph, call: Call, converted: list[Layer]) -> str:
    """Add the IR layers of one call, chained; the name of the layer holding the call's output."""
    if not converted:  # inference no-op: its output is its input
        if len(call.inputs) != 1:
            raise ModelError(f"{call.where}: a no-op with {len(call.inputs)} inputs")
        return call.inputs[0]
    prev = call.inputs
    if twice := sorted({src for src in prev if prev.count(src) > 1}):  # one edge per pair of layers in the graph
        raise ModelError(f"{call.where}: reads {twice[0]!r} more than once (as {len(prev)} inputs); a layer "
                         "reading one tensor twice is not supported")  # fmt: skip
    for ir_layer in converted:
        try:
            graph.add(ir_layer, prev)
        except GraphError as e:  # a fused activation named like another Keras layer
            raise ModelError(f"{call.where}: cannot name its IR layer {ir_layer.name!r}: {e}; rename a layer") from e
        prev = [ir_layer.name]
    return prev[0]


def _node(tensor: Any) -> Any:
    """The Keras node (a call of a layer) that produced `tensor`."""
    layer, node_index, _ = tensor._keras_history
    return layer._inbound_nodes[node_index]


def _key(tensor: Any) -> Key:
    """A Keras tensor's identity: (id of the producing layer, node index, output index) from its history; a
    model input's is (its name, 0, 0), as in a file (every InputLayer feeding the outputs is a model input)."""
    layer, node_index, tensor_index = tensor._keras_history
    return (layer.name, 0, 0) if _node(tensor).is_input else (id(layer), node_index, tensor_index)


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
    is_layer = isinstance(layer, keras_file.FileLayer)  # the reader takes supported classes only: no Keras import
    is_layer = is_layer or isinstance(layer, importlib.import_module(call.flavor).layers.Layer)
    if is_layer and cls in CONVERTERS:
        return CONVERTERS[cls]
    supported = ", ".join(sorted(CONVERTERS))
    if cls == "Lambda":
        raise ModelError(f"{call.where} runs arbitrary Python code and is not supported; supported: {supported}")
    if not is_layer and cls in OP_CONVERTERS:
        return OP_CONVERTERS[cls]
    if not is_layer:  # Keras 3 ops on Keras tensors (x * 2, keras.ops.add) are not layers
        raise ModelError(f"operation {layer.name!r} ({cls}, a keras.ops call) is not supported; supported: {supported}")
    raise ModelError(f"{call.where} is not supported; supported: {supported}")
