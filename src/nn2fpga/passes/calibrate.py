"""Post-training precision from data (flow "calibrate"): float ranges -> one FixedType per tensor.

The pass runs the calibration data through a float64 interpreter of the optimized graph (BatchNorm
folded, ReLU fused: exactly the layers the hardware computes), records the range of every layer's
output, and of every weight, bias and scale array, and picks for each tensor a type of `bits`
total bits whose integer bits cover the observed range plus `margin` bits. Accumulators are not
calibrated: they stay exact (their width follows from the chosen input and weight types).

Rules (docs/calibration.md):
- result types are `ap_fixed<bits, I, AP_RND, AP_SAT>`, `ap_ufixed` where the value is non-negative
  by construction (fused ReLU, relu/sigmoid/softmax/hard_sigmoid, pooling or concatenation of such)
  or, for the model input, where the calibration data has no negative value;
- weight, bias and scale types are `ap_fixed<bits, I, AP_RND, AP_SAT>` with I from the exact range
  of the constants (no margin: constants do not change with the data);
- `I` is the smallest integer-bit count whose range holds the observed minimum and maximum after
  rounding to the type's lsb, plus `margin` for results.

The chosen types go onto the graph, `layer.calibrated` (role -> FixedType), which `Config.resolve`
consults below LayerName and LayerType and above Model: explicit per-layer or per-kind settings win.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from nn2fpga.config import Config
from nn2fpga.ir.errors import UserError
from nn2fpga.ir.graph import Graph, walk
from nn2fpga.ir.interpret import float_execute
from nn2fpga.ir.layers import Activation, Add, Concatenate, Conv2D, Dense, GlobalPool2D, Input, Layer, Pool2D
from nn2fpga.ir.types import FixedType, Overflow, Rounding

log = logging.getLogger(__name__)

CONSTANT_ROLES = ("weight", "bias", "scale", "alpha")  # constant arrays calibrated from their own values (PReLU alpha)
BATCH = 32  # samples per float evaluation step (bounds the memory of im2col on large CNNs)


# ---- ranges and type choice -------------------------------------------------------------------------------


@dataclass
class Range:
    """Running minimum and maximum of a tensor over the calibration data."""

    lo: float = math.inf
    hi: float = -math.inf

    def update(self, v: np.ndarray) -> None:
        if v.size:
            self.lo, self.hi = min(self.lo, float(v.min())), max(self.hi, float(v.max()))


def batches(x: np.ndarray, size: int = BATCH) -> Iterator[np.ndarray]:
    for i in range(0, len(x), size):
        yield x[i : i + size]


def float_ranges(graph: Graph, x: np.ndarray, progress: bool = False) -> dict[str, Range]:
    """Range of every layer's float output over `x` (batch, *input shape)."""
    ranges = {layer.name: Range() for layer in graph.layers()}
    (inp,) = graph.inputs()
    n = math.ceil(len(x) / BATCH)
    for chunk in tqdm(batches(x), total=n, desc="calibrate", unit="batch", leave=False, disable=not progress):
        for layer, out in walk(graph, {inp.name: np.asarray(chunk, dtype=np.float64)}, float_execute):
            ranges[layer.name].update(out)
    return ranges


def fit_type(lo: float, hi: float, bits: int, signed: bool, margin: int = 0) -> FixedType:
    """`ap_[u]fixed<bits, I, AP_RND, AP_SAT>` with the fewest integer bits I holding [lo, hi] after rounding,
    plus `margin` integer bits."""
    peak = max(abs(lo), abs(hi))
    integer = (math.frexp(peak)[1] - 1 if peak > 0 else 0) + int(signed)  # a first guess, at most one short
    while True:
        t = FixedType(bits, integer, signed, Rounding.RND, Overflow.SAT)
        rounded = (math.floor(lo / t.lsb + 0.5) * t.lsb, math.floor(hi / t.lsb + 0.5) * t.lsb)
        if t.min <= rounded[0] and rounded[1] <= t.max:
            return FixedType(bits, integer + margin, signed, Rounding.RND, Overflow.SAT)
        integer += 1


