"""The `nn2fpga` command line.

Every sub-command is a thin wrapper over the Python API. User errors (`nn2fpga.ir.errors.UserError`,
and ValueError/OSError raised on user input) print one line and exit with status 2; other exceptions
are bugs and keep their traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path  # already imported by nn2fpga.toolchain: no start-up cost

from nn2fpga import commands, toolchain
from nn2fpga.ir.errors import UserError
from nn2fpga.version import __version__

EXIT_USAGE = 2


def _cmd_cflags(args: argparse.Namespace) -> int:
    print(" ".join(toolchain.cflags()))
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from nn2fpga.project import convert

    config = args.config
    if args.split:  # --split LAYER overrides the config's Split
        from nn2fpga.config import Config

        config = Config({**Config.from_yaml(config).to_dict(), "Split": args.split}, args.config)
    config = _with_calibration(config, args)
    project = convert(
        args.model, config=config, output_dir=args.output, force=args.force, progress=True, lint=not args.no_lint
    )
    if args.summary:
        print(project.summary())
    if project.calibration is not None:
        print(project.calibration.text())
    print(f"wrote {project.path} (project {project.name}); next: nn2fpga predict {project.path} -i X.npy -o Y.npy")
    return 0


def _with_calibration(config, args: argparse.Namespace, labels: bool = True):
    """The config with --calibrate / --bits / --margin / --weight-bits (/ --labels) merged into `Calibration`."""
    flags = {"data": args.calibrate, "bits": args.bits, "margin": args.margin, "weight_bits": args.weight_bits,
             "labels": args.labels if labels else None}  # fmt: skip
    given = {k: v for k, v in flags.items() if v is not None}
    if not given:
        return config
    from nn2fpga.config import Config

    cfg = Config.from_yaml(config)
    if cfg.calibration is None and "data" not in given:
        raise UserError("--bits, --margin, --weight-bits and --labels need --calibrate X.npy (or Calibration.data)")
    for key in ("data", "labels"):  # command-line paths are relative to the working directory
        if key in given:
            given[key] = str(Path(given[key]).resolve())
    spec = {**(cfg.to_dict().get("Calibration") or {}), **given}
    return Config({**cfg.to_dict(), "Calibration": spec}, args.config)


def _add_calibration_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--calibrate", metavar="X.npy", help="choose types from these inputs (config: Calibration.data)")
    p.add_argument("--bits", type=int, help="total bits of calibrated types: 8, 10, 12, 16, ... (Calibration.bits)")
    p.add_argument("--margin", type=int, help="integer bits above observed ranges (Calibration.margin, default 1)")
    p.add_argument("--weight-bits", type=int, help="bits of weights/biases if not --bits (Calibration.weight_bits)")
    p.add_argument("--labels", metavar="Y.npy", help="class labels of the calibration inputs: adds ROC AUC")


def _cmd_profile(args: argparse.Namespace) -> int:
    from nn2fpga.profile import write_profile
    from nn2fpga.project import Project, convert

    if args.calibrate is None and (args.bits or args.margin is not None or args.weight_bits):
        args.calibrate = args.data  # --bits without --calibrate: calibrate on the profiled data
    config = _with_calibration(args.config, args, labels=False)
    if Path(args.model).is_dir() and (Path(args.model) / "ir" / "graph.json").is_file():
        project = Project.load(args.model)
        if config is not None:
            print("nn2fpga: note: a project directory keeps its own config; -c and calibration flags are ignored",
                  file=sys.stderr)  # fmt: skip
    else:
        project = convert(args.model, config=config, progress=True, lint=False)  # float vs fixed: no hardware
    report = project.profile(args.data, labels=args.labels, progress=True)
    paths = write_profile(report, args.output)
    print(report.text())
    print(f"wrote {len(paths)} files to {args.output}: {', '.join(p.name for p in paths)}")
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    from nn2fpga.config import Config
    from nn2fpga.frontend.keras import from_keras

    graph = from_keras(args.model)
    cfg = Config.from_yaml(args.config)
    cfg.bind(graph)
    text = cfg.resolved_yaml(graph)
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _cmd_lint(args: argparse.Namespace) -> int:
    from nn2fpga.lint import lint_graph, load, summary

    graph, config = load(args.project)
    violations = lint_graph(graph, config, Path(args.project) / "firmware")
    for v in violations:
        print(v)
    print(f"{args.project}: {summary(graph, config, violations)}")
    return 1 if violations else 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from nn2fpga.estimate import cycles
    from nn2fpga.project import Project

    project = Project.load(args.project)
    smallest = args.smallest == "" or [name for name in (args.smallest or "").split(",") if name]
    run = project.simulate(commands.load_inputs(args.input), progress=True, smallest=smallest)
    model = cycles.cycle_model(project.graph, project.name, project.config.clock_period)
    print(run.table(), "", cycles.table(model, run.trips()), sep="\n")
    if args.json:
        result = {**run.as_dict(), "processes": cycles.comparison(model, run.trips()), **cycles.summary(model)}
        try:
            Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
        except OSError as e:
            raise UserError(f"cannot write {args.json}: {e.strerror or e}") from e
    if run.deadlock:
        print(f"nn2fpga: {run.deadlock.rstrip()}", file=sys.stderr)
        return 1
    print(f"completed without deadlock (build {run.build_s:.1f} s, run {run.run_s:.2f} s)", file=sys.stderr)
    if args.output:
        np.save(args.output, run.outputs)
        print(f"wrote {args.output}: {run.outputs.shape[0]} samples x {run.outputs.shape[1:]}", file=sys.stderr)
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import signal
    import threading

    from nn2fpga.runtime.triton import serve_project

    endpoints = {k: getattr(args, k) for k in ("host", "http_port", "grpc_port", "metrics_port")}
    server = serve_project(args.project, backend=args.backend, **endpoints)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"starting Triton on {args.project} ...", file=sys.stderr)
    with server.start(timeout=args.timeout):
        print(f"serving: HTTP {server.http_url}  gRPC {server.grpc_url}  metrics {server.metrics_url}", flush=True)
        print(f"log: {server.log_file}; Ctrl-C stops", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            if server.process.poll() is not None:
                print(f"nn2fpga: error: tritonserver exited ({server.process.returncode}); log tail:", file=sys.stderr)
                print(server.log_tail(), file=sys.stderr)
                return 1
        print("stopping Triton ...", file=sys.stderr)
    return 0


def _cmd_loadtest(args: argparse.Namespace) -> int:
    from nn2fpga.runtime.loadtest import loadtest, table, write_results

    try:
        clients = [int(c) for c in args.clients.split(",")]
    except ValueError:
        raise UserError(f"--clients: expected comma-separated integers like 1,2,4, got {args.clients!r}") from None
    steps = loadtest(
        args.url, args.model, clients, duration=args.duration, batch=args.batch, protocol=args.protocol,
        processes=args.processes, max_requests=args.max_requests, data=args.data,
    )  # fmt: skip
    print(table(steps))
    if args.output:
        meta = {"url": args.url, "model": args.model, "protocol": args.protocol, "batch": args.batch,
                "duration_s": args.duration}  # fmt: skip
        for path in write_results(steps, args.output, meta):
            print(f"wrote {path}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nn2fpga",
        description="Convert Keras/QKeras models into Vitis HLS accelerators, simulate them bit-accurately,"
        " serve them.",
    )
    parser.add_argument("--version", action="version", version=f"nn2fpga {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress of every pass and build step")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser(
        "cflags",
        help="print the g++ flags that build code against the ap_fixed/hls_stream headers",
        description="Print the g++ flags (language standard, include directories) for generated code, like "
        "pkg-config --cflags. With XILINX_HLS set, the Vitis HLS include directory comes first.",
    )
    p.set_defaults(func=_cmd_cflags)

    p = sub.add_parser(
        "convert",
        help="convert a Keras model into a Vitis HLS project with C simulation",
        description="Convert MODEL (.keras, .h5 or a SavedModel directory) into a project directory: firmware "
        "C++ for Vitis HLS, build_prj.tcl, weights, the resolved config (nn2fpga.yml) and report.json.",
    )
    p.add_argument("model", help="model file (.keras, .h5) or SavedModel directory")
    p.add_argument("-o", "--output", required=True, help="project directory to create")
    p.add_argument("-c", "--config", help="YAML config (see nn2fpga config MODEL for a complete one)")
    p.add_argument("--force", action="store_true", help="replace an existing output directory")
    p.add_argument(
        "--summary",
        action="store_true",
        help="print a table of layers, shapes, types, folds, weight storage and memories",
    )
    p.add_argument(
        "--split", metavar="LAYER", help="accelerate the model up to LAYER, run the rest on the CPU (config: Split)"
    )
    p.add_argument(
        "--no-lint", action="store_true", help="write the project even if it breaks synthesis limits (nn2fpga lint)"
    )
    _add_calibration_flags(p)
    p.set_defaults(func=_cmd_convert)

    commands.add_parsers(sub)  # report, plan, build

    p = sub.add_parser(
        "profile",
        help="plot per-layer ranges vs. types and fixed vs. float error on data",
        description="Run X.npy through the float model and its fixed-point reference side by side; write box plots "
        "of every weight and activation (log2 scale, type range in grey), per-layer errors, and a Markdown / HTML "
        "summary listing every layer, the tensors that saturate and those entirely below their lsb.",
    )
    p.add_argument("model", help="model file (.keras, .h5), SavedModel directory, or a project directory")
    p.add_argument("--data", required=True, metavar="X.npy", help="inputs (N, *input shape)")
    p.add_argument("-o", "--output", required=True, help="report directory (created; files in it are replaced)")
    p.add_argument("-c", "--config", help="YAML config for a model file")
    _add_calibration_flags(p)
    p.set_defaults(func=_cmd_profile)

    p = sub.add_parser(
        "config",
        help="write a complete, commented YAML config for a model",
        description="Print (or write with -o) the fully resolved config of MODEL: every layer with its precision, "
        "reuse factor and strategy. Edit it and pass it to nn2fpga convert -c.",
    )
    p.add_argument("model", help="model file (.keras, .h5) or SavedModel directory")
    p.add_argument("-c", "--config", help="start from this YAML config instead of the defaults")
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    p.set_defaults(func=_cmd_config)

    p = sub.add_parser(
        "lint",
        help="check a project against the synthesis limits: unroll, word widths, partitions, firmware, memory",
        description="Check the project in DIR against the documented synthesis limits (docs/synthesis.md, Lint "
        "rules): unrolled operations per pipelined loop, stream and weight word widths, complete array partitions, "
        "dynamic memory / standard containers / recursion in firmware/, weight memory within the configured Part. "
        "Prints one line per violation (layer: rule: value (limit N)) and a summary; exits 0 when clean, 1 with "
        "violations, 2 for bad input.",
    )
    p.add_argument("project", help="project directory written by nn2fpga convert")
    p.set_defaults(func=_cmd_lint)

    p = sub.add_parser(
        "simulate",
        help="run an io_stream project with bounded FIFOs: stream depths, high-water marks, deadlocks",
        description="Run the project in DIR on X.npy in a C simulation where every stream holds at most its "
        "declared FIFO depth and the dataflow processes run concurrently. Prints each stream's depth, high-water "
        "mark and the depth the run needed, then each process's modelled cycles per image beside its counted loop "
        "iterations, the bottleneck and images/s at the configured clock; exits 1 with the blocked processes and "
        "streams if the dataflow deadlocks. Outputs equal csim's.",
    )
    p.add_argument("project", help="project directory written by nn2fpga convert (IOType io_stream)")
    commands.add_input_argument(p)
    p.add_argument("-o", "--output", help="output .npy file (written when the run completes)")
    p.add_argument("--json", metavar="FILE", help="write the streams, the processes' cycles and the summary as JSON")
    p.add_argument(
        "--smallest",
        nargs="?",
        const="",
        metavar="STREAMS",
        help="after a run that completes, find by bisection the smallest depth of each stream (comma-separated; "
        "default: every stream deeper than 2) with which the run still completes, the others at their depths",
    )
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser(
        "serve",
        help="serve a converted project with NVIDIA Triton Inference Server",
        description="Start tritonserver (from PATH, else the nvidia-pytriton wheel) on the project's triton/ model "
        "repository, wait until the model is ready, print the endpoints; Ctrl-C or SIGTERM stops it.",
    )
    p.add_argument("project", help="project directory written by nn2fpga convert")
    p.add_argument("--backend", choices=("csim", "reference", "xrt"), help="override the config's Serving.Backend")
    p.add_argument("--host", default="127.0.0.1", help="address every endpoint binds (default: loopback only)")
    p.add_argument("--http-port", type=int, default=8000)
    p.add_argument("--grpc-port", type=int, default=8001)
    p.add_argument("--metrics-port", type=int, default=8002)
    p.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the model to become ready")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser(
        "loadtest",
        help="measure throughput and latency of a served model vs. simultaneous clients",
        description="Run N simultaneous tritonclient clients for DURATION seconds per N, print throughput and "
        "p50/p90/p99 latency per N; with -o also results.json and throughput.png.",
    )
    p.add_argument("url", help="server address, e.g. 127.0.0.1:8001 (gRPC) or 127.0.0.1:8000 (HTTP)")
    p.add_argument("--model", required=True, help="model name (the project name)")
    p.add_argument("--clients", default="1,2,4,8,16,32,64", help="comma-separated client counts")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per client count")
    p.add_argument("--batch", type=int, default=1, help="samples per request")
    p.add_argument("--protocol", choices=("grpc", "http"), default="grpc")
    p.add_argument("--processes", type=int, default=2, help="client processes sharing the clients")
    p.add_argument("--data", metavar="X.npy", help="real samples to send (default: seeded Gaussian ones)")
    p.add_argument("--max-requests", type=int, default=1_000_000, help="bound on requests per client and count")
    p.add_argument("-o", "--output", help="directory for results.json and throughput.png")
    p.set_defaults(func=_cmd_loadtest)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (UserError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as e:
        print(f"nn2fpga: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("nn2fpga: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
