"""Small-CNN C simulation benchmark: nn2fpga vs hls4ml (io_stream) vs Keras, same model, same precision.

One run, one trained model: 32x32x3 -> Conv2D 16 3x3 same ReLU -> MaxPool 2 -> Conv2D 32 3x3 ReLU ->
MaxPool 2 -> Flatten -> Dense 10 softmax (pool size == stride, so hls4ml's streaming pooling works),
trained for a few epochs on synthetic 10-class images (a smooth random template per class plus noise),
precision ap_fixed<16,6> for both compilers:

* nn2fpga io_stream (the default IOType for this model: its largest map, 32x32x16, is over the io_parallel
  limit): g++ compile time (fresh NN2FPGA_CACHE), then `project.predict(x, threads=1)` and with the
  default thread count; csim == reference bit for bit;
* nn2fpga io_parallel (`IOType: io_parallel`, same model): compile time, `predict(x, threads=1)`, and
  its output == the io_stream output bit for bit;
* hls4ml (Vivado backend, io_stream, `config_from_keras_model(granularity='name')`): g++ compile time
  (`hls_model.compile()`, which writes the project first, and its build alone), then `hls_model.predict`,
  which loops over samples in Python, on a subset (default 200 images);
* Keras float `model.predict(batch_size=256)`.

Target: nn2fpga csim per image on one thread >= 10x faster than hls4ml's. Prints a table and the ratios,
and writes them (machine info, date, command) into the marked `bench:small_cnn` section of
docs/benchmarks.md unless --no-write.

    .venv/bin/python bench/small_cnn.py [--images N] [--hls4ml-images M] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402 - bench/ is on sys.path when run as a script
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

BEGIN, END = "<!-- bench:small_cnn -->", "<!-- /bench:small_cnn -->"
PRECISION = "ap_fixed<16,6>"
TARGET = 10.0  # nn2fpga csim speed per image (1 thread), in multiples of hls4ml's
CLASSES = 10


def synthetic_images(n: int, seed: int, templates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """n images: a random class's template, scaled, plus noise; values roughly in [-1.5, 1.5]."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    x = templates[y] * rng.uniform(0.6, 1.2, (n, 1, 1, 1)) + rng.normal(0, 0.35, (n, 32, 32, 3))
    return x.astype(np.float32), y


