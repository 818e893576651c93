"""The main job in one script (`make demo`): train the jet-tagging MLP on generated data, convert it,
build the C simulation with g++, and compare Keras, the bit-exact NumPy reference and csim."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import nn2fpga  # noqa: E402
from nn2fpga.datasets import jet_features, jet_tagger  # noqa: E402


def main(out_dir: str = "demo_prj") -> int:
    t0 = time.perf_counter()
    print("1/4 training the jet tagger (16 -> 64 -> 32 -> 32 -> 5) on generated jets ...", flush=True)
    model = jet_tagger(epochs=8)
    x, labels = jet_features(10_000, seed=1)
    keras_out = model.predict(x, verbose=0)
    print(f"    Keras accuracy {np.mean(keras_out.argmax(1) == labels):.3f}  ({time.perf_counter() - t0:.1f} s)")

    print(f"2/4 converting to {out_dir}/ (default config: ap_fixed<16,6>, exact accumulators) ...", flush=True)
    t = time.perf_counter()
    project = nn2fpga.convert(model, output_dir=out_dir, force=True)
    print(f"    done in {time.perf_counter() - t:.2f} s\n")
    print(project.summary() + "\n")

    print("3/4 compiling the C simulation with g++ ...", flush=True)
    t = time.perf_counter()
    project.compile()
    print(f"    done in {time.perf_counter() - t:.1f} s")

    print("4/4 predicting 10,000 jets ...", flush=True)
    t = time.perf_counter()
    csim = project.predict(x)
    t_csim = time.perf_counter() - t
    t = time.perf_counter()
    ref = project.predict(x, backend="reference")
    t_ref = time.perf_counter() - t

    rows = [
        ("csim == reference (bit for bit)", f"{np.mean(csim == ref) * 100:.2f} % of values"),
        ("argmax agreement csim vs Keras", f"{np.mean(csim.argmax(1) == keras_out.argmax(1)) * 100:.2f} %"),
        (
            "accuracy Keras / csim",
            f"{np.mean(keras_out.argmax(1) == labels):.4f} / {np.mean(csim.argmax(1) == labels):.4f}",
        ),
        ("max |csim - Keras|", f"{np.abs(csim - keras_out).max():.4g}"),
        ("csim time per sample", f"{t_csim / len(x) * 1e6:.1f} us"),
        ("reference time per sample", f"{t_ref / len(x) * 1e6:.1f} us"),
    ]
    width = max(len(r[0]) for r in rows)
    print()
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value}")
    print(f"\nproject written to {Path(out_dir).resolve()}; total {time.perf_counter() - t0:.1f} s")
    return 0 if np.array_equal(csim, ref) else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
