"""Rendering of a profile `Report`: Markdown and HTML summaries, PNG plots, and the files they go to.

`write_profile` writes the plots (matplotlib, Agg backend, imported only when drawing) with summary.md,
summary.html and profile.json; `write_calibration` writes calibration.json and calibration.md into a
project directory.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator
from html import escape as esc
from pathlib import Path

import numpy as np

from nn2fpga.ir.errors import UserError
from nn2fpga.passes.calibrate import CONSTANT_ROLES
from nn2fpga.profile.data import Report, TensorProfile

COLUMNS = ("layer", "kind", "tensor", "type", "min", "max", "out of range", "all below lsb", "max abs err",
           "mean abs err")  # fmt: skip


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


def markdown(report: Report, images: list[str] = ()) -> str:
    """The summary and a table of every tensor, as Markdown (calibration.md, summary.md)."""
    rows = [_row(t) for t in report.tensors]
    head = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines = [f"# Numerical profile of {report.model}", "", *_summary_lines(report), ""]
    lines += [f"![{Path(i).stem}]({i})" for i in images] + ([""] if images else [])
    lines += ["## Tensors", "", *head, *("| " + " | ".join(r) + " |" for r in rows), ""]
    return "\n".join(lines)


def html(report: Report, images: list[str] = ()) -> str:
    """The same as `markdown`, as a standalone HTML page (summary.html)."""
    cells = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in _row(t)) + "</tr>\n" for t in report.tensors)
    header = "".join(f"<th>{h}</th>" for h in COLUMNS)
    summary = "".join(f"<li>{esc(line.lstrip('- '))}</li>" for line in _summary_lines(report))
    imgs = "".join(f'<p><img src="{esc(i)}" alt="{esc(Path(i).stem)}"></p>' for i in images)
    return (
        f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{esc(report.model)} profile</title>"
        "<style>body{font-family:sans-serif} table{border-collapse:collapse} td,th{border:1px solid #ccc;"
        "padding:2px 6px;font-size:12px} img{max-width:100%}</style></head><body>\n"
        f"<h1>Numerical profile of {esc(report.model)}</h1><ul>{summary}</ul>{imgs}\n"
        f"<h2>Tensors</h2><table><tr>{header}</tr>\n{cells}</table></body></html>\n"
    )


def write_calibration(report: Report, directory: Path) -> list[Path]:
    """calibration.json and calibration.md in a project directory."""
    paths = [Path(directory) / "calibration.json", Path(directory) / "calibration.md"]
    paths[0].write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    paths[1].write_text(markdown(report))
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
    (directory / "summary.md").write_text(markdown(report, images))
    (directory / "summary.html").write_text(html(report, images))
    (directory / "profile.json").write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    return [directory / n for n in (*images, "summary.md", "summary.html", "profile.json")]


# ---- plots (matplotlib, imported here only: the Agg backend, no display needed) --------------------------


@contextlib.contextmanager
def _axes(n_rows: int, path: Path, title: str) -> Iterator:
    """The axes of a figure one row per tensor high: the block draws, then the figure is titled, gridded
    along x and saved to `path`."""
    try:
        import matplotlib
    except ImportError as e:
        raise UserError("nn2fpga profile draws its plots with matplotlib: pip install 'matplotlib>=3.7'") from e

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.28 * n_rows))
    yield ax
    ax.set_title(title, fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_ranges(tensors: list[TensorProfile], path: Path, title: str) -> None:
    """Horizontal box plots of log2|value| per tensor, the type's range [lsb, max] as a grey band behind."""
    with _axes(len(tensors), path, title) as ax:
        import matplotlib  # imported by _axes

        rows = list(range(len(tensors), 0, -1))  # first tensor on top
        for row, t in zip(rows, tensors):
            ft = t.fixed_type
            if ft is not None:
                ax.barh(row, math.log2(ft.max) - math.log2(ft.lsb), left=math.log2(ft.lsb), height=0.8,
                        color="0.85", edgecolor="0.6", zorder=0)  # fmt: skip
        data = [t.log2_values() for t in tensors]
        horizontal = {"orientation": "horizontal"} if matplotlib.__version_info__ >= (3, 10) else {"vert": False}
        ax.boxplot([d if len(d) else [np.nan] for d in data], positions=rows, **horizontal, widths=0.5,
                   showfliers=True, flierprops={"markersize": 2}, manage_ticks=False, zorder=2)  # fmt: skip
        ax.set_yticks(rows, [f"{t.layer} {t.role}" for t in tensors], fontsize=7)
        ax.set_ylim(0.3, len(tensors) + 0.7)
        ax.set_xlabel("log2 |value|")


def plot_errors(tensors: list[TensorProfile], path: Path, title: str) -> None:
    """Max and mean |fixed - float| of every layer output on a log2 axis."""
    with _axes(len(tensors), path, title) as ax:
        rows = np.arange(len(tensors), 0, -1)
        tiny = 2.0**-40  # exact layers (error 0) still get a visible marker
        for attr, marker, label in (("err_max", "o", "max"), ("err_mean", "x", "mean")):
            values = [max(getattr(t, attr) or 0.0, tiny) for t in tensors]
            ax.scatter(np.log2(values), rows, marker=marker, s=14, label=label)
        ax.set_yticks(rows, [t.layer for t in tensors], fontsize=7)
        ax.set_xlabel("log2 |fixed - float|")
        ax.legend(fontsize=7)