def make_templates(seed: int) -> np.ndarray:
    """One smooth 32x32x3 pattern per class (random 4x4 grid, upsampled), normalized to unit std."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0, 1, (CLASSES, 4, 4, 3))
    t = np.repeat(np.repeat(coarse, 8, axis=1), 8, axis=2)
    return (t / t.std(axis=(1, 2, 3), keepdims=True)).astype(np.float32)


def build_model(seed: int, epochs: int, templates: np.ndarray):
    import keras

    keras.utils.set_random_seed(seed)
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(32, 3, activation="relu", name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Flatten(name="flatten"),
            layers.Dense(CLASSES, activation="softmax", name="dense"),
        ],
        name="small_cnn",
    )
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = synthetic_images(10_000, seed + 100, templates)
    model.fit(x, y, epochs=epochs, batch_size=128, verbose=0)
    return model


def run_nn2fpga(model, x, ref_cls, work: Path, repeats: int) -> tuple[Row, Row, dict]:
    import nn2fpga

    single, multi, extra = Row("nn2fpga csim io_stream (1 thread)"), Row("nn2fpga csim io_stream (all threads)"), {}
    try:
        os.environ["NN2FPGA_CACHE"] = str(work / "n2f-cache")  # fresh: the compile really runs g++
        config = {"IOType": "io_stream", "Model": {"Precision": PRECISION}}
        project, extra["convert_s"] = timed(nn2fpga.convert, model, config=config, output_dir=work / "n2f")
        _, single.compile_s = timed(project.compile)
        multi.compile_s = single.compile_s
        project.predict(x[:16], threads=1)  # warm-up
        y1, single.seconds = best_of(repeats, project.predict, x, threads=1)
        extra["y"] = y1
        single.samples = len(x)
        single.agree = float(np.mean(np.argmax(y1, axis=1) == ref_cls))
        threads = min(os.cpu_count() or 1, 8)  # what project.predict uses by default
        y, multi.seconds = best_of(repeats, project.predict, x)
        multi.samples = len(x)
        multi.agree = float(np.mean(np.argmax(y, axis=1) == ref_cls))
        n_ref = min(len(x), 1000)
        yr = project.predict(x[:n_ref], backend="reference")
        extra["bit_exact"] = bool(np.array_equal(yr, y1[:n_ref]))
        extra["n_ref"] = n_ref
        single.note = f"convert {extra['convert_s']:.2f} s; csim == reference on {n_ref:,} images: " + (
            "bit for bit" if extra["bit_exact"] else f"**no** (max |diff| {np.max(np.abs(yr - y1[:n_ref])):.1e})"
        )
        multi.note = f"default threads = {threads}" + ("" if np.array_equal(y, y1) else "; differs from 1 thread!")
        extra["io_type"] = json.loads((project.path / "report.json").read_text()).get("io_type", "?")
    except Exception as exc:  # noqa: BLE001 - report and keep going
        single.failed = multi.failed = short_error(exc)
    return single, multi, extra


def run_nn2fpga_parallel(model, x, ref_cls, work: Path, repeats: int, y_stream) -> Row:
    """The same model with IOType io_parallel: compile, predict on one thread, compare with io_stream."""
    import nn2fpga

    row = Row("nn2fpga csim io_parallel (1 thread)")
    try:
        config = {"IOType": "io_parallel", "Model": {"Precision": PRECISION}}
        project, convert_s = timed(nn2fpga.convert, model, config=config, output_dir=work / "n2f_parallel")
        _, row.compile_s = timed(project.compile)
        project.predict(x[:16], threads=1)  # warm-up
        y, row.seconds = best_of(repeats, project.predict, x, threads=1)
        row.samples = len(x)
        row.agree = float(np.mean(np.argmax(y, axis=1) == ref_cls))
        same = y_stream is not None and np.array_equal(y, y_stream)
        row.note = f"convert {convert_s:.2f} s; output == io_stream output: " + ("bit for bit" if same else "**no**")
    except Exception as exc:  # noqa: BLE001 - report and keep going
        row.failed = short_error(exc)
    return row


def run_hls4ml(model, x, ref_cls, work: Path) -> tuple[Row, dict]:
    row, extra = Row("hls4ml Vivado io_stream (1 thread)"), {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import hls4ml

            cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", default_precision=PRECISION)
            hls_model, extra["convert_s"] = timed(
                hls4ml.converters.convert_from_keras_model,
                model,
                hls_config=cfg,
                output_dir=str(work / "hls4ml"),
                backend="Vivado",
                io_type="io_stream",
            )
        extra["version"] = hls4ml.__version__
    except Exception as exc:  # noqa: BLE001
        row.failed = "convert: " + short_error(exc)
        return row, extra
    try:
        _, row.compile_s = timed(hls_model.compile)  # write + g++ (what a user runs)
        _, extra["gxx_s"] = timed(hls_model._compile)  # g++ alone (build_lib.sh), the project already written
    except Exception as exc:  # noqa: BLE001
        row.failed = "compile: " + short_error(exc)
        return row, extra
    try:
        hls_model.predict(np.ascontiguousarray(x[:2]))  # warm-up
        y, row.seconds = timed(hls_model.predict, np.ascontiguousarray(x))
        y = np.asarray(y, dtype=np.float64).reshape(len(x), -1)
    except Exception as exc:  # noqa: BLE001
        row.failed = "predict: " + short_error(exc)
        return row, extra
    row.samples = len(x)
    row.agree = float(np.mean(np.argmax(y, axis=1) == ref_cls))
    extra["distinct_rows"] = len(np.unique(np.round(y, 4), axis=0))
    extra["degenerate"] = float(np.max(np.std(y, axis=0))) < 1e-3
    row.note = (
        f"{len(x):,}-image subset (predict loops over images in Python); compile = write + g++, "
        f"g++ alone {extra['gxx_s']:.2f} s; convert {extra['convert_s']:.2f} s"
    )
    if extra["degenerate"]:
        row.note += f"; softmax output degenerate (≈ {np.round(y[0], 3).tolist()})"
    return row, extra


def run_keras(model, x, ref_cls, repeats: int) -> Row:
    row = Row("Keras float (TF CPU, batch 256)")
    model.predict(x[:512], batch_size=256, verbose=0)  # warm-up (tracing)
    y, row.seconds = best_of(repeats, model.predict, x, batch_size=256, verbose=0)
    row.samples = len(x)
    row.agree = float(np.mean(np.argmax(y, axis=1) == ref_cls))
    row.note = "float32 reference"
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=5_000, help="images for nn2fpga and Keras (default 5000)")
    ap.add_argument("--hls4ml-images", type=int, default=200, help="subset for hls4ml predict (default 200)")
    ap.add_argument("--epochs", type=int, default=3, help="training epochs (default 3)")
    ap.add_argument("--repeats", type=int, default=3, help="timing repeats, best kept (default 3; not hls4ml)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = ap.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    load_before = os.getloadavg()[0]
    templates = make_templates(args.seed)
    print(f"training the small CNN ({args.epochs} epochs) ...", flush=True)
    model, train_s = timed(build_model, args.seed, args.epochs, templates)
    x, labels = synthetic_images(args.images, args.seed + 1, templates)
    x = np.ascontiguousarray(x)
    ref_cls = np.argmax(model.predict(x, batch_size=256, verbose=0), axis=1)
    keras_acc = float(np.mean(ref_cls == labels))
    n_h = min(args.hls4ml_images, len(x))

    with tempfile.TemporaryDirectory(prefix="bench-small-cnn-") as tmp:
        work = Path(tmp)
        print("nn2fpga ...", flush=True)
        n2f_single, n2f_multi, n2f_extra = run_nn2fpga(model, x, ref_cls, work, args.repeats)
        print("nn2fpga io_parallel ...", flush=True)
        n2f_par = run_nn2fpga_parallel(model, x, ref_cls, work, args.repeats, n2f_extra.get("y"))
        print(f"hls4ml ({n_h:,} images) ...", flush=True)
        hls, hls_extra = run_hls4ml(model, x[:n_h], ref_cls[:n_h], work)
        print("keras ...", flush=True)
        keras_row = run_keras(model, x, ref_cls, args.repeats)

    rows = [n2f_single, n2f_multi, n2f_par, hls, keras_row]
    speedup = n2f_single.rate / hls.rate if n2f_single.rate == n2f_single.rate and hls.rate == hls.rate else None
    ratios = [
        f"- nn2fpga / hls4ml csim speed per image, 1 thread each: **{ratio(n2f_single.rate, hls.rate)}** "
        f"(target ≥ {TARGET:.0f}×; nn2fpga {fmt(n2f_single.us / 1e3, '.3f')} ms/image, hls4ml "
        f"{fmt(hls.us / 1e3, '.2f')} ms/image)",
        f"- nn2fpga all threads / hls4ml: {ratio(n2f_multi.rate, hls.rate)}",
        "- nn2fpga io_parallel / io_stream csim speed per image, 1 thread each: "
        f"{ratio(n2f_par.rate, n2f_single.rate)}",
        f"- hls4ml / nn2fpga compile time: **{ratio(hls.compile_s, n2f_single.compile_s)}** (hls4ml write + g++ "
        f"{fmt(hls.compile_s, '.2f')} s, g++ alone {fmt(hls_extra.get('gxx_s', float('nan')), '.2f')} s; nn2fpga "
        f"{fmt(n2f_single.compile_s, '.2f')} s)",
        f"- nn2fpga (1 thread) / Keras float (all threads) throughput: {ratio(n2f_single.rate, keras_row.rate)}",
    ]
    notes = [
        f"- Keras float accuracy on the {len(x):,} synthetic labelled images: {100 * keras_acc:.2f}% "
        f"(trained {args.epochs} epochs in {train_s:.1f} s)."
    ]
    if n2f_extra.get("io_type"):
        notes.append(f"- nn2fpga IOType: {n2f_extra['io_type']}.")
    if hls.failed:
        notes.append(f"- hls4ml failed: {hls.failed}")
    else:
        notes.append(
            f"- hls4ml {hls_extra.get('version', '?')} was timed on the first {n_h:,} images only; its "
            "images/s is extrapolated per image (it runs one ctypes call per image). Its softmax output is "
            + (
                "**degenerate** at these settings, so its argmax agreement is meaningless."
                if hls_extra.get("degenerate")
                else f"not degenerate ({hls_extra.get('distinct_rows')} distinct rows rounded to 1e-4)."
            )
        )
    notes.append(
        f"- Target ≥ {TARGET:.0f}× hls4ml per image (1 thread): "
        + ("**met**." if speedup is not None and speedup >= TARGET else "**not met** (or not measurable).")
    )

    machine, date, cmd = machine_info(load_before), now(), command_line("bench/small_cnn.py", argv)
    print()
    print("\n".join(table(rows, noun="image")))
    print()
    print("\n".join(ratios))
    print("\n".join(notes))
    print(f"\nmachine: {machine}\ndate: {date}")

    if not args.no_write:
        doc = [
            "## Small CNN C simulation: nn2fpga vs hls4ml (bench/small_cnn.py)",
            "",
            "32×32×3 → Conv2D 16 3×3 same ReLU → MaxPool 2 → Conv2D 32 3×3 ReLU → MaxPool 2 → Flatten → Dense 10 "
            f"softmax, trained {args.epochs} epochs on synthetic 10-class images; precision `{PRECISION}` for both "
            "compilers. nn2fpga: `nn2fpga.convert(...).compile()` with a fresh `NN2FPGA_CACHE`, then "
            "`project.predict(x, threads=1)` and `project.predict(x)` (`IOType: io_stream`), and "
            "`project.predict(x, threads=1)` with `IOType: io_parallel`. hls4ml: `config_from_keras_model("
            "granularity='name')`, Vivado backend, `io_stream`, `hls_model.compile()` then `hls_model.predict`. "
            f"Times are wall clock; nn2fpga and Keras keep the best of {args.repeats} runs, hls4ml one run.",
            "",
            *table(rows, noun="image"),
            "",
            *ratios,
            "",
            *notes,
        ]
        publish(doc, machine, date, cmd, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
