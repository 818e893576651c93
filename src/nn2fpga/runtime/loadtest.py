"""Load generator: N simultaneous Triton clients per step, throughput and latency percentiles per N.

For each client count, `processes` worker processes each run an asyncio loop with their share of
the clients (tritonclient's gRPC or HTTP asyncio client), every client sending one request at a
time until `duration` seconds are over (and at most `max_requests` requests each). The result is a
table, a JSON document and, with matplotlib, a PNG of throughput vs. simultaneous clients (the
seed paper's figure). Time and request count are bounded; only the given URL is contacted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nn2fpga.ir.errors import UserError

log = logging.getLogger(__name__)
PROTOCOLS = ("grpc", "http")


@dataclass
class Step:
    """One client count's measurement."""

    clients: int
    requests: int
    failed: int
    seconds: float
    inferences_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float


def _client_module(protocol: str) -> Any:
    try:
        if protocol == "grpc":
            import tritonclient.grpc.aio as module
        else:
            import tritonclient.http.aio as module
    except ImportError as e:
        raise UserError(f"tritonclient[{protocol}] is not installed: pip install 'nn2fpga[serve]' ({e})") from e
    return module


def model_io(url: str, model: str, protocol: str = "grpc") -> tuple[str, list[int], str, str, int]:
    """(input name, input dims, input datatype, output name, max_batch_size) from the server's model config."""
    grpc = protocol == "grpc"
    if grpc:
        import tritonclient.grpc as tc
    else:
        import tritonclient.http as tc
    client = tc.InferenceServerClient(url)
    try:  # gRPC answers a protobuf unless asked for JSON, which it wraps in {"config": ...}
        config = client.get_model_config(model, as_json=True)["config"] if grpc else client.get_model_config(model)
    except Exception as e:
        raise UserError(f"{url}: cannot read model {model!r}: {e}") from e
    finally:
        client.close()
    if len(config["input"]) != 1 or len(config["output"]) != 1:
        raise UserError(f"model {model!r} has {len(config['input'])} inputs and {len(config['output'])} outputs; "
                        "the load test drives models with one of each")  # fmt: skip
    (inp,), (out,) = config["input"], config["output"]
    datatype = inp.get("data_type", "TYPE_FP32").removeprefix("TYPE_")
    return inp["name"], [int(d) for d in inp["dims"]], datatype, out["name"], int(config.get("max_batch_size", 0))


async def _clients(args: dict[str, Any], n: int) -> tuple[list[float], int]:
    module = _client_module(args["protocol"])
    batch = args["batch"]
    if args.get("data"):  # real samples: every request sends the next `batch` of them, cycling
        samples = np.load(args["data"], mmap_mode="r")
    else:
        samples = np.random.default_rng(args["seed"]).normal(size=(batch, *args["dims"])).astype(np.float32)
    latencies: list[float] = []
    failed = 0
    deadline = time.monotonic() + args["duration"]

    async def one(k: int) -> None:
        nonlocal failed
        client = module.InferenceServerClient(args["url"])
        try:
            for i in range(args["max_requests"]):
                if time.monotonic() >= deadline:
                    break
                start = ((k + i * n) * batch) % max(len(samples) - batch + 1, 1)
                x = np.ascontiguousarray(samples[start : start + batch], dtype=np.float32)
                inp = module.InferInput(args["input"], list(x.shape), "FP32")
                inp.set_data_from_numpy(x)
                t0 = time.perf_counter()
                try:
                    await client.infer(args["model"], [inp])
                    latencies.append(time.perf_counter() - t0)
                except Exception:
                    failed += 1
        finally:
            await client.close()

    await asyncio.gather(*(one(k) for k in range(n)))
    return latencies, failed


def _worker(args: dict[str, Any], n: int, queue: Any) -> None:
    try:
        queue.put(asyncio.run(_clients(args, n)))
    except BaseException as e:  # report, never hang the parent
        queue.put(e)


