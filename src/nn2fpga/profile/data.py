"""Numerical profiling: every tensor's float range against its fixed-point type, and fixed vs. float error.

`profile_graphs(float_graph, fixed_graph, x)` runs the float64 interpreter of the optimized graph and
the bit-exact reference of the compiled graph side by side, layer by layer, batch by batch (tensors
are freed as soon as their users ran, so ResNet-50 fits in memory), and returns a `Report`:

- per layer output, weight, bias, scale and accumulator: observed float range, the type, how many
  values lie outside the type's range (they saturate or wrap), whether all lie below its lsb (all
  precision lost), a sample of log2|value| for box plots;
- per layer output: max and mean |fixed - float|;
- top-1 agreement of float and fixed outputs, and one-vs-rest macro ROC AUC when labels are given;
- warnings: tensors out of range, tensors below the lsb, narrow accumulators that overflow on the data.

Accumulator ranges are the exact sums of the fixed-point inputs and constants. A narrower accumulator
(AP_TRN, AP_WRAP) gives the right result exactly when that final sum fits: wrapping is modular, so
intermediate partial sums may leave the range. `write_profile` writes PNG plots (matplotlib, Agg) and
Markdown / HTML summaries; `write_calibration` writes calibration.json / calibration.md into a project.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nn2fpga.config import describe
from nn2fpga.ir.errors import UserError
from nn2fpga.ir.graph import Graph, walk
from nn2fpga.ir.interpret import float_execute
from nn2fpga.ir.layers import Conv2D, Dense, Input, Layer
from nn2fpga.ir.types import FixedType
from nn2fpga.passes.calibrate import BATCH, CONSTANT_ROLES, batches
from nn2fpga.sim import reference

SAMPLE = 4096  # values kept per tensor for the box plots
COLUMNS = ("layer", "kind", "tensor", "type", "min", "max", "out of range", "all below lsb", "max abs err",
           "mean abs err")  # fmt: skip


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

    def markdown(self, images: list[str] = ()) -> str:
        rows = [_row(t) for t in self.tensors]
        head = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines = [f"# Numerical profile of {self.model}", "", *_summary_lines(self), ""]
        lines += [f"![{Path(i).stem}]({i})" for i in images] + ([""] if images else [])
        lines += ["## Tensors", "", *head, *("| " + " | ".join(r) + " |" for r in rows), ""]
        return "\n".join(lines)

    def html(self, images: list[str] = ()) -> str:
        esc = html.escape
        cells = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in _row(t)) + "</tr>\n" for t in self.tensors)
        header = "".join(f"<th>{h}</th>" for h in COLUMNS)
        summary = "".join(f"<li>{esc(line.lstrip('- '))}</li>" for line in _summary_lines(self))
        imgs = "".join(f'<p><img src="{esc(i)}" alt="{esc(Path(i).stem)}"></p>' for i in images)
        return (
            f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{esc(self.model)} profile</title>"
            "<style>body{font-family:sans-serif} table{border-collapse:collapse} td,th{border:1px solid #ccc;"
            "padding:2px 6px;font-size:12px} img{max-width:100%}</style></head><body>\n"
            f"<h1>Numerical profile of {esc(self.model)}</h1><ul>{summary}</ul>{imgs}\n"
            f"<h2>Tensors</h2><table><tr>{header}</tr>\n{cells}</table></body></html>\n"
        )


def _fmt(v: float | None) -> str:
    return "" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.4g}"


def _row(t: TensorProfile) -> list[str]:
    return [t.layer, t.kind, t.role, t.type or "(input's)", _fmt(t.lo), _fmt(t.hi), str(t.out_of_range),
            "yes" if t.below_lsb else "", _fmt(t.err_max), _fmt(t.err_mean)]  # fmt: skip


def _summary_lines(r: Report) -> list[str]:
    out = [f"- samples: {r.n_samples}"]
    if r.calibration:
        out.append(f"- calibration: {r.calibration['bits']} bits, margin {r.calibration['margin']}")
    if r.top1_agreement is not None:
        out.append(f"- top-1 agreement float vs fixed: {r.top1_agreement:.2%}")
    if r.auc_fixed is not None:
        out.append(f"- ROC AUC (one-vs-rest macro): float {r.auc_float:.4f}, fixed {r.auc_fixed:.4f}")
    sat = ", ".join(f"{t.layer}.{t.role}" for t in r.saturating()) or "none"
    low = ", ".join(f"{t.layer}.{t.role}" for t in r.underflowing()) or "none"
    out += [f"- tensors out of range (saturate / wrap): {sat}", f"- tensors entirely below their lsb: {low}"]
    return out + [f"- warning: {w}" for w in r.warnings]


# ---- measurement ----------------------------------------------------------------------------------------


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


def roc_auc_ovr(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """One-vs-rest macro ROC AUC (Mann-Whitney U with average ranks for ties); classes lacking positives or
    negatives are skipped. None when no class can be scored."""
    labels = np.asarray(labels)
    aucs = []
    for c in range(scores.shape[1]):
        pos = labels == c
        n_pos, n_neg = int(pos.sum()), int((~pos).sum())
        if n_pos == 0 or n_neg == 0:
            continue
        ranks = _average_ranks(scores[:, c])
        aucs.append((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return float(np.mean(aucs)) if aucs else None


def _average_ranks(v: np.ndarray) -> np.ndarray:
    """1-based ranks of `v`, ties sharing their average rank."""
    order = np.argsort(v, kind="mergesort")
    sorted_v = v[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_v)) + 1]
    ends = np.r_[starts[1:], len(v)]
    avg = (starts + ends + 1) / 2.0  # mean of ranks start+1 .. end
    ranks = np.empty(len(v))
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


# ---- output files ---------------------------------------------------------------------------------------


def write_calibration(report: Report, directory: Path) -> list[Path]:
    """calibration.json and calibration.md in a project directory."""
    paths = [Path(directory) / "calibration.json", Path(directory) / "calibration.md"]
    paths[0].write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    paths[1].write_text(report.markdown())
    return paths


def write_profile(report: Report, directory: str | Path) -> list[Path]:
    """PNG plots, summary.md, summary.html and profile.json in `directory` (created if needed)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    constants = [t for t in report.tensors if t.role in CONSTANT_ROLES]
    activations = [t for t in report.tensors if t.role in ("result", "accum")]
    images = []
    for name, tensors, title in (("weights.png", constants, "weights, biases, scales"),
                                 ("activations.png", activations, "layer outputs and accumulators")):  # fmt: skip
        if tensors:
            plot_ranges(tensors, directory / name, f"{report.model}: {title} (log2 |value|; grey: type range)")
            images.append(name)
    plot_errors(report.results(), directory / "errors.png", f"{report.model}: |fixed - float| per layer output")
    images.append("errors.png")
    (directory / "summary.md").write_text(report.markdown(images))
    (directory / "summary.html").write_text(report.html(images))
    (directory / "profile.json").write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    return [directory / n for n in (*images, "summary.md", "summary.html", "profile.json")]


