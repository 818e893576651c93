"""The estimator against published synthesis results: the rows of hls4ml's jet tagger that nn2fpga builds with
the same structure (io_parallel Latency Dense with an ALLOCATION multiplier limit, softmax by exp and inverse
tables), estimated with nn2fpga's estimator and compared resource by resource.

`compare(rows)` takes the published rows (tests/estimate/data/published_hls.json: numbers with their sources)
and returns one record per row with the estimate, the published value and the relative error of each figure;
`smape` summarizes. tests/estimate/test_validation.py and bench/estimates.py both call it, so the table in
docs/estimates.md is what the test recomputes.
"""

from __future__ import annotations

import numpy as np

from nn2fpga.config import Config
from nn2fpga.estimate.model import estimate
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Activation, Dense, Input
from nn2fpga.passes.manager import run_flows

FIGURES = ("dsp", "lut", "ff", "bram18k", "latency_cycles", "ii_cycles")


def jet_tagger(widths: list[int], seed: int = 0) -> Graph:
    """The dense network of `widths` (ReLU between, softmax at the end) with uniform random weights in
    [-1, 1): no weight is zero after quantization, as in a trained, unpruned network."""
    rng = np.random.default_rng(seed)
    g = Graph("jet_tagger")
    g.add(Input("input", shape=(widths[0],)))
    prev = "input"
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        last = i == len(widths) - 2
        name = "output" if last else f"fc{i + 1}"
        w = rng.uniform(-1, 1, size=(n_in, n_out))
        g.add(Dense(name, shape=(n_out,), weight=w, bias=rng.uniform(-1, 1, n_out),
                    activation="linear" if last else "relu"), [prev])  # fmt: skip
        prev = name
    g.add(Activation("softmax", shape=(widths[-1],), fn="softmax"), [prev])
    g.outputs = ["softmax"]
    return g


def config(row: dict) -> Config:
    """hls4ml's configuration of the row: one precision for results, weights, biases and accumulators
    (hls4ml's default accumulator is the default precision), Latency, the row's reuse factor."""
    precision = {role: row["precision"] for role in ("result", "weight", "bias", "accum")}
    return Config.from_yaml({"Part": row["part"], "ClockPeriod": row["clock_ns"], "IOType": "io_parallel",
                             "Model": {"Precision": precision, "Strategy": "Latency",
                                       "ReuseFactor": row["reuse_factor"]}})  # fmt: skip


def compare(rows: list[dict]) -> list[dict]:
    """One record per published row: `estimate` and `published` (the FIGURES) and `error` (relative, per
    figure: (estimate - published) / published)."""
    out = []
    for row in rows:
        g, cfg = jet_tagger(row["layer_widths"]), config(row)
        cfg.bind(g)
        compiled, _ = run_flows(g, cfg, ("optimize", "quantize", "hardware"))
        total = estimate(compiled, cfg.part, cfg.clock_period).as_dict()["total"]
        est = {k: total[k] for k in FIGURES}
        pub = {k: row[k] for k in FIGURES}
        err = {k: (est[k] - pub[k]) / pub[k] for k in FIGURES}
        out.append({"id": row["id"], "reuse_factor": row["reuse_factor"], "part": row["part"], "tool": row["tool"],
                    "estimate": est, "published": pub, "error": err})  # fmt: skip
    return out


def smape(records: list[dict], figure: str) -> float:
    """Symmetric mean absolute percentage error of `figure` over `records`, in percent."""
    terms = [abs(r["estimate"][figure] - r["published"][figure]) / ((abs(r["estimate"][figure]) +
             abs(r["published"][figure])) / 2) for r in records]  # fmt: skip
    return 100 * float(np.mean(terms))


def markdown(records: list[dict]) -> str:
    """The comparison as a Markdown table (estimate / published, error %), then the sMAPE per figure."""
    head = "| row | RF | tool | part | " + " | ".join(FIGURES) + " |"
    lines = [head, "|" + " --- |" * (4 + len(FIGURES))]
    for r in records:
        cells = [f"{r['estimate'][k]:,} / {r['published'][k]:,} ({100 * r['error'][k]:+.0f}%)" for k in FIGURES]
        lines.append(f"| {r['id']} | {r['reuse_factor']} | {r['tool']} | {r['part']} | " + " | ".join(cells) + " |")
    lines.append("| sMAPE | | | | " + " | ".join(f"{smape(records, k):.1f}%" for k in FIGURES) + " |")
    return "\n".join(lines)
