"""Write docs/layers.md: every Keras layer kind of hls4ml's Keras test suite, one small model each, converted
with nn2fpga in both IO types at ap_fixed<20,8>.

    python scripts/layer_table.py            # convert, C-simulate, write docs/layers.md
    python scripts/layer_table.py --check    # convert only; exit 1 if docs/layers.md differs

A kind converts when both projects build, the C simulation equals the bit-exact reference on 200 random
inputs (not with --check: the tests per kind under tests/project do that on 1,000) and the reference lies
within the derived error bound of Keras (nn2fpga.testing.error_bound). A refused kind shows the first line
of nn2fpga's message. tests/project/test_layers_doc.py runs the --check comparison.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

DOC = Path(__file__).resolve().parent.parent / "docs" / "layers.md"
PRECISION = "ap_fixed<20,8>"
IO_TYPES = ("io_parallel", "io_stream")


def cases(keras: Any) -> dict[str, tuple[str, Callable[[], Any]]]:
    """Kind -> (hls4ml test that converts it, a function building a small model of it)."""
    L = keras.layers

    def one(shape: tuple[int, ...], body: Callable[[Any], Any]) -> Callable[[], Any]:
        def build() -> Any:
            keras.utils.set_random_seed(1)
            i = keras.Input(shape, name="x")
            y = body(i)
            return keras.Model(i, L.Flatten()(y) if len(y.shape) > 2 else y)

        return build

    def two(body: Callable[[Any, Any], Any]) -> Callable[[], Any]:
        def build() -> Any:
            keras.utils.set_random_seed(1)
            a, b = keras.Input((8,), name="a"), keras.Input((8,), name="b")
            return keras.Model([a, b], body(a, b))

        return build

    def act(layer: Callable[[], Any]) -> Callable[[], Any]:
        return one((16,), lambda i: layer()(L.Dense(12)(i)))

    def merge(cls: Any) -> Callable[[], Any]:
        return one((16,), lambda i: cls()([L.Dense(8)(i), L.Dense(8)(i)]))

    def embedding() -> Any:
        keras.utils.set_random_seed(1)
        i = keras.Input((12,), name="ids")
        return keras.Model(i, L.Flatten()(L.Embedding(50, 8)(i)))

    slopes = keras.initializers.RandomUniform(-0.5, 1.5, seed=3)
    return {
        "Dense": ("test_keras_api", act(lambda: L.Activation("linear"))),
        "ReLU": ("test_keras_api", act(L.ReLU)),
        "LeakyReLU": ("test_activations", act(L.LeakyReLU)),
        "sigmoid": ("test_activations", act(lambda: L.Activation("sigmoid"))),
        "hard_sigmoid": ("test_activations", act(lambda: L.Activation("hard_sigmoid"))),
        "tanh": ("test_activations", act(lambda: L.Activation("tanh"))),
        "softmax": ("test_activations", act(L.Softmax)),
        "ELU": ("test_activations", act(L.ELU)),
        "PReLU": ("test_activations", act(lambda: L.PReLU(slopes))),
        "ReLU(threshold)": ("test_activations", act(lambda: L.ReLU(threshold=0.5))),
        "ReLU6 (ReLU max_value)": ("test_activations", act(lambda: L.ReLU(max_value=6.0))),
        "selu": ("test_activations", act(lambda: L.Activation("selu"))),
        "softplus": ("test_activations", act(lambda: L.Activation("softplus"))),
        "softsign": ("test_activations", act(lambda: L.Activation("softsign"))),
        "swish / silu": ("test_activations", act(lambda: L.Activation("silu"))),
        "BatchNormalization": ("test_keras_api", one((6, 6, 3), lambda i: L.BatchNormalization()(L.Conv2D(4, 3)(i)))),
        "LayerNormalization": ("test_layernorm", one((16,), lambda i: L.LayerNormalization()(L.Dense(8)(i)))),
        "Reshape": ("test_reshape", one((16,), lambda i: L.Conv1D(2, 3)(L.Reshape((8, 2))(i)))),
        "Permute": ("test_keras_api", one((6, 5, 4), lambda i: L.Conv2D(3, 3)(L.Permute((2, 1, 3))(i)))),
        "Embedding": ("test_embed", embedding),
        "Conv1D": ("test_conv1d", one((20, 4), lambda i: L.Conv1D(3, 3, padding="same")(i))),
        "DepthwiseConv1D": ("test_keras_api", one((20, 4), lambda i: L.DepthwiseConv1D(3)(i))),
        "SeparableConv1D": ("test_sepconv1d", one((20, 4), lambda i: L.SeparableConv1D(5, 3)(i))),
        "MaxPooling1D": ("test_keras_api", one((20, 4), lambda i: L.MaxPooling1D(2)(i))),
        "AveragePooling1D": ("test_keras_api", one((20, 4), lambda i: L.AveragePooling1D(2)(i))),
        "GlobalAveragePooling1D": ("test_globalpooling", one((20, 4), lambda i: L.GlobalAveragePooling1D()(i))),
        "ZeroPadding1D": ("test_keras_api", one((20, 4), lambda i: L.Conv1D(3, 3)(L.ZeroPadding1D(2)(i)))),
        "Cropping1D": ("test_cropping", one((20, 4), lambda i: L.Cropping1D((2, 3))(i))),
        "UpSampling1D": ("test_upsampling", one((10, 4), lambda i: L.UpSampling1D(2)(i))),
        "Conv2D": ("test_keras_api", one((8, 8, 3), lambda i: L.Conv2D(4, 3, padding="same")(i))),
        "DepthwiseConv2D": ("test_keras_api", one((8, 8, 3), lambda i: L.DepthwiseConv2D(3)(i))),
        "SeparableConv2D": ("test_sepconv2d", one((8, 8, 3), lambda i: L.SeparableConv2D(4, 3)(i))),
        "MaxPooling2D": ("test_keras_api", one((8, 8, 3), lambda i: L.MaxPooling2D(2)(i))),
        "AveragePooling2D(padding='same')": (
            "test_keras_api",
            one((7, 7, 3), lambda i: L.AveragePooling2D(3, 2, padding="same")(i)),
        ),
        "GlobalMaxPooling2D": ("test_globalpooling", one((8, 8, 3), lambda i: L.GlobalMaxPooling2D()(i))),
        "ZeroPadding2D": ("test_keras_api", one((8, 8, 3), lambda i: L.MaxPooling2D(2)(L.ZeroPadding2D(1)(i)))),
        "Cropping2D": ("test_cropping", one((8, 8, 3), lambda i: L.Cropping2D(((1, 2), (2, 1)))(i))),
        "UpSampling2D": ("test_upsampling", one((4, 4, 3), lambda i: L.UpSampling2D(2)(i))),
        "Subtract": ("test_merge", merge(L.Subtract)),
        "Multiply": ("test_merge", merge(L.Multiply)),
        "Average": ("test_merge", merge(L.Average)),
        "Maximum": ("test_merge", merge(L.Maximum)),
        "Minimum": ("test_merge", merge(L.Minimum)),
        "Dot": ("test_merge", one((16,), lambda i: L.Dot(axes=1)([L.Dense(8)(i), L.Dense(8)(i)]))),
        "Add of two model inputs": ("test_merge", two(lambda a, b: L.Add()([a, b]))),
        "Concatenate of two model inputs": ("test_merge", two(lambda a, b: L.Concatenate()([a, b]))),
        "SimpleRNN": ("test_rnn", one((6, 4), lambda i: L.SimpleRNN(5)(i))),
        "LSTM": ("test_rnn", one((6, 4), lambda i: L.LSTM(5)(i))),
        "GRU": ("test_rnn", one((6, 4), lambda i: L.GRU(5)(i))),
    }


def _inputs(kind: str, model: Any, n: int) -> Any:
    rng = np.random.default_rng(0)
    if kind == "Embedding":  # indices of its 50 rows
        return rng.integers(0, 50, size=(n, 12)).astype(np.float64)
    xs = [rng.normal(size=(n, *t.shape[1:])) for t in model.inputs]
    return xs[0] if len(xs) == 1 else xs


def _message(e: Exception) -> str:
    """The first line of nn2fpga's message without the names Keras numbers per process."""
    text = str(e).splitlines()[0].split("; supported:")[0]
    return re.sub(r"(layer|model) '[^']*' ", r"\1 ", text)


