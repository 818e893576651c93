"""The main job in one script (`make demo`): the jet tagger on real jets. Five classes of jets (gluon, quark,
W, Z, top at about 1 TeV) made with Pythia 8 and FastJet (nn2fpga.datasets.jets), their 16 high-level
features, the MLP 16 -> 64 -> 32 -> 32 -> 5 trained in Keras, converted at the default precision and
calibrated to 8 bits, the C simulation built with g++; Keras, the bit-exact NumPy reference and csim compared,
per-class ROC AUC and accuracy side by side with the hls4ml jet tagger's, and the ROC curves in a PNG.

    .venv/bin/python examples/demo.py [OUT_DIR] [--generate]

The jets are the 30,000 shipped with nn2fpga (`nn2fpga.datasets.hls4ml_jets`, made by the generator with the
command it prints) unless --generate asks for them to be made again here (about 3 minutes on 2 cores; cached).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import nn2fpga  # noqa: E402
from nn2fpga import datasets  # noqa: E402
from nn2fpga.datasets import jets  # noqa: E402
from nn2fpga.profile.metrics import auc_per_class, roc_curve  # noqa: E402

PROCESSES = datasets.HLS4ML_PROCESSES
# the hls4ml jet tagger's per-class AUC (%), Duarte et al., JINST 13 P07027 (arXiv 1804.06913), figure 7
HLS4ML_AUC = {"gluon": 94.2, "quark": 90.5, "w": 95.5, "z": 95.0, "top": 96.4}


def load(generate: bool) -> tuple[dict, str]:
    if generate:
        data = jets.generate(PROCESSES, 6000, seed=1, pt_range=jets.HLS4ML_BIN, features=True, progress=True)
        return data, "generated here (6,000 per class, seed 1; cached)"
    data = datasets.hls4ml_jets()
    return data, (f"{len(data['labels']):,} jets shipped with nn2fpga (made by `{datasets.HLS4ML_JETS_COMMAND}`; "
                  "--generate makes them again here)")  # fmt: skip


def main(out_dir: str = "demo_prj", generate: bool = False) -> int:
    t0 = time.perf_counter()
    data, source = load(generate)
    print(f"1/5 jets: {source}", flush=True)
    y = data["labels"]
    # standardized by the training part, as in the hls4ml tutorial (the host does this before the FPGA)
    train, test, x = datasets.split_standardized(data["features"])

    print("2/5 training the jet tagger (16 -> 64 -> 32 -> 32 -> 5) ...", flush=True)
    model = datasets.jet_tagger(epochs=40, data=(x[train], y[train]))
    keras_out = model.predict(x[test], verbose=0)

    print(f"3/5 converting to {out_dir}/ (default ap_fixed<16,6>) and {out_dir}_8bit/ (calibrated to 8 bits) ...")
    default = nn2fpga.convert(model, output_dir=out_dir, force=True)
    calib = {"Calibration": {"data": x[train][:4000], "bits": 8}}
    eight = nn2fpga.convert(model, config=calib, output_dir=f"{out_dir}_8bit", force=True)

    print("4/5 building the C simulations with g++ and predicting the test jets ...", flush=True)
    outs = {"Keras float": keras_out}
    exact = True
    for name, project in (("fixed <16,6>", default), ("calibrated 8-bit", eight)):
        project.compile()
        csim, ref = project.predict(x[test]), project.predict(x[test], backend="reference")
        exact &= np.array_equal(csim, ref)
        print(f"    {name}: csim == reference bit for bit on {len(test):,} jets: {np.array_equal(csim, ref)}")
        outs[name] = csim

    print("5/5 per-class ROC AUC (%) on the test jets, beside the hls4ml jet tagger's:\n")
    yt = y[test]
    aucs = {name: [100 * a for a in auc_per_class(yt, out)] for name, out in outs.items()}
    head = ["class", *outs, "hls4ml paper"]
    rows = [[PROCESSES[c], *(f"{aucs[n][c]:.1f}" for n in outs), f"{HLS4ML_AUC[PROCESSES[c]]:.1f}"] for c in range(5)]
    rows.append(["mean", *(f"{np.mean(aucs[n]):.2f}" for n in outs), f"{np.mean(list(HLS4ML_AUC.values())):.2f}"])
    rows.append(["accuracy", *(f"{np.mean(out.argmax(1) == yt) * 100:.1f}" for out in outs.values()), "~75"])
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  " + "  ".join(str(v).rjust(w) for v, w in zip(r, widths)))
    loss = np.mean(aucs["Keras float"]) - np.mean(aucs["fixed <16,6>"])
    print(f"\n  mean AUC lost in fixed point <16,6>: {loss:.2f} points; argmax agreement csim vs Keras "
          f"{np.mean(outs['fixed <16,6>'].argmax(1) == keras_out.argmax(1)) * 100:.2f} %")  # fmt: skip
    png = Path(out_dir) / "roc.png"
    plot(yt, outs, png)
    print(f"  ROC curves: {png}\n\nprojects in {Path(out_dir).resolve()} and {out_dir}_8bit; total "
          f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
    return 0 if exact else 1


def plot(labels: np.ndarray, outs: dict[str, np.ndarray], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    styles = ("-", "--", ":")
    for c, name in enumerate(PROCESSES):
        for (label, out), style in zip(outs.items(), styles):
            eps_b, eps_s = roc_curve(labels == c, out[:, c])
            ax.plot(eps_s, eps_b, style, color=f"C{c}", label=f"{name}, {label}" if style == "-" or c == 0 else None)
    ax.set_yscale("log")
    ax.set_xlabel("signal efficiency")
    ax.set_ylabel("background efficiency")
    ax.set_ylim(1e-3, 1)
    ax.set_title("Keras (solid), <16,6> csim (dashed), 8-bit csim (dotted)", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default="demo_prj", help="project directory (default demo_prj)")
    parser.add_argument("--generate", action="store_true", help="make the jets here instead of reading the file")
    args = parser.parse_args()
    sys.exit(main(args.out_dir, args.generate))
