"""Write docs/models.md: every keras.applications family, random weights (weights=None: no download), converted
with nn2fpga and compared with Keras.

    python scripts/model_table.py                 # convert, reference and csim on 2 images, write docs/models.md
    python scripts/model_table.py --no-csim       # convert and reference only (faster)
    python scripts/model_table.py -f MobileNetV2  # one family (repeatable); prints its row

Random weights make a signal vanish or explode through a deep network: every BatchNormalization's statistics
are set from 16 random images first (`nn2fpga.datasets.calibrate_batchnorm`), as training would. Types are
calibrated per layer from 16 other random images (24-bit results, 16-bit weights; the table asks whether the
architecture converts and computes what Keras computes, not how narrow it can go). Per family: does it convert
(or nn2fpga's message), the smallest cosine similarity of the reference's output with Keras's over 4 random
images, csim == reference bit for bit on 2 of them, and the seconds convert took.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

DOC = Path(__file__).resolve().parent.parent / "docs" / "models.md"
BITS, WEIGHT_BITS = 24, 16  # calibrated results; weights and biases
WEIGHT_BITS_OF = {"ResNet101": 18, "ResNet152": 20}  # deeper random ResNets lose cosine with 16-bit weights
# Tables of 8,192 entries (TableSize) for the many swish / sigmoid layers of EfficientNet; with the default 1,024 their
# cosine was 0.980066 (B0) and 0.991388 (V2B0), the same models' reference with 8,192 entries 0.999639 (B0)
TABLE_SIZE_OF = {"EfficientNetB0": 8192, "EfficientNetV2B0": 8192}
TABLE_SIZE = 1024
ACCUM = "ap_fixed<64,24>"  # every accumulator (an exact one would take up to 68 bits in MobileNet)
# family -> input size (the smallest each accepts without weights is 32, Inception 75, Xception 71)
FAMILIES = {
    "ResNet50": 64,
    "ResNet101": 64,
    "ResNet152": 64,
    "ResNet50V2": 64,
    "ResNet101V2": 64,
    "VGG16": 32,
    "VGG19": 32,
    "MobileNet": 64,
    "MobileNetV2": 64,
    "MobileNetV3Small": 64,
    "MobileNetV3Large": 64,
    "DenseNet121": 64,
    "EfficientNetB0": 64,
    "EfficientNetV2B0": 64,
    "InceptionV3": 75,
    "Xception": 71,
    "ConvNeXtTiny": 64,
    "NASNetMobile": 64,
}


# why a family does not convert (docs/models.md)
REASONS = {
    "ConvNeXtTiny": "Its stem is a nested Sequential model and its blocks use LayerScale, a custom layer class "
    "(a learned per-channel multiplier); neither is read yet",
}


def build(family: str) -> Any:
    import keras

    keras.utils.set_random_seed(1)
    size = FAMILIES[family]
    kwargs: dict[str, Any] = {"weights": None, "input_shape": (size, size, 3), "classes": 10,
                              "classifier_activation": None}  # fmt: skip  # logits: a softmax would hide errors
    if family.startswith("MobileNetV3") or family.startswith("EfficientNetV2"):
        kwargs["include_preprocessing"] = True
    from nn2fpga.datasets import calibrate_batchnorm

    model = getattr(keras.applications, family)(**kwargs)
    return calibrate_batchnorm(model, _images(family, 16, seed=2))


def _images(family: str, n: int, seed: int = 0) -> np.ndarray:
    """Random images in the range the family's first layer expects ([0, 255] where it rescales itself)."""
    size = FAMILIES[family]
    top = 255.0 if "Efficient" in family or "V3" in family else 1.0
    return np.random.default_rng(seed).uniform(0, top, (n, size, size, 3))


def _message(e: Exception) -> str:
    text = str(e).splitlines()[0].split("; supported:")[0]
    return re.sub(r"(model) '[^']*' ", r"\1 ", text)


