"""Profile data: every tensor's float range against its fixed-point type, and fixed vs. float error.

`profile_graphs(float_graph, fixed_graph, x)` runs the float64 interpreter (`nn2fpga.ir.interpret`) of
the optimized graph and the bit-exact reference of the compiled graph side by side, layer by layer,
batch by batch (tensors are freed as soon as their users ran, so ResNet-50 fits in memory), and returns
a `Report` of `TensorProfile`s: observed float range, type, values out of range (they saturate or wrap),
whether all lie below the lsb, a sample of log2|value| for the plots, and |fixed - float| per output.

Accumulator ranges are the exact sums of the fixed-point inputs and constants. A narrower accumulator
(AP_TRN, AP_WRAP) gives the right result exactly when that final sum fits: wrapping is modular, so
intermediate partial sums may leave the range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nn2fpga.config import describe
from nn2fpga.ir.graph import Graph, walk
from nn2fpga.ir.interpret import float_execute
from nn2fpga.ir.layers import Conv2D, Dense, Input, Layer
from nn2fpga.ir.types import FixedType
from nn2fpga.passes.calibrate import BATCH, CONSTANT_ROLES, batches
from nn2fpga.profile.metrics import roc_auc_ovr
from nn2fpga.sim import reference

SAMPLE = 4096  # values kept per tensor for the box plots


@dataclass
class TensorProfile:
    """One tensor: a layer's output (`result`), a constant (`weight`, `bias`, `scale`) or its `accum` sum."""

    layer: str
    role: str
    kind: str
    type: str  # the C++ type ("" when the tensor keeps its input's type, e.g. Reshape)
    lo: float = math.inf
    hi: float = -math.inf
    count: int = 0
    out_of_range: int = 0  # values outside the type's [min, max]: they saturate or wrap
    err_max: float | None = None  # |fixed - float|, results and constants only
    err_sum: float = 0.0
    samples: list[np.ndarray] = field(default_factory=list, repr=False)

    @property
    def fixed_type(self) -> FixedType | None:
        return FixedType.parse(self.type) if self.type else None

    @property
    def err_mean(self) -> float | None:
        return None if self.err_max is None else self.err_sum / max(self.count, 1)

    @property
    def peak(self) -> float:
        return max(abs(self.lo), abs(self.hi)) if self.count else 0.0

    @property
    def below_lsb(self) -> bool:
        """Every value is below one lsb (and not all are zero): the type keeps no precision of it."""
        t = self.fixed_type
        return t is not None and 0 < self.peak < t.lsb

    def log2_values(self) -> np.ndarray:
        v = np.concatenate(self.samples) if self.samples else np.zeros(0)
        if len(v) > SAMPLE:
            v = np.random.default_rng(0).choice(v, SAMPLE, replace=False)
        return np.log2(v)

    def observe(self, v: np.ndarray, fixed: np.ndarray | None = None) -> None:
        v = v.ravel()
        if not v.size:
            return
        self.lo, self.hi = min(self.lo, float(v.min())), max(self.hi, float(v.max()))
        self.count += v.size
        t = self.fixed_type
        if t is not None:
            self.out_of_range += int(((v > t.max) | (v < t.min)).sum())
        if fixed is not None:
            err = np.abs(fixed.ravel() - v)
            self.err_max = max(self.err_max or 0.0, float(err.max()))
            self.err_sum += float(err.sum())
        nonzero = np.abs(v[v != 0])
        if len(nonzero) > SAMPLE // 4:
            nonzero = np.random.default_rng(len(self.samples)).choice(nonzero, SAMPLE // 4, replace=False)
        self.samples.append(nonzero)

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer, "role": self.role, "kind": self.kind, "type": self.type,
            "min": self.lo if self.count else None, "max": self.hi if self.count else None, "count": self.count,
            "out_of_range": self.out_of_range, "below_lsb": self.below_lsb,
            "max_abs_error": self.err_max, "mean_abs_error": self.err_mean,
        }  # fmt: skip


@dataclass
class Report:
    """Float vs. fixed over a data set: per-tensor profiles, output agreement, warnings."""

    model: str
    n_samples: int
    tensors: list[TensorProfile]
    top1_agreement: float | None = None
    auc_float: float | None = None
    auc_fixed: float | None = None
    calibration: dict[str, Any] | None = None  # bits, margin, data
    warnings: list[str] = field(default_factory=list)

    def results(self) -> list[TensorProfile]:
        return [t for t in self.tensors if t.role == "result"]

    def saturating(self) -> list[TensorProfile]:
        return [t for t in self.tensors if t.out_of_range]

    def underflowing(self) -> list[TensorProfile]:
        return [t for t in self.tensors if t.below_lsb]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "samples": self.n_samples, "calibration": self.calibration,
            "top1_agreement": self.top1_agreement, "roc_auc_float": self.auc_float, "roc_auc_fixed": self.auc_fixed,
            "warnings": self.warnings, "tensors": [t.to_dict() for t in self.tensors],
        }  # fmt: skip

    def text(self) -> str:
        """A few lines for the terminal."""
        out = [f"{self.model}: float vs fixed on {self.n_samples} samples"]
        if self.top1_agreement is not None:
            out.append(f"  top-1 agreement: {self.top1_agreement:.2%}")
        if self.auc_fixed is not None:
            out.append(f"  ROC AUC (one-vs-rest macro): float {self.auc_float:.4f}, fixed {self.auc_fixed:.4f}")
        last = self.results()[-1]
        out.append(f"  output error: max {last.err_max:.3g}, mean {last.err_mean:.3g}")
        out += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(out)