def run_step(args: dict[str, Any], clients: int, processes: int) -> Step:
    """Measure one client count: `clients` simultaneous clients spread over up to `processes` processes."""
    processes = max(1, min(processes, clients))
    shares = [clients // processes + (i < clients % processes) for i in range(processes)]
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    t0 = time.monotonic()
    workers = [ctx.Process(target=_worker, args=(args, n, queue), daemon=True) for n in shares]
    for w in workers:
        w.start()
    latencies: list[float] = []
    failed = 0
    for _ in workers:
        got = queue.get(timeout=args["duration"] + 120)
        if isinstance(got, BaseException):
            raise UserError(f"load generator failed: {got}")
        latencies += got[0]
        failed += got[1]
    for w in workers:
        w.join(10)
    seconds = time.monotonic() - t0
    lat_ms = np.array(latencies) * 1e3 if latencies else np.array([np.nan])
    # throughput over the measuring window (the clients' deadline), not over process start-up
    window = min(seconds, args["duration"]) or seconds
    return Step(
        clients=clients,
        requests=len(latencies),
        failed=failed,
        seconds=round(seconds, 3),
        inferences_per_s=round(len(latencies) * args["batch"] / window, 1),
        p50_ms=round(float(np.percentile(lat_ms, 50)), 3),
        p90_ms=round(float(np.percentile(lat_ms, 90)), 3),
        p99_ms=round(float(np.percentile(lat_ms, 99)), 3),
    )


def loadtest(
    url: str,
    model: str,
    clients: list[int],
    duration: float = 5.0,
    batch: int = 1,
    protocol: str = "grpc",
    processes: int = 2,
    max_requests: int = 1_000_000,
    seed: int = 0,
    data: str | None = None,
) -> list[Step]:
    """One `Step` per client count, measured one after another against `model` at `url`; the requests carry
    seeded Gaussian samples, or with `data` (an .npy of samples of the model's input shape) real ones."""
    if protocol not in PROTOCOLS:
        raise UserError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if not clients or any(c < 1 for c in clients) or duration <= 0 or batch < 1:
        raise UserError("client counts must be >= 1, the duration > 0 and the batch >= 1")
    name, dims, datatype, _, max_batch = model_io(url, model, protocol)
    if datatype != "FP32":
        raise UserError(f"model {model!r} takes {datatype}; the load generator sends FP32")
    if max_batch and batch > max_batch:
        raise UserError(f"batch {batch} exceeds the model's max_batch_size {max_batch}")
    if data is not None:
        try:
            shape = np.load(data, mmap_mode="r").shape
        except (OSError, ValueError) as e:
            raise UserError(f"--data {data}: not a readable .npy array ({e})") from e
        if list(shape[1:]) != dims or shape[0] < batch:
            raise UserError(f"--data {data}: samples of shape {tuple(shape[1:])} (n = {shape[0]}); model {model!r} "
                            f"takes {tuple(dims)} and the batch is {batch}")  # fmt: skip
    args = {"url": url, "model": model, "protocol": protocol, "input": name, "dims": dims, "batch": batch,
            "duration": duration, "max_requests": max_requests, "seed": seed, "data": data}  # fmt: skip
    steps = []
    for n in clients:
        steps.append(run_step(args, n, processes))
        log.info("%s", steps[-1])
    return steps


def table(steps: list[Step]) -> str:
    """The steps as an aligned text table, one row per client count (what `nn2fpga loadtest` prints)."""
    rows = [("clients", "inferences/s", "p50 ms", "p90 ms", "p99 ms", "requests", "failed")]
    for s in steps:
        latencies = (f"{ms:.2f}" for ms in (s.p50_ms, s.p90_ms, s.p99_ms))
        rows.append((str(s.clients), f"{s.inferences_per_s:.0f}", *latencies, str(s.requests), str(s.failed)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_results(
    steps: list[Step], out_dir: Path, meta: dict[str, Any], series: dict[str, list[Step]] | None = None
) -> list[Path]:
    """results.json, and throughput.png (with matplotlib) plotting every series vs. clients."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    series = series or {meta.get("model", "model"): steps}
    doc = {**meta, "series": {k: [asdict(s) for s in v] for k, v in series.items()}}
    written = [out_dir / "results.json"]
    written[0].write_text(json.dumps(doc, indent=2) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: no plot written")
        return written
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, ss in series.items():
        ax.plot([s.clients for s in ss], [s.inferences_per_s for s in ss], marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("simultaneous clients")
    ax.set_ylabel("inferences / s")
    ax.set_title(f"Triton throughput ({meta.get('protocol', 'grpc')}, batch {meta.get('batch', 1)})")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "throughput.png", dpi=120)
    plt.close(fig)
    written.append(out_dir / "throughput.png")
    return written
