"""Top tagging, the seed paper's task: top-quark jets against QCD jets as 2D images, a CNN trained on them,
converted with nn2fpga, and served to many clients.

    .venv/bin/python examples/top_tagging.py                   # quick: a small CNN on 40x40 images (minutes)
    .venv/bin/python examples/top_tagging.py --model resnet50  # ResNet-50 on 64x64 images (long: docs/physics.md)
    ... --serve                                                # then serve it and run the load test

Jets: 550 < pT < 650 GeV, |eta| < 2, anti-kT R = 0.8, tops truth-matched (nn2fpga.datasets.jets, the
top-tagging reference data set's definition). Reported for Keras float, the default fixed-point project and a
project calibrated to 8 bits: ROC AUC and the background rejection 1/eps_B at a signal efficiency of 0.3 (the
reference backend over the whole test set; csim on a subset, bit-exact with it), with the ROC curves in one
PNG. With --model resnet50 the network is split as the paper did: the featurizer (up to the global pooling)
runs on the accelerator, the classifier on the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import nn2fpga  # noqa: E402
from nn2fpga.datasets import jets  # noqa: E402
from nn2fpga.profile.metrics import binary_auc, rejection, roc_curve  # noqa: E402

SCALE = 10.0  # image pixels in units of 1/10 of the jet pT: values up to 10 suit ap_fixed<16,6>


def cnn(size: int):
    import keras

    L = keras.layers
    i = keras.Input((size, size, 1), name="image")
    x = L.Conv2D(16, 4, padding="same", activation="relu", name="conv1")(i)
    x = L.MaxPooling2D(2, name="pool1")(x)
    x = L.Conv2D(16, 4, padding="same", activation="relu", name="conv2")(x)
    x = L.MaxPooling2D(2, name="pool2")(x)
    x = L.Conv2D(32, 3, padding="same", activation="relu", name="conv3")(x)
    x = L.MaxPooling2D(2, name="pool3")(x)
    x = L.Dense(32, activation="relu", name="fc1")(L.Flatten(name="flat")(x))
    return keras.Model(i, L.Dense(2, activation="softmax", name="probs")(x), name="top_cnn")


def resnet50(size: int):
    import keras

    return keras.applications.ResNet50(weights=None, input_shape=(size, size, 1), classes=2, name="top_resnet50")


def scores(out: np.ndarray) -> np.ndarray:
    return np.asarray(out, dtype=np.float64)[:, 0]  # class 0 = top


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("cnn", "resnet50"), default="cnn")
    parser.add_argument("-n", type=int, default=20_000, help="jets per class (default 20,000)")
    parser.add_argument("--epochs", type=int, help="training epochs (default: cnn 12, resnet50 4)")
    parser.add_argument("--csim", type=int, default=256, help="test jets run through csim (default 256)")
    parser.add_argument("--test", type=int, help="test jets through the reference backend (default: all)")
    parser.add_argument("--serve", action="store_true", help="serve the project and run the load test")
    parser.add_argument("--load", metavar="MODEL.keras", help="a model this script trained before: skip training")
    parser.add_argument("-o", "--out", default="top_tagging", help="output directory (default top_tagging)")
    args = parser.parse_args()
    import keras

    t0 = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    size = 40 if args.model == "cnn" else 64
    print(f"1/6 jets: {args.n:,} top + {args.n:,} QCD (Pythia 8 + FastJet, cached) ...", flush=True)
    data = jets.generate(["top", "qcd"], args.n, seed=1, progress=True)
    x = (SCALE * data.images(size))[..., None]
    y = data["labels"]
    order = np.random.default_rng(0).permutation(len(y))
    train, test = order[: int(0.75 * len(y))], order[int(0.75 * len(y)) :]
    test = test[: args.test] if args.test else test
    print(f"    {time.perf_counter() - t0:.0f} s; {len(train):,} training and {len(test):,} test images {size}x{size}")

    t = time.perf_counter()
    if args.load:
        print(f"2/6 loading {args.load} ...", flush=True)
        model = keras.models.load_model(args.load)
    else:
        print(f"2/6 training the {args.model} ...", flush=True)
        keras.utils.set_random_seed(0)
        model = cnn(size) if args.model == "cnn" else resnet50(size)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
        epochs = args.epochs or (12 if args.model == "cnn" else 4)
        model.fit(x[train], y[train], epochs=epochs, batch_size=128, verbose=2, validation_split=0.05)
        model.save(out / f"{args.model}.keras")
    keras_out = model.predict(x[test], verbose=0, batch_size=256)
    print(f"    {time.perf_counter() - t:.0f} s")

    print("3/6 converting: the default precision and calibrated to 8 bits ...", flush=True)
    base = {"IOType": "io_stream"} | ({"Split": "avg_pool"} if args.model == "resnet50" else {})
    projects = {
        "fixed <16,6>": nn2fpga.convert(model, config=base, output_dir=out / "prj_default", force=True),
        "calibrated 8-bit": nn2fpga.convert(model, config={**base, "Calibration": {"data": x[train][:512], "bits": 8}},
                                            output_dir=out / "prj_8bit", force=True),
    }  # fmt: skip

    print("4/6 the reference backend over the test set, csim on a subset ...", flush=True)
    outs, exact = {"Keras float": keras_out}, True
    for name, project in projects.items():
        t = time.perf_counter()
        ref = project.predict(x[test], backend="reference")
        outs[name] = ref
        sub = x[test][: args.csim]
        project.compile()
        same = np.array_equal(project.predict(sub), ref[: args.csim])
        exact &= same
        print(f"    {name}: reference {time.perf_counter() - t:.0f} s; csim == reference on {len(sub)}: {same}")

    print("5/6 top tagging performance (test set):\n")
    positive = y[test] == 0
    rows = {name: (binary_auc(positive, scores(o)), rejection(positive, scores(o), 0.3)) for name, o in outs.items()}
    print(f"  {'':18s} {'AUC':>7s} {'1/eps_B at eps_S=0.3':>22s}")
    for name, (auc, rej) in rows.items():
        print(f"  {name:18s} {auc:7.4f} {rej:22.1f}")
    summary = {"model": args.model, "jets_per_class": args.n, "test": len(test), "image_size": size,
               "results": {k: {"auc": a, "rejection_at_0.3": r} for k, (a, r) in rows.items()},
               "csim_equals_reference": bool(exact)}  # fmt: skip
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot(positive, outs, out / "roc.png")
    print(f"\n  ROC curves: {out / 'roc.png'}; results: {out / 'results.json'}")

    if args.serve:
        print("6/6 serving the default project with Triton and running the load test ...", flush=True)
        serve(projects["fixed <16,6>"], x[test][:512], out)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return 0 if exact else 1


def serve(project, images: np.ndarray, out: Path) -> None:
    """Serve the project (reference backend), check 512 answers against Project.predict, then load-test
    1..32 clients with real jet images; results.json and throughput.png in OUT/serving."""
    import tritonclient.grpc as grpc

    from nn2fpga.runtime.loadtest import loadtest, model_io, table, write_results
    from nn2fpga.runtime.triton import free_port, serve_project

    images = images.astype(np.float32)
    data = out / "serve_images.npy"
    np.save(data, images)
    expected = project.predict(images, backend="reference").astype(np.float32)
    ports = {k: free_port() for k in ("http_port", "grpc_port", "metrics_port")}
    with serve_project(project.path, backend="reference", **ports).start() as srv:
        name, _, _, output, _ = model_io(srv.grpc_url, project.name)
        client = grpc.InferenceServerClient(srv.grpc_url)
        wrong = 0
        for i in range(0, len(images), 16):
            inp = grpc.InferInput(name, list(images[i : i + 16].shape), "FP32")
            inp.set_data_from_numpy(images[i : i + 16])
            got = client.infer(project.name, [inp]).as_numpy(output)
            wrong += int(np.sum(np.any(got != expected[i : i + 16], axis=1)))
        print(f"    {len(images)} served answers against Project.predict: {wrong} wrong")
        steps = loadtest(srv.grpc_url, project.name, [1, 2, 4, 8, 16, 32], duration=5.0, data=str(data))
    print(table(steps))
    meta = {"model": project.name, "backend": "reference", "batch": 1, "duration_s": 5.0, "wrong": wrong}
    for path in write_results(steps, out / "serving", meta):
        print(f"    wrote {path}")


def plot(positive: np.ndarray, outs: dict[str, np.ndarray], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for (name, out), style in zip(outs.items(), ("-", "--", ":")):
        eps_b, eps_s = roc_curve(positive, scores(out))
        with np.errstate(divide="ignore"):
            ax.plot(eps_s, 1 / eps_b, style, label=f"{name} (AUC {binary_auc(positive, scores(out)):.4f})")
    ax.set_yscale("log")
    ax.set_xlabel("signal efficiency (top)")
    ax.set_ylabel("background rejection 1/eps_B (QCD)")
    ax.set_xlim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("top tagging on jet images")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
