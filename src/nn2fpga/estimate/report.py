"""The estimate as a firmware engineer reads it: a per-layer table, the totals against the part, the bottleneck
and images/s (`text`); the JSON of report.json (`Estimate.as_dict`); a per-layer PNG of cycles and DSP
(`plot`); and, where Vitis C-synthesis reports exist, estimate beside synthesis with the relative error per
resource (`synthesis_table`).
"""

from __future__ import annotations

import os
from pathlib import Path

from nn2fpga.estimate.devices import RESOURCES
from nn2fpga.estimate.model import Estimate
from nn2fpga.estimate.synthesis import Synthesis, relative_error

LABELS = {"dsp": "DSP", "lut": "LUT", "ff": "FF", "bram18k": "BRAM18K", "uram": "URAM"}


def text(est: Estimate) -> str:
    """The per-layer table, then totals (with utilisation %), bottleneck, images/s and latency."""
    rows = [r.as_dict() for r in est.layers]
    width = max([len("layer"), *(len(r["name"]) for r in rows)])
    head = f"{'layer':<{width}}  {'kind':<14}" + "".join(f"{LABELS[k]:>10}" for k in RESOURCES)
    head += f"{'cycles/img':>12}{'II':>10}{'latency':>10}"
    lines = [head]
    for r in rows:
        dsp = f"{r['dsp_min']}-{r['dsp']}" if "dsp_min" in r else str(r["dsp"])
        cells = [dsp] + [f"{r[k]:,}" for k in RESOURCES[1:]]
        mark = "  << bottleneck" if r["name"] == est.bottleneck else ""
        timing = f"{r['cycles_per_image']:>12,}{r['ii_cycles']:>10,}{r['latency_cycles']:>10,}{mark}"
        lines.append(f"{r['name']:<{width}}  {r['kind']:<14}" + "".join(f"{c:>10}" for c in cells) + timing)
    data = est.as_dict()
    total, avail, use = data["total"], data["available"], data["utilisation"]
    lines.append("")
    lines.append(f"total on {est.part.name} ({est.part.device}): " + ", ".join(
        f"{LABELS[k]} {total[k]:,} of {avail[k]:,} ({100 * use[k]:.1f}%)" for k in RESOURCES))  # fmt: skip
    if "dsp_min" in total:
        lines.append(f"  DSP depends on the weight values: {total['dsp_min']:,} if Vitis builds multiplications by "
                     "constants of at most two non-zero digits in LUTs (newer Vitis), "
                     f"{total['dsp']:,} if not (Vivado HLS 2019)")  # fmt: skip
    lines.append(f"bottleneck: {est.bottleneck} at {est.ii_cycles:,} cycles per image; {est.images_per_s:,.0f} "
                 f"images/s at {1000 / est.clock_ns:g} MHz; latency {est.latency_cycles:,} cycles "
                 f"({est.latency_ns / 1000:.2f} us)")  # fmt: skip
    return "\n".join(lines)


def summary_line(est: Estimate) -> str:
    """One line of totals for `nn2fpga convert --summary`."""
    data = est.as_dict()
    total, use = data["total"], data["utilisation"]
    res = ", ".join(f"{LABELS[k]} {total[k]:,} ({100 * use[k]:.0f}%)" for k in RESOURCES)
    return (f"estimate on {est.part.name} at {est.clock_ns:g} ns: {res}; {est.images_per_s:,.0f} images/s, "
            f"latency {est.latency_cycles:,} cycles (nn2fpga report for the per-layer table)")  # fmt: skip


def plot(est: Estimate, path: str | os.PathLike) -> Path | None:
    """Cycles per image and DSP per layer as a PNG at `path`; None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = [r for r in est.layers if r.kind not in ("Load", "Store")]
    names = [r.name for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(6, 0.18 * len(rows) + 3), 6), sharex=True)
    top.bar(range(len(rows)), [r.cycles_per_image for r in rows], color="tab:blue")
    top.axhline(est.ii_cycles, color="tab:red", lw=0.8, label=f"bottleneck {est.ii_cycles:,}")
    top.set_ylabel("cycles / image")
    top.legend(loc="upper right", fontsize=8)
    top.set_title(f"{est.part.name} at {est.clock_ns:g} ns: {est.images_per_s:,.0f} images/s (estimate)")
    bottom.bar(range(len(rows)), [r.cost.as_dict()["dsp"] for r in rows], color="tab:green")
    bottom.set_ylabel("DSP")
    bottom.set_xticks(range(len(rows)), names, rotation=90, fontsize=6)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def synthesis_table(est: Estimate, top: Synthesis, layers: dict[str, Synthesis]) -> str:
    """Estimate beside synthesis: the totals (with latency and interval), then each matched layer."""
    total = est.as_dict()["total"]

    def cells(e: dict, s: Synthesis, keys: tuple[str, ...]) -> str:
        out = []
        for k in keys:
            got = getattr(s, k)
            err = relative_error(e[k], got) if got is not None else None
            out.append(f"{LABELS.get(k, k)} {e[k]:,} / {got if got is not None else '?'}"
                       + (f" ({100 * err:+.0f}%)" if err is not None else ""))  # fmt: skip
        return ", ".join(out)

    lines = ["estimate / Vitis C synthesis (relative error):",
             f"  top {top.module}: " + cells(total, top, RESOURCES + ("latency_cycles", "ii_cycles"))]  # fmt: skip
    by_name = {r.name: r.as_dict() for r in est.layers}
    for name, s in layers.items():
        if name in by_name:
            lines.append(f"  {name} ({s.module}): " + cells(by_name[name], s, RESOURCES))
    return "\n".join(lines)