def non_negative(graph: Graph, layer: Layer, data_lo: float) -> bool:
    """True when `layer`'s output is >= 0 for every input (the model input: for the calibration data)."""
    if isinstance(layer, Input):
        return data_lo >= 0
    if isinstance(layer, (Dense, Conv2D, Add)) and layer.activation == "relu":
        return True
    if isinstance(layer, Activation):
        clipped = layer.fn == "relu_clip" and layer.alpha == 0 and layer.threshold >= 0
        return clipped or layer.fn in ("relu", "sigmoid", "softmax", "hard_sigmoid", "softplus")
    if isinstance(layer, Add) and layer.op == "subtract":
        return False
    if layer.MOVES_VALUES or isinstance(layer, (Pool2D, GlobalPool2D, Add, Concatenate)):
        return all(non_negative(graph, p, data_lo) for p in graph.producers(layer.name))
    return False


BOUNDED = ("sigmoid", "tanh", "softsign", "softmax", "hard_sigmoid")  # outputs within [-1, 1] whatever the input


def choose_types(
    graph: Graph, ranges: dict[str, Range], bits: int, margin: int, weight_bits: int | None = None
) -> dict[str, dict[str, FixedType]]:
    """Layer name -> role -> calibrated type, for results and constants (a fused activation gets the result).

    Bounded activations (sigmoid, tanh, softmax, hard_sigmoid) get no margin: their range cannot grow.
    Constants (weight, bias, scale) get `weight_bits` total bits (default: `bits`).
    """
    (inp,) = graph.inputs()
    data_lo = ranges[inp.name].lo
    chosen: dict[str, dict[str, FixedType]] = {}
    for layer in graph.layers():
        roles = layer.type_roles()
        types: dict[str, FixedType] = {}
        if "result" in roles:
            r = ranges[layer.name]
            extra = 0 if isinstance(layer, Activation) and layer.fn in BOUNDED else margin
            types["result"] = fit_type(r.lo, r.hi, bits, not non_negative(graph, layer, data_lo), extra)
        for role in CONSTANT_ROLES:
            values = getattr(layer, role, None) if role in roles else None
            if isinstance(values, np.ndarray) and values.size:
                types[role] = fit_type(float(values.min()), float(values.max()), weight_bits or bits, True)
        if types:
            chosen[layer.name] = types
        fused = getattr(layer, "fused", None)
        if isinstance(fused, Layer) and "result" in types:  # the fused activation's result is this layer's output
            chosen[fused.name] = {"result": types["result"]}
    return chosen


# ---- calibration data ---------------------------------------------------------------------------------


def load_array(source: Any, what: str, cfg: Config) -> tuple[np.ndarray, str]:
    """(array, name for messages) from a .npy path or an array; a relative path is read from the directory of
    `cfg`'s YAML file (the working directory for a config not read from a file)."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_absolute() and cfg.filename and Path(cfg.filename).is_file():
            path = Path(cfg.filename).parent / path
        try:
            return np.load(path, allow_pickle=False), str(source)
        except FileNotFoundError as e:
            raise UserError(f"{source}: {what} file not found (expected a .npy array)") from e
        except (OSError, ValueError, EOFError) as e:
            raise UserError(f"{source}: not a readable .npy array for the {what} ({e or type(e).__name__})") from e
    return np.asarray(source), f"{what} (array)"


def check_data(x: np.ndarray, name: str, graph: Graph) -> np.ndarray:
    """Validate calibration inputs against `graph`'s one input; returns float64 (N, *shape)."""
    inputs = graph.inputs()
    if len(inputs) != 1:
        raise UserError(f"{name}: calibration supports models with one input; {graph.name!r} has {len(inputs)}")
    shape = tuple(inputs[0].shape)
    expected = f"(N, {', '.join(map(str, shape))}) for input {inputs[0].name!r} of model {graph.name!r}"
    if x.dtype.kind not in "fiu":
        raise UserError(f"{name}: dtype {x.dtype} is not numeric; expected float or integer values of shape {expected}")
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        raise UserError(f"{name}: shape {x.shape} does not fit the model; expected {expected}")
    if x.shape[0] == 0:
        raise UserError(f"{name}: no samples (shape {x.shape}); expected at least one sample of shape {expected}")
    x = x.astype(np.float64)
    bad = ~np.isfinite(x)
    if bad.any():
        first = int(np.argwhere(bad.reshape(len(x), -1).any(axis=1))[0, 0])
        raise UserError(
            f"{name}: {int(bad.sum())} NaN or Inf values (first in sample {first}); calibration data must be finite"
        )
    return x


