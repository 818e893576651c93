"""Hypothesis strategies for random-graph differential fuzzing (issue 15, item 1).

`cases()` draws a `Case`: a `Recipe` (a small random Keras functional graph as plain data: the input shape
and a list of `Step`s, each one layer call on earlier tensors), a config (random fixed-point types with every
rounding and overflow mode, narrow and wide, signed and unsigned; an IO type) and the seeds of the weights,
the folds and the inputs. A recipe is data so that Hypothesis shrinks it (fewer steps, smaller shapes) and
prints it; `build_model` turns it into a Keras model, `repro` into the code of a regression test.

Graphs have one input and one output, with internal branches and skips (merges of earlier tensors: Add,
Subtract, Multiply, Average, Maximum, Minimum, Concatenate, squeeze-and-excitation ChannelScale, Dot).
`cases(inputs=2)` draws a second model input (of the first one's shape) as a tensor the merges can read;
the property draws it one time in three.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hypothesis import strategies as st

from nn2fpga.ir.types import FixedType, Overflow, Rounding

ROUNDINGS = tuple(Rounding)
OVERFLOWS = tuple(Overflow)
# Keras activation names the frontend converts (the table kinds, the closed forms, the clipped ReLUs)
ACTIVATIONS = ("relu", "tanh", "sigmoid", "hard_sigmoid", "softsign", "relu6", "elu", "selu", "softplus", "swish",
               "gelu", "hard_swish", "linear")  # fmt: skip
MERGES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")
MAX_HW, MAX_C, MAX_T, MAX_N = 8, 4, 16, 16  # images up to 8x8x4, sequences up to 16x4, vectors up to 16


@dataclass(frozen=True)
class Step:
    """One Keras layer call: its class, the indices of the tensors it reads (0: the input), its options."""

    kind: str
    inputs: tuple[int, ...]
    params: tuple[tuple[str, object], ...] = ()

    def get(self, key: str, default=None):
        return dict(self.params).get(key, default)


@dataclass(frozen=True)
class Recipe:
    """A graph as data: the input shapes (one per model input) and the steps; the last step is the output."""

    inputs: tuple[tuple[int, ...], ...]
    steps: tuple[Step, ...]

    def live(self) -> set[int]:
        """The tensors the output depends on (the model holds only their layers)."""
        n, seen = len(self.inputs), {len(self.inputs) + len(self.steps) - 1}
        for k in range(len(self.steps) - 1, -1, -1):
            if k + n in seen:
                seen.update(self.steps[k].inputs)
        return seen

    def shapes(self) -> list[tuple[int, ...]]:
        out = list(self.inputs)
        for s in self.steps:
            out.append(out_shape(s, [out[i] for i in s.inputs]))
        return out


@dataclass(frozen=True)
class Case:
    recipe: Recipe
    config: dict = field(hash=False)
    weight_seed: int = 0
    fold_seed: int = 0
    input_scale: float = 1.0


def _conv_len(n: int, k: int, s: int, padding: str) -> int:
    return -(-n // s) if padding in ("same", "causal") else (n - k) // s + 1


def out_shape(step: Step, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    """The output shape of `step` on inputs of `shapes` (as Keras has it)."""
    k, g, x = step.kind, step.get, shapes[0]
    if k in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv1D", "SeparableConv1D"):
        spatial = tuple(_conv_len(n, g("kernel"), g("strides"), g("padding")) for n in x[:-1])
        return (*spatial, g("filters") if k != "DepthwiseConv2D" else x[-1])
    if k in ("MaxPooling2D", "AveragePooling2D", "MaxPooling1D", "AveragePooling1D"):
        return (*(_conv_len(n, g("pool"), g("pool"), g("padding")) for n in x[:-1]), x[-1])
    if k in ("ZeroPadding2D", "ZeroPadding1D"):
        return (*(n + sum(p) for n, p in zip(x[:-1], g("pad"))), x[-1])
    if k in ("Cropping2D", "Cropping1D"):
        return (*(n - sum(p) for n, p in zip(x[:-1], g("crop"))), x[-1])
    if k in ("UpSampling2D", "UpSampling1D"):
        return (*(n * g("size") for n in x[:-1]), x[-1])
    if k.startswith("Global"):
        return (x[-1],)
    if k == "Flatten":
        return (math.prod(x),)
    if k == "Dense":
        return (g("units"),)
    if k == "Concatenate":
        return (*x[:-1], sum(s[-1] for s in shapes))
    if k == "Dot":
        return (1,)
    return x  # activations, BatchNormalization, PReLU, the element-wise merges, ChannelScale (Multiply)


def fixed_types(widths: tuple[int, int], integers: tuple[int, int], unsigned: int = 5) -> st.SearchStrategy:
    """A type string `ap_(u)fixed<W,I,Q,O>`: every rounding and overflow mode, W in `widths`, I in `integers`,
    unsigned one time in `unsigned`."""

    @st.composite
    def draw_type(draw) -> str:
        w = draw(st.integers(*widths))
        i = draw(st.integers(*integers))
        signed = draw(st.integers(1, unsigned)) > 1
        return FixedType(w, i, signed, draw(st.sampled_from(ROUNDINGS)), draw(st.sampled_from(OVERFLOWS))).cpp()

    return draw_type()


def _window(draw, shape: tuple[int, ...], most: int = 3) -> dict:
    """Kernel, strides and padding that leave at least one output position."""
    small = min(shape[:-1])
    padding = draw(st.sampled_from(("valid", "same")))
    kernel = draw(st.integers(1, min(most, small) if padding == "valid" else most))
    return {"kernel": kernel, "strides": draw(st.integers(1, 2)), "padding": padding}


def _pads(draw, shape: tuple[int, ...], limit: int) -> tuple:
    return tuple((draw(st.integers(0, 1)), draw(st.integers(0, 1))) for n in shape[:-1] if n + 2 <= limit) or None


def _spatial_step(draw, x: tuple[int, ...], rank: str) -> tuple[str, dict]:
    """One layer on an image (rank "2D") or a sequence ("1D")."""
    limit = MAX_HW if rank == "2D" else MAX_T
    kinds = [f"Conv{rank}", f"MaxPooling{rank}", f"AveragePooling{rank}", f"ZeroPadding{rank}",
             f"UpSampling{rank}", f"Cropping{rank}", f"SeparableConv{rank}", "Global", "Flatten"]  # fmt: skip
    kinds += ["DepthwiseConv2D"] if rank == "2D" else []
    kind = draw(st.sampled_from(kinds))
    act = draw(st.sampled_from(("linear", "relu", "linear", "tanh")))
    if kind in (f"Conv{rank}", f"SeparableConv{rank}", "DepthwiseConv2D"):
        params = _window(draw, x) | {"activation": act}
        if kind == "Conv1D" and draw(st.booleans()) and params["padding"] == "same":
            params["padding"] = "causal"
        if kind.startswith("Separable"):
            params["strides"] = 1 if rank == "1D" else params["strides"]
        return kind, params | ({"filters": draw(st.integers(1, MAX_C))} if kind != "DepthwiseConv2D" else {})
    if kind in (f"MaxPooling{rank}", f"AveragePooling{rank}"):
        padding = draw(st.sampled_from(("valid", "same")))
        most = min(x[:-1]) if padding == "valid" else 3
        return kind, {"pool": draw(st.integers(1, max(1, min(most, 3)))), "padding": padding}
    if kind == f"ZeroPadding{rank}" and (pad := _pads(draw, x, limit + 2)) and len(pad) == len(x) - 1:
        return kind, {"pad": pad}
    if kind == f"Cropping{rank}" and min(x[:-1]) >= 3:
        return kind, {"crop": tuple((draw(st.integers(0, 1)), draw(st.integers(0, 1))) for _ in x[:-1])}
    if kind == f"UpSampling{rank}" and max(x[:-1]) * 2 <= limit:
        return kind, {"size": 2}
    if kind == "Global":
        return f"Global{draw(st.sampled_from(('Average', 'Max')))}Pooling{rank}", {}
    if kind == "Flatten" and math.prod(x) <= 64:
        return "Flatten", {}
    return "Activation", {"activation": act}


def _vector_step(draw, x: tuple[int, ...]) -> tuple[str, dict]:
    act = draw(st.sampled_from(("linear", "relu", "tanh", "sigmoid")))
    return "Dense", {"units": draw(st.integers(1, MAX_N)), "activation": act}


def _pointwise_step(draw, x: tuple[int, ...]) -> tuple[str, dict]:
    """A layer that keeps the shape: an activation, BatchNormalization, LeakyReLU, ELU, ReLU(options), PReLU."""
    kind = draw(st.sampled_from(("Activation", "BatchNormalization", "LeakyReLU", "ReLU", "PReLU")))
    if kind == "Activation":
        return kind, {"activation": draw(st.sampled_from(ACTIVATIONS))}
    if kind == "LeakyReLU":
        return kind, {"negative_slope": draw(st.sampled_from((0.1, 0.3, 0.01)))}
    if kind == "ReLU":
        clip, threshold = draw(st.sampled_from((None, 6.0, 1.5))), draw(st.sampled_from((0.0, 0.5)))
        return kind, {"max_value": clip, "threshold": threshold}
    return kind, {}


def _merge_step(draw, shapes: list[tuple[int, ...]], first: int) -> tuple[str, tuple[int, ...], dict] | None:
    """A merge of tensor `first` with earlier tensors it fits (the skips and the joins of branches), if any."""
    x = shapes[first]
    same = [i for i, s in enumerate(shapes) if s == x and i != first]
    joinable = [i for i, s in enumerate(shapes) if len(s) == len(x) and s[:-1] == x[:-1] and i != first]
    vectors = [i for i, s in enumerate(shapes) if len(x) > 1 and s == (x[-1],)]
    options = (["merge"] if same else []) + (["concat"] if joinable else []) + (["scale"] if vectors else [])
    options += ["dot"] if same and len(x) == 1 else []
    if not options:
        return None
    what = draw(st.sampled_from(options))
    if what == "scale":  # squeeze-and-excitation: a feature map times a per-channel vector
        return "Multiply", (first, draw(st.sampled_from(vectors))), {}
    if what == "dot":
        return "Dot", (first, draw(st.sampled_from(same))), {}
    if what == "concat":
        other = draw(st.sampled_from(joinable))
        return ("Concatenate", (first, other), {}) if x[-1] + shapes[other][-1] <= 2 * MAX_C else None
    kind = draw(st.sampled_from(MERGES))
    others = draw(
        st.lists(st.sampled_from(same), min_size=1, max_size=1 if kind in ("Subtract", "Multiply") else 2, unique=True)
    )
    return kind, (first, *others), {}


@st.composite
def recipes(draw, inputs: int = 1, max_steps: int = 6) -> Recipe:
    """A random graph: each step reads one earlier tensor (recent ones preferred) or merges several."""
    rank = draw(st.sampled_from(("2D", "1D", "vector")))
    if rank == "2D":
        shape = (draw(st.integers(2, MAX_HW)), draw(st.integers(2, MAX_HW)), draw(st.integers(1, MAX_C)))
    elif rank == "1D":
        shape = (draw(st.integers(2, MAX_T)), draw(st.integers(1, MAX_C)))
    else:
        shape = (draw(st.integers(1, MAX_N)),)
    in_shapes = tuple([shape] * inputs)  # a second input of the same shape: merges may read it
    shapes, steps = list(in_shapes), []
    for _ in range(draw(st.integers(1, max_steps))):
        first = len(shapes) - 1 - draw(st.integers(0, min(2, len(shapes) - 1)))
        x, how = shapes[first], draw(st.sampled_from(("layer", "layer", "pointwise", "merge")))
        made = _merge_step(draw, shapes, first) if how == "merge" else None
        if made is None:
            if how != "layer":
                kind, params = _pointwise_step(draw, x)
            elif len(x) == 1:
                kind, params = _vector_step(draw, x)
            else:
                kind, params = _spatial_step(draw, x, "2D" if len(x) == 3 else "1D")
            made = kind, (first,), params
        kind, ins, params = made
        step = Step(kind, tuple(ins), tuple(sorted(params.items())))
        shapes.append(out_shape(step, [shapes[i] for i in ins]))
        steps.append(step)

    def add(step: Step) -> None:
        steps.append(step)
        shapes.append(out_shape(step, [shapes[i] for i in step.inputs]))

    for k in range(inputs):  # an input the output does not depend on joins it at the end
        if k in Recipe(in_shapes, tuple(steps)).live():
            continue
        last = len(shapes) - 1
        if shapes[last] == shapes[k]:
            add(Step("Add", (last, k)))
        else:  # both as vectors, side by side
            vectors = []
            for j in (last, k):
                if len(shapes[j]) > 1:
                    add(Step("Flatten", (j,)))
                vectors.append(len(shapes) - 1 if len(shapes[j]) > 1 else j)
            add(Step("Concatenate", tuple(vectors)))
    if draw(st.booleans()) and len(shapes[-1]) == 1 and shapes[-1][0] > 1:
        add(Step("Activation", (len(shapes) - 1,), (("activation", "softmax"),)))
    return Recipe(in_shapes, tuple(steps))


def layer_names(recipe: Recipe) -> list[str]:
    """The Keras names of the steps (l1, l2, ...; the inputs are x, x1, ...)."""
    return [f"l{k + 1}" for k in range(len(recipe.steps))]


# kinds whose layers take a `result` precision of their own
RESULT_KINDS = ("Conv2D", "DepthwiseConv2D", "Conv1D", "Dense", "BatchNormalization", "Activation", "ReLU",
                "LeakyReLU", "AveragePooling2D", "AveragePooling1D", "GlobalAveragePooling2D",
                "GlobalAveragePooling1D", *MERGES, "Concatenate")  # fmt: skip


@st.composite
def configs(draw, recipe: Recipe) -> dict:
    """Model types for every role, the input's type, some layers' own result types, and the IO type."""

    # integer bits: one type in four from the whole range (overflows, then no bound of Keras), else enough for
    # the values of unit-scale weights and inputs
    def integers(low: int, high: int) -> tuple[int, int]:
        return (low, high) if draw(st.integers(0, 3)) == 0 else (4, high)

    model = {
        "result": draw(fixed_types((2, 24), integers(-1, 10))),
        # weights of Keras's initializers lie within +-1: mostly types that hold them (else no bound of Keras)
        "weight": draw(fixed_types((2, 16), (-1, 4) if draw(st.integers(0, 4)) == 0 else (1, 4), unsigned=10)),
        "bias": draw(fixed_types((2, 20), (0, 8), unsigned=10)),
        "scale": draw(fixed_types((2, 16), (1, 4), unsigned=10)),
    }
    names = {"x": {"Precision": {"result": draw(fixed_types((2, 20), integers(-1, 8)))}}}
    live = recipe.live()
    for k, (name, step) in enumerate(zip(layer_names(recipe), recipe.steps)):
        if k + len(recipe.inputs) in live and step.kind in RESULT_KINDS and draw(st.integers(0, 3)) == 0:
            names[name] = {"Precision": {"result": draw(fixed_types((2, 24), integers(-1, 10)))}}
    io_type = draw(st.sampled_from(("io_parallel", "io_stream")))
    return {"IOType": io_type, "Model": {"Precision": model}, "LayerName": names}


@st.composite
def cases(draw, inputs: int = 1, max_steps: int = 6) -> Case:
    recipe = draw(recipes(inputs, max_steps))
    seeds = st.integers(0, 2**16)
    return Case(recipe, draw(configs(recipe)), draw(seeds), draw(seeds), draw(st.sampled_from((0.25, 1.0, 4.0))))
