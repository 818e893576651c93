"""The bugs the random-graph fuzzer found (tests/fuzz/test_random_graphs.py), each as its shrunk case or the
smallest model that shows it: the fix keeps them passing."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

import nn2fpga  # noqa: E402
from nn2fpga.ir.errors import ModelError  # noqa: E402
from nn2fpga.testing import assert_close_to_keras, assert_csim_matches_reference  # noqa: E402

pytestmark = [pytest.mark.keras]
L = keras.layers


@pytest.mark.parametrize("kind", ["Minimum", "Add", "Concatenate"])
def test_a_merge_reading_one_tensor_twice_is_refused_naming_it(kind: str) -> None:
    """Found as Minimum([Dense(x), x, x]): the graph keeps one edge per pair of layers, so the second read of x
    replaced the first's input index and the graph lint failed (an internal GraphError, not a user error)."""
    i = keras.Input((15,), name="x")
    model = keras.Model(i, getattr(L, kind)(name="m")([L.Dense(15, name="d")(i), i, i]))
    with pytest.raises(ModelError, match=rf"'m' \({kind}\): reads 'x' more than once \(as 3 inputs\)"):
        nn2fpga.convert(model)


@pytest.mark.csim
@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])  # IO types
@pytest.mark.parametrize("between", ["Activation", "Reshape"])  # the no-op between the two reads
def test_a_merge_of_a_tensor_and_its_no_op_copy_is_bit_exact(between: str, io_type: str) -> None:
    """Add([x, linear(x)]) and Add([x, Reshape(x)]): removing the no-op (remove_noops, merge_reshapes) would
    connect x to the Add twice, which the one-edge graph cannot hold (an internal PassError naming the pass). The
    passes now keep such a no-op (a copy of the values)."""
    shape = (6,) if io_type == "io_parallel" else (4, 4, 2)
    i = keras.Input(shape, name="x")
    copy = L.Activation("linear", name="c")(i) if between == "Activation" else L.Reshape(shape, name="c")(i)
    model = keras.Model(i, L.Add(name="m")([i, copy]))
    project = nn2fpga.convert(model, config={"IOType": io_type})
    x = np.random.default_rng(0).normal(size=(50, *shape))
    assert_csim_matches_reference(project, x)
    assert_close_to_keras(project, model, x)
    assert [layer.kind for layer in project.graph.layers()] == ["Input", between, "Add"]
    if io_type == "io_stream":
        assert project.simulate(x[:2]).deadlock == ""


@pytest.mark.csim
@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])  # IO types
def test_a_model_of_one_linear_activation_runs(io_type: str) -> None:
    """Shrunk from seed 101 of the slow run: Input -> Activation('linear'). remove_noops left the Input alone, and
    the io_stream top function wrote nothing to its output stream: the C simulation aborted the whole process
    ("hls::stream 'kernel_out' read while empty"). The pass now keeps the model's only layer (a cast)."""
    i = keras.Input((15, 1), name="x")
    model = keras.Model(i, L.Activation("linear", name="c")(i))
    project = nn2fpga.convert(model, config={"IOType": io_type})
    x = np.random.default_rng(0).normal(size=(20, 15, 1))
    assert_csim_matches_reference(project, x)
    assert_close_to_keras(project, model, x)


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_a_model_input_no_output_reads_is_refused_naming_it(io_type: str) -> None:
    """Found by the fuzzer (seed 201): Model([x, x1], UpSampling1D(x1)). Nothing read input x, so the io_stream
    kernel's load waited for ever on its full stream (a deadlock in the bounded simulation)."""
    keras = pytest.importorskip("keras")
    x, x1 = keras.Input((2, 1), name="x"), keras.Input((2, 1), name="x1")
    model = keras.Model([x, x1], keras.layers.UpSampling1D(2)(x1))
    with pytest.raises(ModelError, match="model input 'x' reaches no output"):
        nn2fpga.convert(model, {"IOType": io_type})


def test_a_model_of_frontend_no_ops_only_is_refused() -> None:
    """Model(x, Dropout()(x)) leaves an Input-only graph (noted by the fuzzing work): refused naming the input,
    where the io_stream C simulation would have aborted the process (nothing writes the output)."""
    keras = pytest.importorskip("keras")
    x = keras.Input((4,), name="x")
    with pytest.raises(ModelError, match="model output 'x' is a model input"):
        nn2fpga.convert(keras.Model(x, keras.layers.Dropout(0.5)(x)), {"IOType": "io_stream"})