def _type(layer: Layer, role: str) -> str:
    t = layer.types.get(role)
    return str(t) if t is not None else ""


def profile_graphs(
    float_graph: Graph, fixed_graph: Graph, x: np.ndarray, labels: np.ndarray | None = None, progress: bool = False
) -> Report:
    """Float (optimized, unquantized) vs. fixed (compiled) graph on inputs `x` (validated float64)."""
    layers = fixed_graph.layers()
    missing = [lay.name for lay in layers if lay.name not in float_graph]
    if missing:
        raise ValueError(f"the float graph lacks layers of the compiled graph: {missing[:5]}")
    tensors: dict[tuple[str, str], TensorProfile] = {}
    for layer in layers:
        kind = describe(layer)
        if "result" in layer.type_roles() or isinstance(layer, Input):
            tensors[layer.name, "result"] = TensorProfile(layer.name, "result", kind, _type(layer, "result"))
        for role in CONSTANT_ROLES:
            values = getattr(float_graph[layer.name], role, None) if role in layer.type_roles() else None
            if isinstance(values, np.ndarray) and values.size:
                t = TensorProfile(layer.name, role, kind, _type(layer, role))
                t.observe(values, fixed=getattr(layer, role))
                tensors[layer.name, role] = t
        if isinstance(layer, (Dense, Conv2D)):
            tensors[layer.name, "accum"] = TensorProfile(layer.name, "accum", kind, _type(layer, "accum"))
    outputs: list[tuple[np.ndarray, np.ndarray]] = []
    chunks = batches(x)
    if progress:
        from tqdm import tqdm

        chunks = tqdm(chunks, total=math.ceil(len(x) / BATCH), desc="profile", unit="batch")
    out_name = fixed_graph.outputs[0]

    def both(layer, *args):
        """(float, fixed) value of `layer` from its producers' pairs (an Input gets the chunk)."""
        args_f, args_q = (args, args) if isinstance(layer, Input) else ([a[0] for a in args], [a[1] for a in args])
        f = float_execute(float_graph[layer.name], *args_f)
        q = reference.execute(layer, *args_q)
        if (layer.name, "result") in tensors:
            tensors[layer.name, "result"].observe(f, fixed=q)
        if isinstance(layer, (Dense, Conv2D)):  # the exact sum of fixed-point inputs and constants
            tensors[layer.name, "accum"].observe(float_execute(layer, *args_q, preact=True))
        return f, q

    (inp,) = fixed_graph.inputs()
    for chunk in chunks:
        for layer, pair in walk(fixed_graph, {inp.name: chunk}, both):
            if layer.name == out_name:
                outputs.append(pair)
    y_f = np.concatenate([o[0] for o in outputs]).reshape(len(x), -1)
    y_q = np.concatenate([o[1] for o in outputs]).reshape(len(x), -1)
    report = Report(fixed_graph.name, len(x), list(tensors.values()))
    if y_f.shape[1] > 1:
        report.top1_agreement = float((y_f.argmax(1) == y_q.argmax(1)).mean())
        if labels is not None:
            report.auc_float, report.auc_fixed = roc_auc_ovr(labels, y_f), roc_auc_ovr(labels, y_q)
    report.warnings = _warnings(report)
    return report


def _warnings(report: Report) -> list[str]:
    out = []
    for t in report.tensors:
        ft = t.fixed_type
        if t.role == "accum" and ft is not None:
            if t.out_of_range:
                out.append(f"layer {t.layer!r}: accumulator {ft} overflows on {t.out_of_range} of {t.count} sums "
                           f"(range [{t.lo:.4g}, {t.hi:.4g}], type [{ft.min:.4g}, {ft.max:.4g}]); widen accum or "
                           "set it to exact")  # fmt: skip
        elif t.out_of_range:
            out.append(f"layer {t.layer!r}: {t.out_of_range} of {t.count} {t.role} values lie outside {ft} "
                       f"[{ft.min:.4g}, {ft.max:.4g}] (observed [{t.lo:.4g}, {t.hi:.4g}]): they saturate "
                       "or wrap")  # fmt: skip
        if t.below_lsb:
            out.append(f"layer {t.layer!r}: every {t.role} value is below the lsb of {ft} ({ft.lsb:.3g}; "
                       f"largest |value| {t.peak:.3g}): all precision is lost")  # fmt: skip
    return out
