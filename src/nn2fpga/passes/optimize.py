"""Float-level graph rewrites that run before quantization (flow "optimize")."""

from __future__ import annotations

import numpy as np

from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Activation, BatchNorm, Dense


def remove_noops(g: Graph, cfg: object) -> bool:
    """Remove linear Activation layers (identity before quantization).

    Post: no Activation(linear) remains unless it is the only layer after an Input-only graph.
    """
    for layer in g.layers():
        if isinstance(layer, Activation) and layer.fn == "linear":
            g.remove(layer.name)
            return True
    return False


def fold_batchnorm(g: Graph, cfg: object) -> bool:
    """Fold BatchNorm into the preceding Dense: W' = W * scale, b' = b * scale + bias (float64).

    Pre: the Dense has a linear activation and feeds only this BatchNorm (fan-out guard), and is
    not a graph output. Post: the BatchNorm is gone; the Dense produces its values.
    """
    for bn in g.layers():
        if not isinstance(bn, BatchNorm):
            continue
        dense = g.producer(bn.name)
        if not isinstance(dense, Dense) or dense.activation != "linear":
            continue
        if len(g.users(dense.name)) != 1 or g.is_output(dense.name):
            continue
        bias = dense.bias if dense.bias is not None else np.zeros(dense.n_out)
        dense.weight = dense.weight * bn.scale[np.newaxis, :]
        dense.bias = bias * bn.scale + bn.bias
        g.remove(bn.name)
        return True
    return False


def fuse_activation(g: Graph, cfg: object) -> bool:
    """Fuse a ReLU into the preceding Dense, which then computes cast<result>(relu(acc)).

    Pre: the Dense is linear, feeds only this Activation and is not a graph output. Post: the
    Activation is gone; `dense.fused` keeps it, so its configured result precision still applies.
    """
    for act in g.layers():
        if not isinstance(act, Activation) or act.fn != "relu":
            continue
        dense = g.producer(act.name)
        if not isinstance(dense, Dense) or dense.activation != "linear":
            continue
        if len(g.users(dense.name)) != 1 or g.is_output(dense.name):
            continue
        dense.activation = "relu"
        dense.fused = act
        dense.shape = act.shape
        g.remove(act.name)
        return True
    return False