# ---- plots (matplotlib, imported here only: the Agg backend, no display needed) --------------------------


def _pyplot():
    try:
        import matplotlib
    except ImportError as e:
        raise UserError("nn2fpga profile draws its plots with matplotlib: pip install 'matplotlib>=3.7'") from e

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_ranges(tensors: list[TensorProfile], path: Path, title: str) -> None:
    """Horizontal box plots of log2|value| per tensor, the type's range [lsb, max] as a grey band behind."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.28 * len(tensors)))
    rows = list(range(len(tensors), 0, -1))  # first tensor on top
    for row, t in zip(rows, tensors):
        ft = t.fixed_type
        if ft is not None:
            ax.barh(row, math.log2(ft.max) - math.log2(ft.lsb), left=math.log2(ft.lsb), height=0.8,
                    color="0.85", edgecolor="0.6", zorder=0)  # fmt: skip
    data = [t.log2_values() for t in tensors]
    import matplotlib

    horizontal = {"orientation": "horizontal"} if matplotlib.__version_info__ >= (3, 10) else {"vert": False}
    ax.boxplot([d if len(d) else [np.nan] for d in data], positions=rows, **horizontal, widths=0.5,
               showfliers=True, flierprops={"markersize": 2}, manage_ticks=False, zorder=2)  # fmt: skip
    ax.set_yticks(rows, [f"{t.layer} {t.role}" for t in tensors], fontsize=7)
    ax.set_ylim(0.3, len(tensors) + 0.7)
    ax.set_xlabel("log2 |value|")
    ax.set_title(title, fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_errors(tensors: list[TensorProfile], path: Path, title: str) -> None:
    """Max and mean |fixed - float| of every layer output on a log2 axis."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.28 * len(tensors)))
    rows = np.arange(len(tensors), 0, -1)
    tiny = 2.0**-40  # exact layers (error 0) still get a visible marker
    for attr, marker, label in (("err_max", "o", "max"), ("err_mean", "x", "mean")):
        values = [max(getattr(t, attr) or 0.0, tiny) for t in tensors]
        ax.scatter(np.log2(values), rows, marker=marker, s=14, label=label)
    ax.set_yticks(rows, [t.layer for t in tensors], fontsize=7)
    ax.set_xlabel("log2 |fixed - float|")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