def check(kind: str, build: Callable[[], Any], csim: bool, n: int = 200) -> str:
    """The cell text for one IO type pair: 'yes' or the refusal's first line."""
    import nn2fpga
    from nn2fpga.ir.errors import UserError
    from nn2fpga.testing import assert_csim_matches_reference, error_bound

    model = build()
    x = _inputs(kind, model, n)
    for io_type in IO_TYPES:
        try:
            project = nn2fpga.convert(model, config={"Model": {"Precision": PRECISION}, "IOType": io_type})
        except UserError as e:
            return f"refused: {_message(e)}"
        if csim:
            assert_csim_matches_reference(project, x)
        ours, theirs = project.predict(x, backend="reference"), model.predict(x, verbose=0)
        bound = error_bound(project.graph, x)
        if not np.all(np.abs(ours - theirs) <= bound + 1e-6):
            raise AssertionError(f"{kind} ({io_type}): reference outside the error bound of Keras")
    return "yes"


def table(csim: bool) -> str:
    import keras

    rows = []
    for kind, (hls4ml_test, build) in cases(keras).items():
        rows.append(f"| {kind} | {check(kind, build, csim)} | {hls4ml_test} |")
    converts = sum(r.split(" | ")[1] == "yes" for r in rows)
    head = [
        "# Keras layer kinds",
        "",
        "Generated by `python scripts/layer_table.py` (do not edit; `tests/project/test_layers_doc.py` checks it).",
        f"One small model per kind, random weights, `{PRECISION}`, both IO types (io_parallel and io_stream).",
        "**yes**: both projects convert, their C simulation equals the bit-exact reference (200 random inputs; the",
        "tests per kind under `tests/project` use 1,000) and the reference lies within the derived error bound",
        "of Keras. Otherwise the first line of nn2fpga's message. hls4ml converts every kind here: the last column",
        "names the hls4ml test that does.",
        "",
        f"**{converts} of {len(rows)} kinds convert.**",
        "",
        "| Keras layer kind | converts (both IO types) | hls4ml test |",
        "| --- | --- | --- |",
    ]
    return "\n".join(head + rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="convert only; exit 1 if docs/layers.md differs")
    args = parser.parse_args(argv)
    text = table(csim=not args.check)
    if args.check:
        same = DOC.is_file() and DOC.read_text() == text
        print("docs/layers.md is up to date" if same else "docs/layers.md differs: run python scripts/layer_table.py")
        return 0 if same else 1
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
