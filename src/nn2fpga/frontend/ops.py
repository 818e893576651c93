"""Converters of Keras 3 operations on Keras tensors (`x + 3.0`, `x * y`, keras.ops.multiply) that a model
calls between its layers, as keras.applications' MobileNetV3 does (hard_sigmoid = relu6(x + 3) * (1 / 6)).

A tensor and one number: add, subtract, multiply, divide by it become a BatchNorm layer of their own (x * scale
+ bias, one value per channel; `fold_batchnorm` merges it into a preceding Dense or convolution). Two tensors:
add, subtract, multiply as the merge layers do (Multiply of a map by a per-channel vector: ChannelScale).
"""

from __future__ import annotations

import numpy as np

from nn2fpga.frontend.converters import Call, Converter
from nn2fpga.frontend.merges import merge
from nn2fpga.ir.errors import ModelError
from nn2fpga.ir.layers import BatchNorm, Layer

# op class -> (scale, bias) of x op c, and of c op x where that is an affine map of x
_AFFINE = {
    "Add": (lambda c: (1.0, c), lambda c: (1.0, c)),
    "Subtract": (lambda c: (1.0, -c), lambda c: (-1.0, c)),
    "Multiply": (lambda c: (c, 0.0), lambda c: (c, 0.0)),
    "TrueDivide": (lambda c: (1.0 / c, 0.0), None),
}


def _operation(call: Call) -> list[Layer]:
    numbers = [(i, a) for i, a in enumerate(call.args) if a is not None]
    if len(call.inputs) == 2 and not numbers and call.cls in ("Add", "Subtract", "Multiply"):
        return merge(call)
    if len(call.inputs) != 1 or len(numbers) != 1 or len(call.args) != 2:
        raise ModelError(f"operation {call.name!r} ({call.cls}, a keras.ops call): only a tensor and one number, or "
                         "two tensors (add, subtract, multiply), are supported")  # fmt: skip
    position, value = numbers[0]
    rule = _AFFINE[call.cls][0 if position == 1 else 1]
    if rule is None:
        raise ModelError(f"operation {call.name!r} ({call.cls}): a number divided by a tensor is not supported")
    scale, bias = rule(float(value))
    channels = call.shape[-1] if call.shape else 1
    return [BatchNorm(call.name, shape=call.shape, scale=np.full(channels, scale), bias=np.full(channels, bias))]


OP_CONVERTERS: dict[str, Converter] = dict.fromkeys(_AFFINE, _operation)


def scalar_args(node: object) -> tuple[object, ...]:
    """The positional arguments of a Keras 3 node: numbers as floats, tensors (and anything else) as None."""
    args = getattr(getattr(node, "arguments", None), "args", ()) or ()
    return tuple(float(a) if isinstance(a, (int, float, np.number)) and not isinstance(a, bool) else None for a in args)
