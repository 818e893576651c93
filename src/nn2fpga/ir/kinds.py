"""The registry of layer kinds: every IR dataclass, in the order configs, the JSON form and the docs list them."""

from __future__ import annotations

from nn2fpga.ir.layers import (
    Activation,
    Add,
    BatchNorm,
    ChannelScale,
    Concatenate,
    Conv2D,
    Crop2D,
    Dense,
    DepthwiseConv2D,
    Dot,
    Embedding,
    GlobalPool2D,
    Input,
    Layer,
    LayerNorm,
    Pool2D,
    PReLU,
    Reshape,
    Transpose,
    UpSample2D,
    ZeroPad2D,
)
from nn2fpga.ir.recurrent import Recurrent

LAYER_KINDS: tuple[type[Layer], ...] = (
    Input,
    Dense,
    Activation,
    BatchNorm,
    LayerNorm,
    Reshape,
    Conv2D,
    DepthwiseConv2D,
    ZeroPad2D,
    Crop2D,
    UpSample2D,
    Transpose,
    Embedding,
    PReLU,
    Pool2D,
    GlobalPool2D,
    Add,
    ChannelScale,
    Dot,
    Concatenate,
    Recurrent,
)
