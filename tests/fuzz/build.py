"""A fuzz `Recipe` as a Keras functional model (random weights from one seed), and as the code of a regression
test (`repro`)."""

from __future__ import annotations

import keras
from strategies import Recipe, Step, layer_names

L = keras.layers


def _init(mean: float, std: float):
    return keras.initializers.RandomNormal(mean, std)


def _layer(step: Step, name: str, rank: int):
    """The Keras layer of `step`; biases, BatchNorm statistics and PReLU slopes are random (not Keras's zeros)."""
    k, p = step.kind, dict(step.params)
    bias = {"bias_initializer": _init(0.0, 0.3)}
    if k in ("Conv2D", "Conv1D", "SeparableConv2D", "SeparableConv1D"):
        return getattr(L, k)(p["filters"], p["kernel"], strides=p["strides"], padding=p["padding"],
                             activation=p["activation"], name=name, **bias)  # fmt: skip
    if k == "DepthwiseConv2D":
        return L.DepthwiseConv2D(p["kernel"], strides=p["strides"], padding=p["padding"], activation=p["activation"],
                                 name=name, **bias)  # fmt: skip
    if k.startswith(("MaxPooling", "AveragePooling")):
        return getattr(L, k)(p["pool"], padding=p["padding"], name=name)
    if k.startswith(("ZeroPadding", "Cropping")):
        value = p["pad"] if k.startswith("Zero") else p["crop"]
        return getattr(L, k)(value if k.endswith("2D") else value[0], name=name)
    if k.startswith("UpSampling"):
        return getattr(L, k)(p["size"], name=name)
    if k == "Dense":
        return L.Dense(p["units"], activation=p["activation"], name=name, **bias)
    if k == "Activation":
        return L.Activation(p["activation"], name=name)
    if k == "BatchNormalization":
        return L.BatchNormalization(gamma_initializer=_init(1.0, 0.3), beta_initializer=_init(0.0, 0.3),
                                    moving_mean_initializer=_init(0.0, 0.3),
                                    moving_variance_initializer=keras.initializers.RandomUniform(0.5, 1.5),
                                    name=name)  # fmt: skip
    if k == "LeakyReLU":
        return L.LeakyReLU(negative_slope=p["negative_slope"], name=name)
    if k == "ReLU":
        return L.ReLU(max_value=p["max_value"], threshold=p["threshold"], name=name)
    if k == "PReLU":
        return L.PReLU(alpha_initializer=_init(0.2, 0.3), shared_axes=list(range(1, rank)) or None, name=name)
    if k == "Dot":
        return L.Dot(axes=1, name=name)
    return getattr(L, k)(name=name)  # Flatten, global pooling, the merges, Concatenate


def build_model(recipe: Recipe, seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = [keras.Input(s, name="x" if k == 0 else f"x{k}") for k, s in enumerate(recipe.inputs)]
    tensors = list(inputs)
    for name, step in zip(layer_names(recipe), recipe.steps):
        ins = [tensors[i] for i in step.inputs]
        layer = _layer(step, name, len(ins[0].shape) - 1)
        tensors.append(layer(ins if len(ins) > 1 else ins[0]))
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], tensors[-1])


def repro(case) -> str:
    """The Python of `case`, to paste into a regression test."""
    steps = ",\n        ".join(repr(s) for s in case.recipe.steps)
    seeds = f"weight_seed={case.weight_seed}, fold_seed={case.fold_seed}, input_scale={case.input_scale}"
    return f"Case(Recipe({case.recipe.inputs!r}, (\n        {steps},\n    )),\n    {case.config!r},\n    {seeds})"
