"""The fuzzing property of one `Case`: it converts (or is refused with a UserError), its C simulation equals the
reference bit for bit, the reference lies within the derived error bound of Keras where that bound applies,
and in io_stream the bounded-FIFO simulation runs to the end with csim's outputs.

The error bound (`nn2fpga.testing.error_bound`) assumes that no value leaves its type. It is checked unless
`bound_skip` finds one that does: a constant (weight, bias, scale, slope) off its type's range, a tensor whose
float value lies outside its result type (it saturates or wraps), a reference value more than half its type's
span from the float value (a wrap after rounding errors), or a value at a saturating type's limits (the
AssertionError of `error_bound`). Bit-exactness (csim == reference) is checked always, whatever the modes."""

from __future__ import annotations

import collections
import copy
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from build import build_model
from hypothesis import event
from strategies import Case

import nn2fpga
from nn2fpga.config import Config
from nn2fpga.frontend import from_keras
from nn2fpga.ir.errors import UserError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.interpret import float_execute
from nn2fpga.ir.layers import Input
from nn2fpga.ir.types import FixedType
from nn2fpga.project import compile_graph
from nn2fpga.sim import reference
from nn2fpga.testing import assert_close_to_keras, assert_csim_matches_reference, quantization_step, random_folds

SAMPLES = 32  # inputs per case (csim, reference, Keras); the bounded simulation runs the first 2
COUNTS: collections.Counter = collections.Counter()  # what the cases exercised (written to $NN2FPGA_FUZZ_COUNTS)


def config_with_folds(case: Case, model) -> dict:
    """The case's config with the random folds of its compiled graph (`random_folds`) added per layer."""
    config = copy.deepcopy(case.config)
    graph = compile_graph(from_keras(model), Config.from_yaml(copy.deepcopy(config)))[1]
    for name, folds in random_folds(graph, case.fold_seed, config["IOType"]).items():
        config["LayerName"].setdefault(name, {}).update(folds)
    return config


def _float_trace(graph: Graph, x) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = dict(reference.as_feeds(graph, x))
    for layer in graph.layers():
        if not isinstance(layer, Input):
            out[layer.name] = float_execute(layer, *[out[p.name] for p in graph.producers(layer.name)])
    return out


def bound_skip(project, x) -> str:
    """Why the error bound of Keras does not apply to this project and data ("" when it does)."""
    float_graph, graph = project.float_graph, project.graph
    for layer in (lay for lay in graph.layers() if lay.name in float_graph):
        floats = float_graph[layer.name]
        for role, t in layer.types.items():
            value = getattr(layer, role, None) if role not in ("result", "input", "accum") else None
            if isinstance(value, (float, np.ndarray)) and isinstance(t, FixedType):
                if np.any(np.abs(np.asarray(value) - np.asarray(getattr(floats, role))) > quantization_step(t) * 1.001):
                    return "constant off its type"
    floats, refs = _float_trace(float_graph, x), reference.run(graph, x, trace=True)
    for layer in graph.layers():
        t = layer.types.get("result")
        if t is None or layer.MOVES_VALUES:
            continue
        f = floats[layer.name]
        if np.any(f > t.max) or np.any(f < t.min):
            return "tensor outside its type"
        if np.any(np.abs(refs[layer.name] - f) > (t.max - t.min) / 2):
            return "tensor wrapped"
    return ""


def _count(case: Case, project) -> None:
    """Count the Keras kinds, IR kinds, modes, signedness and IO type this case exercised (once per case)."""
    seen = {f"keras:{s.kind}" for s in case.recipe.steps} | {f"model inputs:{len(case.recipe.inputs)}"}
    seen |= {f"activation:{v}" for s in case.recipe.steps for k, v in s.params if k == "activation"}
    if project is not None:
        seen |= {f"ir:{layer.kind}" for layer in project.graph.layers()}
        types = [t for layer in project.graph.layers() for t in layer.types.values() if isinstance(t, FixedType)]
        seen |= {f"rounding:{t.rounding.name}" for t in types} | {f"overflow:{t.overflow.name}" for t in types}
        seen |= {"signed" if t.signed else "unsigned" for t in types}
        seen |= {f"io:{project.graph.io_type}"}
    for key in sorted(seen):
        event(key)
    COUNTS.update(seen)


def write_counts(extra: dict) -> None:
    path = os.environ.get("NN2FPGA_FUZZ_COUNTS")
    if path:
        Path(path).write_text(json.dumps({**extra, "counts": dict(sorted(COUNTS.items()))}, indent=1) + "\n")


def check_case(case: Case) -> str:
    """Run the property on `case`; returns what happened ("refused: ...", "checked", "checked, no bound: ...")."""
    import keras

    keras.backend.clear_session()
    model = build_model(case.recipe, case.weight_seed)
    try:
        config = config_with_folds(case, model)
        project = nn2fpga.convert(model, config=config)
    except UserError as e:  # a refusal names what is out of reach (too wide a product, an option); counted
        outcome = f"refused: {type(e).__name__}: {str(e)[:160]}"
        COUNTS.update(["cases", outcome.split(":")[0] + ":" + type(e).__name__])
        _count(case, None)
        return outcome
    COUNTS["cases"] += 1
    _count(case, project)
    rng = np.random.default_rng(case.weight_seed)
    xs = [rng.normal(scale=case.input_scale, size=(SAMPLES, *shape)) for shape in case.recipe.inputs]
    x = xs[0] if len(xs) == 1 else xs
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        project.write(Path(tmp) / project.name)
        assert_csim_matches_reference(project, x)
        skip = bound_skip(project, x)
        if not skip:
            try:
                assert_close_to_keras(project, model, x)
            except AssertionError as e:
                if "reaches the limits" not in str(e):
                    raise
                skip = "value at a saturating limit"
        if project.graph.io_type == "io_stream":
            first = xs[0][:2] if len(xs) == 1 else [v[:2] for v in xs]
            run = project.simulate(first)
            assert run.deadlock == "", run.deadlock
            assert np.array_equal(run.outputs, project.predict(first)), "bounded simulation != csim"
    outcome = f"checked, no bound: {skip}" if skip else "checked"
    event(outcome)
    COUNTS[f"keras bound: {skip or 'checked'}"] += 1
    return outcome
