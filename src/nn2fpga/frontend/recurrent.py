"""Converters of Keras SimpleRNN, LSTM and GRU (nn2fpga.ir.recurrent): the cell's weights as Keras holds them
(kernel (n_in, G units), recurrent_kernel (units, G units), bias; GRU's (2, 3 units) with reset_after), tanh as
the activation and sigmoid as the recurrent activation, forward in time, stateless."""

from __future__ import annotations

from typing import Any

import numpy as np

from nn2fpga.frontend.converters import Call, Converter, to_array
from nn2fpga.ir.errors import ModelError
from nn2fpga.ir.layers import Layer
from nn2fpga.ir.recurrent import GATES, Recurrent

_CELLS = {"SimpleRNN": "simple", "LSTM": "lstm", "GRU": "gru"}


def _cell(layer: Any) -> Any:
    return getattr(layer, "cell", layer)


def recurrent(call: Call) -> list[Layer]:
    cfg, kind = call.layer.get_config(), _CELLS[call.cls]
    for key in ("go_backwards", "stateful", "return_state"):
        if cfg.get(key):
            raise ModelError(f"{call.where}: {key}=True is not supported")
    if cfg.get("activation", "tanh") != "tanh":
        raise ModelError(f"{call.where}: activation={cfg['activation']!r} is not supported (tanh)")
    if kind != "simple" and cfg.get("recurrent_activation", "sigmoid") != "sigmoid":
        raise ModelError(f"{call.where}: recurrent_activation={cfg['recurrent_activation']!r} is not supported "
                         "(sigmoid)")  # fmt: skip
    if kind == "gru" and not cfg.get("reset_after", True):
        raise ModelError(f"{call.where}: reset_after=False is not supported (Keras's default, True)")
    (in_shape,) = call.in_shapes
    if len(in_shape) != 2:
        raise ModelError(f"{call.where}: expected a (steps, features) input, got {in_shape}")
    cell = _cell(call.layer)
    weight, recurrent_w = to_array(cell.kernel), to_array(cell.recurrent_kernel)
    width = GATES[kind] * int(cfg["units"])
    bias, recurrent_bias = np.zeros(width), np.zeros(width)
    if cfg.get("use_bias", True):
        b = to_array(cell.bias)
        if kind == "gru" and b.ndim == 2:  # reset_after: the input bias and the recurrent bias
            bias, recurrent_bias = b[0], b[1]
        else:
            bias = b.reshape(-1)
    return [Recurrent(call.name, shape=call.shape, cell=kind, weight=weight, recurrent=recurrent_w, bias=bias,
                      recurrent_bias=recurrent_bias, return_sequences=bool(cfg.get("return_sequences")))]  # fmt: skip


RECURRENT_CONVERTERS: dict[str, Converter] = dict.fromkeys(_CELLS, recurrent)