def row(family: str, csim: bool) -> dict[str, Any]:
    import nn2fpga
    from nn2fpga.ir.errors import UserError

    model = build(family)
    x = _images(family, 4)
    start = time.perf_counter()
    try:
        weight_bits = WEIGHT_BITS_OF.get(family, WEIGHT_BITS)
        calibration = {"data": _images(family, 16, seed=1), "bits": BITS, "weight_bits": weight_bits}
        table_size = TABLE_SIZE_OF.get(family, TABLE_SIZE)
        config = {"Calibration": calibration, "Model": {"Precision": {"accum": ACCUM}, "TableSize": table_size}}
        project = nn2fpga.convert(model, config=config)
    except UserError as e:
        return {"family": family, "converts": f"refused: {_message(e)}"}
    seconds = time.perf_counter() - start
    ours, theirs = project.predict(x, backend="reference"), model.predict(x, verbose=0)
    a, b = ours.reshape(len(x), -1), theirs.reshape(len(x), -1)
    cosine = min(1.0, float(np.min(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-30))))
    exact = "not run"
    if csim:
        exact = "yes" if np.array_equal(project.predict(x[:2], backend="csim"), ours[:2]) else "NO"
    return {"family": family, "converts": "yes", "io_type": project.graph.io_type, "cosine": cosine,
            "csim": exact, "seconds": seconds, "layers": len(project.graph.layers()),
            "weight_bits": weight_bits, "table_size": table_size}  # fmt: skip


def render(rows: list[dict[str, Any]]) -> str:
    ok = [r for r in rows if r["converts"] == "yes"]
    lines = [
        "# keras.applications",
        "",
        "Generated by `python scripts/model_table.py` (do not edit). Random weights (`weights=None`) with every",
        "BatchNormalization's statistics set from 16 random images (`nn2fpga.datasets.calibrate_batchnorm`),",
        f"10 classes (logits), types calibrated per layer on 16 other random images: {BITS}-bit results,",
        "weights of the bits in the table (`Calibration`, docs/calibration.md), accumulators",
        f"`{ACCUM}`, tables of {TABLE_SIZE} entries unless the table says (`TableSize`), the input size in the",
        "table. **cosine**: the smallest cosine similarity",
        "between the reference's output and Keras's over 4 random images; **csim**: the C simulation equals the",
        "bit-exact reference on 2 of them; **convert s**: seconds `nn2fpga.convert` took on this machine.",
        "",
        f"**{len(ok)} of {len(rows)} families convert.**",
        "",
        "| family | input | converts | IO type | IR layers | result / weight bits | cosine | csim == reference "
        "| convert s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        size = FAMILIES[r["family"]]
        if r["converts"] != "yes":
            why = f" {REASONS[r['family']]}." if r["family"] in REASONS else ""
            lines.append(f"| {r['family']} | {size}×{size} | {r['converts']}.{why} | | | | | | |")
            continue
        bits = f"{BITS} / {r.get('weight_bits', WEIGHT_BITS)}"
        if r.get("table_size", TABLE_SIZE) != TABLE_SIZE:
            bits += f", tables {r['table_size']}"
        head = f"| {r['family']} | {size}×{size} | yes | {r['io_type']} | {r['layers']} | {bits} "
        lines.append(f"{head}| {r['cosine']:.6f} | "
                     f"{r['csim']} | {r['seconds']:.1f} |")  # fmt: skip
    low = [r["family"] for r in ok if r["cosine"] < 0.999]
    lines += ["", f"Below 0.999: {', '.join(low) or 'none'}. EfficientNetB0 and EfficientNetV2B0 use 8,192-entry",
              "tables (`TableSize: 8192`, docs/config.md): with the default 1,024 (bins of 1/64 over [-8, 8),",
              "docs/arithmetic.md) the error of their many swish and squeeze-and-excitation sigmoids added up to a",
              "cosine of 0.980066 and 0.991388."]  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-csim", action="store_true", help="reference and Keras only")
    parser.add_argument("-f", "--family", action="append", choices=sorted(FAMILIES), help="only these families")
    parser.add_argument("--rows", type=Path, help="the rows a run printed (its log): write docs/models.md from them, "
                        "the families given with -f measured again")  # fmt: skip
    args = parser.parse_args(argv)
    old = {}
    if args.rows:
        lines = [line for line in args.rows.read_text().splitlines() if line.startswith("{'family'")]
        old = {r["family"]: r for r in map(ast.literal_eval, lines)}
    rows = {}
    for family in args.family or ([] if args.rows else FAMILIES):
        rows[family] = row(family, csim=not args.no_csim)
        print(rows[family], flush=True)
    if args.rows or not args.family:
        merged = [rows.get(f) or old.get(f) for f in FAMILIES]
        if None in merged:
            raise SystemExit(f"no row for {[f for f, r in zip(FAMILIES, merged) if r is None]}")
        DOC.write_text(render(merged))
        print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
