"""Float-level graph rewrites that run before quantization (flow "optimize").

Each pass rewrites every match in one sweep over one topological listing (a removed layer is only
ever the one being visited, so the listing stays valid) and returns whether it changed the graph;
the manager runs it again until it returns False.
"""

from __future__ import annotations

import numpy as np

from nn2fpga.config import Config
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Activation, Add, BatchNorm, Conv2D, DepthwiseConv2D, Input, Linear, Reshape, ZeroPad2D


def remove_noops(g: Graph, cfg: Config) -> bool:
    """Remove linear Activation layers (identity before quantization).

    Post: no Activation(linear) remains unless a quantizer fixes its result type (then it is a cast), it is the
    model's only layer (Input -> linear), or a layer reads both it and its input (Add(x, linear(x)): the graph
    has one edge per pair of layers).
    """
    changed = False
    for layer in g.layers():
        if not isinstance(layer, Activation) or layer.fn != "linear":
            continue
        keep = "result" in layer.fixed  # a quantizer: a cast
        # the model's only layer: without it the io_stream top function would write no output (csim aborted)
        keep = keep or (g.is_output(layer.name) and isinstance(g.producer(layer.name), Input))
        if not keep and g.removable(layer.name):
            g.remove(layer.name)
            changed = True
    return changed


def merge_reshapes(g: Graph, cfg: Config) -> bool:
    """Remove a Reshape feeding only another Reshape (row-major order is kept, so the second one's shape is
    all that counts), and a Reshape to its input's own shape (what 1-D layers leave between each other).

    Post: no Reshape feeds only a Reshape; no Reshape other than a graph output keeps its input's shape, unless
    a layer reads both it and its input (as remove_noops).
    """
    changed = False
    for layer in g.layers():
        if not isinstance(layer, Reshape) or g.is_output(layer.name):
            continue
        users = g.users(layer.name)
        same = layer.shape == g.producer(layer.name).shape
        if (same or (len(users) == 1 and isinstance(users[0], Reshape))) and g.removable(layer.name):
            g.remove(layer.name)
            changed = True
    return changed


def fold_batchnorm(g: Graph, cfg: Config) -> bool:
    """Fold BatchNorm into the preceding Dense/Conv: W' = W * scale (per output channel),
    b' = b * scale + bias, in float64 before quantization.

    Pre: the producer has a linear activation, feeds only this BatchNorm (fan-out guard) and is
    not a graph output. Post: the BatchNorm is gone; the producer computes its values.
    """
    changed = False
    for bn in g.layers():
        if not isinstance(bn, BatchNorm):
            continue
        dense = g.producer(bn.name)
        if not isinstance(dense, Linear) or dense.activation != "linear" or "result" in dense.fixed:
            continue  # (a quantizer's cast between them does not commute)
        if len(g.users(dense.name)) != 1 or g.is_output(dense.name):
            continue
        bias = dense.bias if dense.bias is not None else np.zeros(dense.n_out)
        # output channels are the last weight axis, except for depthwise filters (kh, kw, c, 1)
        scale = bn.scale[:, np.newaxis] if isinstance(dense, DepthwiseConv2D) else bn.scale
        dense.weight = dense.weight * scale
        dense.bias = bias * bn.scale + bn.bias
        # folded constants are no longer on a quantizer's grid: their types come from the config again
        dense.fixed = {role: t for role, t in dense.fixed.items() if role not in ("weight", "bias")}
        g.remove(bn.name)
        changed = True
    return changed


def fuse_activation(g: Graph, cfg: Config) -> bool:
    """Fuse a ReLU into the preceding Dense/Conv/Add, which then computes cast<result>(relu(sum)).

    Pre: the producer is linear, feeds only this Activation and is not a graph output. Post: the
    Activation is gone; `dense.fused` keeps it, so its configured result precision still applies.
    For Add (the ResNet block's add + ReLU) this also removes a rounding: the sum is cast once.
    """
    changed = False
    for act in g.layers():
        if not isinstance(act, Activation) or act.fn != "relu":
            continue
        dense = g.producer(act.name)
        if not isinstance(dense, (Linear, Add)) or dense.activation != "linear" or "result" in dense.fixed:
            continue  # (a quantizer's cast between them does not commute)
        if len(g.users(dense.name)) != 1 or g.is_output(dense.name):
            continue
        dense.activation = "relu"
        dense.fused = act
        dense.shape = act.shape
        g.remove(act.name)
        changed = True
    return changed


def fold_zeropad(g: Graph, cfg: Config) -> bool:
    """Fold ZeroPad2D into the convolution it feeds (zero padding is what convolutions pad with).

    Pre: the pad feeds only convolutions and is not an output. Post: the pad is gone; each
    convolution's `padding` grew by the pad's. Pads before pooling stay (max pooling ignores its
    own padding, so zeros there are not equivalent). Consumers first, so a chain of pads folds in one sweep.
    """
    changed = False
    for pad in reversed(g.layers()):
        if not isinstance(pad, ZeroPad2D) or g.is_output(pad.name):
            continue
        users = g.users(pad.name)
        if not users or not all(isinstance(u, Conv2D) for u in users):
            continue
        for conv in users:
            conv.padding = tuple(a + b for a, b in zip(conv.padding, pad.padding))
        g.remove(pad.name)
        changed = True
    return changed