def check_labels(y: np.ndarray, name: str, n_samples: int, n_classes: int) -> np.ndarray:
    """Class labels (N,) ints in [0, n_classes) or one-hot / scores (N, n_classes) -> (N,) int64."""
    if y.dtype.kind not in "fiub":
        raise UserError(f"{name}: dtype {y.dtype} is not numeric; expected class indices (N,) or one-hot (N, C)")
    if y.ndim == 2 and y.shape[1] == n_classes:
        if not np.isfinite(y.astype(np.float64)).all():
            raise UserError(f"{name}: labels contain NaN or Inf values")
        y = y.argmax(axis=1)
    elif y.ndim != 1:
        raise UserError(f"{name}: shape {y.shape}; expected ({n_samples},) class indices or ({n_samples}, {n_classes})")
    if len(y) != n_samples:
        raise UserError(f"{name}: {len(y)} labels for {n_samples} calibration samples; expected one label per sample")
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and (y == np.round(y)).all()):
        raise UserError(f"{name}: class indices must be whole numbers")
    y = y.astype(np.int64)
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise UserError(f"{name}: class indices must lie in 0..{n_classes - 1}, got {y.min()}..{y.max()}")
    return y


def calibration_data(cfg: Config, graph: Graph) -> np.ndarray:
    """The validated calibration inputs named by `cfg.calibration`."""
    x, name = load_array(cfg.calibration["data"], "calibration data", cfg)
    return check_data(x, name, graph)


# ---- the pass -----------------------------------------------------------------------------------------


def calibrate_precision(g: Graph, cfg: Config) -> bool:
    """Choose result, weight, bias and scale types from the float ranges of `cfg.calibration`'s data.

    Pre: the optimize flow ran (the graph is the one the hardware computes, still in float).
    Post: each calibrated layer's `calibrated` maps role -> FixedType (a fused activation's on the layer
    kept in `fused`); the quantize flow applies them through `Config.resolve`. No-op without a
    `Calibration` section. One sweep.
    """
    spec = getattr(cfg, "calibration", None)
    if not spec:
        return False
    x = calibration_data(cfg, g)
    ranges = float_ranges(g, x, progress=len(x) * max(layer.size for layer in g.layers()) > 1 << 24)
    chosen = choose_types(g, ranges, spec["bits"], spec["margin"], spec.get("weight_bits"))
    by_name = {layer.name: layer for layer in g.layers()}
    by_name |= {f.name: f for layer in g.layers() if isinstance(f := getattr(layer, "fused", None), Layer)}
    for name, types in chosen.items():
        by_name[name].calibrated = dict(types)
    overridden = [
        f"{name}.{role}"
        for name, types in chosen.items()
        for role in types
        if _sets(cfg.layer_name.get(name, {}), role) or name in g and _sets(cfg.layer_type.get(g[name].kind, {}), role)
    ]
    if overridden:
        log.warning(
            "Calibration: %d of %d calibrated types are set explicitly by LayerName/LayerType and keep the "
            "configured type: %s",
            len(overridden),
            sum(map(len, chosen.values())),
            ", ".join(overridden[:8]) + (", ..." if len(overridden) > 8 else ""),
        )
    log.info("calibrated %d layers from %d samples at %d bits", len(chosen), len(x), spec["bits"])
    return False


def _sets(settings: dict[str, Any], role: str) -> bool:
    spec = settings.get("Precision")
    return isinstance(spec, FixedType) and role != "accum" or isinstance(spec, dict) and role in spec
