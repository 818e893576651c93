"""Serving benchmark: Triton throughput and latency vs. simultaneous clients (the seed paper's figure).

One Triton run serves two Python-backend models with the same FP32 payload (16 values per sample):
the jet tagger (csim backend: the g++-built kernel behind host/driver.py) and a trivial identity
model, which measures the engine's own ceiling on this machine. `nn2fpga.runtime.loadtest` drives
both over gRPC from 1 to 64 clients. Targets: >= 2,000 inferences/s at 16 clients and >= 70% of the
identity model's throughput. Results go to the marked `bench:serve` section of docs/benchmarks.md
(re-read right before writing; only that section is replaced) unless --no-write, and
results.json + throughput.png to --out.

ResNet-50 with dynamic batching on vs. off waits for the CNN frontend (not measured here).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:serve -->", "<!-- /bench:serve -->"
TARGET_RATE, TARGET_SHARE, AT_CLIENTS = 2000.0, 0.70, 16


def write_doc(lines: list[str]) -> None:
    section = "\n".join([BEGIN, *lines, END])
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"  # re-read now: others write other sections
    if BEGIN in text and END in text:
        start, stop = text.index(BEGIN), text.index(END) + len(END)
        text = text[:start] + section + text[stop:]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(text)


def resnet_batching(tmp: Path, clients: list[int], duration: float, processes: int) -> list[str]:
    """ResNet-50 (64x64 input, reference backend) served with dynamic batching on and off."""
    import keras
    import numpy as np

    import nn2fpga
    from nn2fpga.datasets import calibrate_batchnorm
    from nn2fpga.runtime.loadtest import loadtest
    from nn2fpga.runtime.triton import free_port, serve_project

    model = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=2)
    calibrate_batchnorm(model, np.random.default_rng(0).normal(size=(4, 64, 64, 3)))
    results = {}
    for batching in (True, False):
        serving = {"DynamicBatching": batching, "MaxBatchSize": 16, "MaxQueueDelayMicroseconds": 5000}
        config = {
            "ProjectName": "resnet50",
            "Serving": serving,
            "Model": {"Precision": {"result": "ap_fixed<18,8>", "weight": "ap_fixed<18,3>"}},
        }
        project = nn2fpga.convert(model, config=config, output_dir=tmp / f"resnet_{batching}")
        ports = {"http_port": free_port(), "grpc_port": free_port(), "metrics_port": free_port()}
        with serve_project(project.path, backend="reference", **ports).start() as server:
            print(f"resnet50 dynamic batching {'on' if batching else 'off'}: {clients} clients", file=sys.stderr)
            results[batching] = {
                s.clients: s for s in loadtest(server.grpc_url, "resnet50", clients, duration, processes=processes)
            }
    rows = [
        "",
        "ResNet-50 (64x64x3 input, reference backend, 1 instance), same run: Triton dynamic batching on "
        "(max batch 16, queue delay 5 ms) vs. off.",
        "",
        "| clients | batching on img/s | p50 ms | batching off img/s | p50 ms | ratio |",
        "|--------:|------------------:|-------:|-------------------:|-------:|------:|",
    ]
    for n in clients:
        on, off = results[True][n], results[False][n]
        rows.append(
            f"| {n} | {on.inferences_per_s:.1f} | {on.p50_ms:.0f} | {off.inferences_per_s:.1f} | "
            f"{off.p50_ms:.0f} | {on.inferences_per_s / max(off.inferences_per_s, 1e-9):.2f}x |"
        )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", default="1,2,4,8,16,32,64")
    ap.add_argument("--duration", type=float, default=4.0, help="seconds per client count and model")
    ap.add_argument("--processes", type=int, default=2, help="client processes")
    ap.add_argument("--out", default=str(ROOT / "build" / "bench_serve"), help="results.json, throughput.png")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    ap.add_argument("--resnet-clients", default="1,4,16", help="client counts for ResNet-50 batching on/off")
    ap.add_argument("--skip-resnet", action="store_true", help="skip the ResNet-50 dynamic batching comparison")
    args = ap.parse_args()
    clients = [int(c) for c in args.clients.split(",")]

    import numpy as np

    import nn2fpga
    from nn2fpga.datasets import hls4ml_jets, jet_tagger, split_standardized
    from nn2fpga.runtime.host import identity_repository
    from nn2fpga.runtime.loadtest import loadtest, table, write_results
    from nn2fpga.runtime.triton import free_port, serve_project

    with tempfile.TemporaryDirectory(prefix="nn2fpga-bench-serve-") as tmp:
        tmp = Path(tmp)
        jets = hls4ml_jets()
        train, _, features = split_standardized(jets["features"])
        model = jet_tagger(epochs=2, data=(features[train], jets["labels"][train]))
        project = nn2fpga.convert(model, output_dir=tmp / "prj")
        ident = identity_repository(tmp / "ident_repo", "identity", (16,))
        ports = {"http_port": free_port(), "grpc_port": free_port(), "metrics_port": free_port()}
        server = serve_project(project.path, backend="csim", **ports)
        server.repositories.append(ident.resolve())
        samples = tmp / "jets.npy"  # real jet features in every request
        np.save(samples, features[:4096])
        with server.start():
            url = server.grpc_url
            series = {}
            for model in (project.name, "identity"):
                print(f"{model}: {args.clients} clients x {args.duration:g} s", file=sys.stderr)
                series[model] = loadtest(url, model, clients, args.duration, processes=args.processes,
                                         data=str(samples))  # fmt: skip
                print(f"\n{model}\n{table(series[model])}\n")
        resnet_rows = (
            []
            if args.skip_resnet
            else resnet_batching(tmp, [int(c) for c in args.resnet_clients.split(",")], args.duration, args.processes)
        )
    meta = {"protocol": "grpc", "batch": 1, "duration_s": args.duration, "machine": f"{os.cpu_count()} CPUs"}
    written = write_results(series[project.name], Path(args.out), meta, series=series)

    ours = {s.clients: s for s in series[project.name]}
    ceiling = {s.clients: s for s in series["identity"]}
    rows = [
        "| clients | jet tagger inf/s | p50 ms | p99 ms | identity inf/s | p50 ms | p99 ms | share |",
        "|--------:|-----------------:|-------:|-------:|---------------:|-------:|-------:|------:|",
    ]
    for n in clients:
        a, b = ours[n], ceiling[n]
        rows.append(
            f"| {n} | {a.inferences_per_s:.0f} | {a.p50_ms:.2f} | {a.p99_ms:.2f} | {b.inferences_per_s:.0f} | "
            f"{b.p50_ms:.2f} | {b.p99_ms:.2f} | {a.inferences_per_s / b.inferences_per_s:.0%} |"
        )
    at = AT_CLIENTS if AT_CLIENTS in ours else clients[-1]
    rate, share = ours[at].inferences_per_s, ours[at].inferences_per_s / ceiling[at].inferences_per_s
    verdict = (
        f"At {at} clients: **{rate:.0f} inferences/s** (target >= {TARGET_RATE:.0f}: "
        f"{'met' if rate >= TARGET_RATE else 'NOT met'}), **{share:.0%} of the identity model** "
        f"(target >= {TARGET_SHARE:.0%}: {'met' if share >= TARGET_SHARE else 'NOT met'})."
    )
    failed = sum(s.failed for ss in series.values() for s in ss)
    lines = [
        "## Serving: Triton throughput vs. simultaneous clients (`bench/serve.py`)",
        "",
        f"One Triton run (nvidia-pytriton's tritonserver, Python backend, dynamic batching, 1 instance) on "
        f"{platform.machine()} with {os.cpu_count()} CPUs shared by server and clients; gRPC, batch 1, "
        f"{args.duration:g} s per point, {args.processes} client processes (asyncio tritonclient). "
        "`identity` returns its FP32 input (16 values, the same payload): the engine's own ceiling.",
        "",
        *rows,
        "",
        verdict + f" Failed requests: {failed}.",
        "",
        *resnet_rows,
    ]
    print("\n".join(lines))
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    if not args.no_write:
        write_doc(lines)
        print(f"wrote {DOC.relative_to(ROOT)} (section {BEGIN})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
