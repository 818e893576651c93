"""Dense-model C simulation benchmark: nn2fpga vs hls4ml vs Keras on the jet-tagging MLP.

One run, same trained model (16 -> 64 -> 32 -> 32 -> 5 softmax), same precision (ap_fixed<16,6>):

* nn2fpga: g++ compile time (fresh NN2FPGA_CACHE, so nothing is served from the cache), then
  `project.predict` throughput on all samples with the default thread count and with threads=1;
* hls4ml (Vivado backend, io_parallel): g++ compile time, then `hls_model.predict` on a subset
  (it is ~100x slower per sample); its throughput is extrapolated per sample from that subset;
* Keras float `model.predict(batch_size=1024)` for reference.

Prints a table and the nn2fpga/hls4ml ratios, and writes them (with machine info and the command)
into the marked `bench:dense_csim` section of docs/benchmarks.md unless --no-write.

    .venv/bin/python bench/dense_csim.py [--samples N] [--hls4ml-samples M] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402 - bench/ is on sys.path when run as a script; this makes it importable too
    Row,
    best_of,
    command_line,
    fmt,
    machine_info,
    now,
    publish,
    ratio,
    short_error,
    table,
    timed,
)

BEGIN, END = "<!-- bench:dense_csim -->", "<!-- /bench:dense_csim -->"
PRECISION = "ap_fixed<16,6>"
TARGET = 20.0  # nn2fpga predict throughput, in multiples of hls4ml's


def run_nn2fpga(model, x, ref_cls, work: Path, repeats: int) -> tuple[Row, Row]:
    import nn2fpga

    multi, single = Row("nn2fpga csim (all threads)"), Row("nn2fpga csim (1 thread)")
    try:
        os.environ["NN2FPGA_CACHE"] = str(work / "n2f-cache")  # fresh: the compile really runs g++
        project, conv_s = timed(
            nn2fpga.convert, model, config={"Model": {"Precision": PRECISION}}, output_dir=work / "n2f"
        )
        _, multi.compile_s = timed(project.compile)
        single.compile_s = multi.compile_s
        threads = min(os.cpu_count() or 1, 8)  # what project.predict uses by default
        project.predict(x[:1000])  # warm-up (page in the library, the weights, the thread pool)
        y, multi.seconds = best_of(repeats, project.predict, x)
        multi.samples = len(x)
        multi.agree = float(np.mean(np.argmax(y, axis=1) == ref_cls))
        multi.note = f"default threads = {threads}; convert {conv_s:.2f} s"
        y1, single.seconds = best_of(repeats, project.predict, x, threads=1)
        single.samples = len(x)
        single.agree = float(np.mean(np.argmax(y1, axis=1) == ref_cls))
        single.note = "threads=1" + ("" if np.array_equal(y, y1) else "; differs from all-threads output!")
    except Exception as exc:  # noqa: BLE001 - report and keep going
        multi.failed = single.failed = short_error(exc)
    return multi, single


def run_hls4ml(model, x, ref_cls, work: Path) -> tuple[Row, dict]:
    row, extra = Row("hls4ml Vivado io_parallel"), {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import hls4ml

            cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", default_precision=PRECISION)
            hls_model = hls4ml.converters.convert_from_keras_model(
                model, hls_config=cfg, output_dir=str(work / "hls4ml"), backend="Vivado", io_type="io_parallel"
            )
        extra["version"] = hls4ml.__version__
    except Exception as exc:  # noqa: BLE001
        row.failed = "convert: " + short_error(exc)
        return row, extra
    try:
        _, row.compile_s = timed(hls_model.compile)
    except Exception as exc:  # noqa: BLE001
        row.failed = "compile: " + short_error(exc)
        return row, extra
    try:
        hls_model.predict(np.ascontiguousarray(x[:10]))  # warm-up
        y, row.seconds = timed(hls_model.predict, np.ascontiguousarray(x))
        y = np.asarray(y, dtype=np.float64).reshape(len(x), -1)
    except Exception as exc:  # noqa: BLE001
        row.failed = "predict: " + short_error(exc)
        return row, extra
    row.samples = len(x)
    row.agree = float(np.mean(np.argmax(y, axis=1) == ref_cls))
    spread = float(np.max(np.std(y, axis=0)))
    rounded = np.unique(np.round(y, 4), axis=0)
    extra["degenerate"] = spread < 1e-3
    extra["distinct_rows"] = len(rounded)
    extra["first_row"] = y[0]
    extra["argmax_hist"] = np.bincount(np.argmax(y, axis=1), minlength=y.shape[1])
    row.note = f"single-threaded; {len(x):,}-sample subset, rate extrapolated per sample"
    if extra["degenerate"]:
        row.note += f"; softmax output degenerate (constant ≈ {np.round(y[0], 3).tolist()})"
    return row, extra


def run_keras(model, x, ref_cls, repeats: int) -> Row:
    row = Row("Keras float (TF CPU, batch 1024)")
    model.predict(x[:2048], batch_size=1024, verbose=0)  # warm-up (tracing)
    y, row.seconds = best_of(repeats, model.predict, x, batch_size=1024, verbose=0)
    row.samples = len(x)
    row.agree = float(np.mean(np.argmax(y, axis=1) == ref_cls))
    row.note = "float32 reference"
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=100_000, help="samples for nn2fpga and Keras (default 100000)")
    ap.add_argument("--hls4ml-samples", type=int, default=5_000, help="subset for hls4ml predict (default 5000)")
    ap.add_argument("--epochs", type=int, default=4, help="training epochs of the jet tagger (default 4)")
    ap.add_argument("--repeats", type=int, default=3, help="timing repeats, best kept (default 3; not hls4ml)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = ap.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    load_before = os.getloadavg()[0]
    from nn2fpga.datasets import hls4ml_jets, jet_tagger, split_standardized

    print(f"training jet_tagger(epochs={args.epochs}) on the shipped real jets ...", flush=True)
    jets = hls4ml_jets()
    train, _, features = split_standardized(jets["features"])
    model, train_s = timed(jet_tagger, epochs=args.epochs, data=(features[train], jets["labels"][train]))
    reps = -(-args.samples // len(features))  # the 30,000 real jets, repeated up to --samples
    x = np.ascontiguousarray(np.tile(features, (reps, 1))[: args.samples])
    labels = np.tile(jets["labels"], reps)[: args.samples]
    ref = model.predict(x, batch_size=4096, verbose=0)
    ref_cls = np.argmax(ref, axis=1)
    keras_acc = float(np.mean(ref_cls == labels))
    n_h = min(args.hls4ml_samples, len(x))

    with tempfile.TemporaryDirectory(prefix="bench-dense-") as tmp:
        work = Path(tmp)
        print("nn2fpga ...", flush=True)
        n2f_multi, n2f_single = run_nn2fpga(model, x, ref_cls, work, args.repeats)
        print(f"hls4ml ({n_h:,} samples) ...", flush=True)
        hls, hls_extra = run_hls4ml(model, x[:n_h], ref_cls[:n_h], work)
        print("keras ...", flush=True)
        keras_row = run_keras(model, x, ref_cls, args.repeats)

    rows = [n2f_multi, n2f_single, hls, keras_row]
    ratios = [
        f"- nn2fpga / hls4ml predict throughput, all threads: **{ratio(n2f_multi.rate, hls.rate)}** "
        f"(target ≥ {TARGET:.0f}×)",
        f"- nn2fpga / hls4ml predict throughput, 1 thread each: **{ratio(n2f_single.rate, hls.rate)}**",
        f"- hls4ml / nn2fpga g++ compile time: **{ratio(hls.compile_s, n2f_multi.compile_s)}** "
        f"(nn2fpga {fmt(n2f_multi.compile_s, '.2f')} s, hls4ml {fmt(hls.compile_s, '.2f')} s)",
        f"- nn2fpga / Keras float throughput (all threads): {ratio(n2f_multi.rate, keras_row.rate)}",
    ]
    passed = n2f_multi.rate == n2f_multi.rate and hls.rate == hls.rate and n2f_multi.rate >= TARGET * hls.rate
    notes = [f"- Keras float accuracy on the {len(x):,} labelled samples: {100 * keras_acc:.2f}%."]
    if hls.failed:
        notes.append(f"- hls4ml failed: {hls.failed}")
    else:
        notes.append(
            f"- hls4ml {hls_extra.get('version', '?')} was timed on the first {n_h:,} samples only and its "
            "samples/s is extrapolated from that subset (per-sample cost is constant: it loops over samples "
            "in Python, one ctypes call each)."
        )
        if hls_extra.get("degenerate"):
            notes.append(
                "- hls4ml's softmax output is **degenerate** at these default settings: every sample gives "
                f"≈ {np.round(hls_extra['first_row'], 4).tolist()} ({hls_extra['distinct_rows']} distinct rounded "
                "output rows), so its argmax agreement is meaningless (argmax histogram "
                f"{hls_extra['argmax_hist'].tolist()})."
            )
        else:
            notes.append(
                f"- hls4ml's softmax output is not degenerate ({hls_extra.get('distinct_rows')} distinct rows "
                "rounded to 1e-4)."
            )
    notes.append(
        f"- Target ≥ {TARGET:.0f}× hls4ml predict throughput: "
        + ("**met**." if passed else "**not met** (or not measurable).")
    )

    cmd = command_line("bench/dense_csim.py", argv)
    machine = machine_info(load_before)
    date = now()

    print()
    print("\n".join(table(rows)))
    print()
    print("\n".join(ratios))
    print("\n".join(notes))
    print(f"\nmachine: {machine}\ndate: {date}\ntraining took {train_s:.1f} s")

    if not args.no_write:
        doc = [
            "## Dense C simulation: nn2fpga vs hls4ml (jet-tagging MLP)",
            "",
            f"Jet-tagging MLP 16→64→32→32→5 (ReLU, softmax), `jet_tagger(epochs={args.epochs})` trained on the "
            f"shipped real jets (`hls4ml_jets()`, standardized), inputs those 30,000 jets repeated to "
            f"{args.samples:,}, precision `{PRECISION}` for both compilers. "
            "nn2fpga: `nn2fpga.convert(...).compile()` with a fresh `NN2FPGA_CACHE`, then `project.predict(x)` "
            "(default threads) and `project.predict(x, threads=1)`. hls4ml: `config_from_keras_model(granularity="
            "'name')`, Vivado backend, `io_parallel`, `hls_model.compile()` then `hls_model.predict`. Times are "
            f"wall clock; nn2fpga and Keras keep the best of {args.repeats} runs, hls4ml one run.",
            "",
            *table(rows),
            "",
            *ratios,
            "",
            *notes,
        ]
        publish(doc, machine, date, cmd, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
