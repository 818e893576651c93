"""ResNet-50 (224x224x3) folded for an Alveo U250 at 200 MHz: writes examples/resnet50_u250.yml.

The model is keras.applications.ResNet50 with random weights (seed 0; BatchNorm statistics set from random
images so the activations are standardized), 2 classes. Precision comes from calibration on 8 random images:
8-bit weights and activations (`Calibration: {bits: 8}`), exact accumulators. The folding is chosen by the rule
below for a target of 700 images/s (the frame rate the seed paper served per FPGA): at 200 MHz every layer may
take at most 200e6 / 700 = 285,714 clocks per image, so each Dense/Conv2D gets the smallest PE x SIMD (the
widest SIMD among equals, FINN's order) with out_pixels * rows * columns / (PE * SIMD) within that budget,
or, where no fold meets it (conv1: SIMD must divide its 3 input channels), the widest fold.
Everything else keeps nn2fpga's defaults: stream lanes follow the producers, weights go to BRAM, then URAM
(loaded from DDR at start-up), then off-chip as the part requires (`WeightStorage: auto`).

The written file is the converted project's nn2fpga.yml (every layer's calibrated types, reuse factor and the
chosen PE/SIMD); converting the same model with it gives the same project. The script then checks what can be
checked without Vitis: the synthesizability lint passes on xcu250, csim equals the bit-exact reference, and
the bounded-FIFO simulation runs one image without deadlock.

    .venv/bin/python examples/resnet50_u250.py [--out DIR] [--skip-simulate]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
CLOCK_NS, TARGET_FPS = 5.0, 700
BUDGET = int(1e9 / CLOCK_NS / TARGET_FPS)  # clocks per image and layer


def model_and_data():
    import keras

    from nn2fpga.datasets import calibrate_batchnorm

    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3), classes=2)
    rng = np.random.default_rng(1)
    calibrate_batchnorm(model, rng.normal(size=(8, 224, 224, 3)))
    return model, rng.normal(size=(8, 224, 224, 3)).astype(np.float32)


def choose_folds(graph) -> dict[str, dict[str, int]]:
    """PE and SIMD per layer: the fewest multipliers that meet BUDGET clocks per image."""
    from nn2fpga.estimate import geometry
    from nn2fpga.passes import fold

    out = {}
    for layer in graph.layers():
        if not layer.HAS_MULTIPLIERS:
            continue
        rows, cols, _ = geometry.matrix(layer)
        pixels = math.prod(layer.shape[:-1]) if len(layer.shape) > 1 else 1
        need = math.ceil(pixels * rows * cols / BUDGET)
        width = graph.producers(layer.name)[0].types["result"].width
        within = [f for f in fold.valid_folds(layer) if fold.limits_ok(layer, *f, width)]
        ok = [f for f in within if f[0] * f[1] >= need]
        if ok:
            pe, simd = min(ok, key=lambda f: (f[0] * f[1], -f[1]))
        else:  # the budget cannot be met (conv1: SIMD divides its 3 input channels): the widest fold
            pe, simd = max(within, key=lambda f: (f[0] * f[1], f[1]))
            print(
                f"{layer.name}: {pixels * rows * cols // (pe * simd)} clocks per image at PE {pe} x SIMD {simd}, "
                f"over the budget of {BUDGET}"
            )
        out[layer.name] = {"PE": pe, "SIMD": simd}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="build/resnet50_u250_prj", help="project directory (overwritten)")
    ap.add_argument("--skip-simulate", action="store_true", help="skip the bounded-FIFO simulation")
    args = ap.parse_args()

    import nn2fpga
    from nn2fpga.config import Config
    from nn2fpga.frontend import from_keras
    from nn2fpga.lint import lint_project
    from nn2fpga.project import compile_graph
    from nn2fpga.testing import assert_csim_matches_reference

    model, calib = model_and_data()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    work = Path(args.out).with_suffix(".calib.npy")
    np.save(work, calib)
    base = {
        "Part": "xcu250-figd2104-2L-e",
        "ClockPeriod": CLOCK_NS,
        "IOType": "io_stream",
        "Calibration": {"data": str(work), "bits": 8},
    }
    t = time.perf_counter()
    _, graph, _ = compile_graph(from_keras(model), Config.from_yaml(base))
    folds = choose_folds(graph)
    print(f"folds chosen for {BUDGET} clocks per image ({time.perf_counter() - t:.1f} s); "
          f"{sum(f['PE'] * f['SIMD'] for f in folds.values())} multipliers in all")  # fmt: skip
    project = nn2fpga.convert(model, config={**base, "LayerName": folds}, output_dir=args.out, force=True)
    (HERE / "resnet50_u250.yml").write_text(
        "# examples/resnet50_u250.yml: written by examples/resnet50_u250.py (see its docstring); the calibrated\n"
        "# types are those of its seeded random model.\n" + (project.path / "nn2fpga.yml").read_text()
    )
    print(project.summary().split("\n\n")[-1])
    violations = lint_project(project.path)
    print(f"lint: {len(violations)} violation(s)")
    for v in violations:
        print(f"  {v}")
    x = calib[:2]
    assert_csim_matches_reference(project, x)
    print("csim == reference on 2 images")
    if not args.skip_simulate:
        t = time.perf_counter()
        run = project.simulate(x[:1])
        print(f"bounded-FIFO simulation: {'deadlock ' + run.deadlock if run.deadlock else 'completed'} "
              f"({time.perf_counter() - t:.1f} s, {len(run.streams)} streams)")  # fmt: skip
        if run.deadlock:
            return 1
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
