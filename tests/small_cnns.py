"""Small Keras CNNs (12x10x3 inputs) shared by the codegen and frontend tests: strided and 'valid'
convolutions, depthwise, pooling with padding, branches (skip Add, Concatenate, BatchNorm, softmax) and a
three-way Add. Each builder maps an input tensor to the model's output; layers carry explicit names."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")
L = keras.layers


def strided(i: keras.KerasTensor) -> keras.KerasTensor:
    x = L.Conv2D(6, 3, strides=2, padding="same", activation="relu", name="c1")(i)
    x = L.Conv2D(4, (3, 2), strides=(1, 2), padding="valid", name="c2")(x)
    return L.Flatten(name="flat")(x)


def depthwise(i: keras.KerasTensor) -> keras.KerasTensor:
    x = L.DepthwiseConv2D(3, padding="same", activation="relu", name="d1")(i)
    x = L.DepthwiseConv2D(2, strides=2, name="d2")(x)
    return L.GlobalAveragePooling2D(name="gap")(x)


def pools(i: keras.KerasTensor) -> keras.KerasTensor:
    x = L.Conv2D(5, 1, name="c")(i)
    x = L.MaxPooling2D(3, strides=2, padding="same", name="mp1")(x)
    x = L.AveragePooling2D(2, name="ap")(x)
    x = L.ZeroPadding2D(((1, 0), (2, 1)), name="zp")(x)
    x = L.MaxPooling2D(2, name="mp2")(x)
    return L.GlobalMaxPooling2D(name="gmp")(x)


def branches(i: keras.KerasTensor) -> keras.KerasTensor:
    a = L.Conv2D(4, 3, padding="same", activation="relu", name="a")(i)
    b = L.Conv2D(4, 3, padding="same", name="b")(a)
    b = L.BatchNormalization(name="bn")(b)
    s = L.Activation("relu", name="relu")(L.Add(name="sum")([a, b]))
    c = L.Concatenate(name="cat")([s, L.Conv2D(3, 1, name="c")(a)])
    x = L.MaxPooling2D(2, name="mp")(c)
    return L.Dense(3, activation="softmax", name="fc")(L.Flatten(name="flat")(x))


def three_way_add(i: keras.KerasTensor) -> keras.KerasTensor:
    a = L.Conv2D(4, 1, name="a")(i)
    b = L.Conv2D(4, 3, padding="same", name="b")(i)
    c = L.Conv2D(4, 5, padding="same", name="c")(i)
    return L.GlobalAveragePooling2D(name="gap")(L.Add(name="sum")([a, b, c]))
