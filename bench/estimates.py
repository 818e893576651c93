"""The estimator against published synthesis results (docs/estimates.md, "Validation"): prints the Markdown
tables of the comparable rows (RF >= 2) and, separately, the RF 1 rows whose DSP count depends on the weights,
then the estimator's run time on ResNet-50 224x224 (it is used inside the planner's search).

    .venv/bin/python bench/estimates.py
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    from nn2fpga.validation import compare, markdown

    rows = json.loads((ROOT / "tests" / "estimate" / "data" / "published_hls.json").read_text())["rows"]
    print("## RF >= 2 (structurally comparable)\n")
    print(markdown(compare([r for r in rows if r["reuse_factor"] >= 2])))
    print("\n## RF 1 (DSP depends on the trained weights: not in the DSP error)\n")
    print(markdown(compare([r for r in rows if r["reuse_factor"] == 1])))
    if "--resnet" in sys.argv:
        import keras

        from nn2fpga.estimate.model import estimate
        from nn2fpga.project import convert

        model = keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3), classes=2)
        project = convert(model, {"IOType": "io_stream"}, lint=False)
        best = min(_timed(estimate, project.graph, "xcu250", 5.0) for _ in range(5))
        print(f"\nestimate(ResNet-50 224x224): {best * 1000:.0f} ms (best of 5)")
    return 0


def _timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


if __name__ == "__main__":
    sys.exit(main())
