"""The hardware commands of the CLI: `report` (estimate vs the part, and vs Vitis synthesis where it ran), `plan`
(folding chosen for a part and a frame rate), `build` (Vitis HLS and the v++ link). `nn2fpga.cli` registers
them with `add_parsers`; every user error is a UserError, printed by the CLI as one line with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nn2fpga.ir.errors import UserError


def _cmd_report(args: argparse.Namespace) -> int:
    from nn2fpga.estimate import report as text_report
    from nn2fpga.estimate.model import with_estimate
    from nn2fpga.estimate.synthesis import find_reports, match_layers
    from nn2fpga.ir.names import layer_idents
    from nn2fpga.project import Project

    project = Project.load(args.project)
    est = project.estimate()
    print(text_report.text(est))
    found = find_reports(project.path)
    if found is not None:
        top, modules = found
        layers = match_layers(modules | {top.module: top}, layer_idents(project.graph, project.name))
        print("", text_report.synthesis_table(est, top, layers), sep="\n")
    out = Path(args.json) if args.json else project.path / "report.json"
    described = project.path / "report.json"
    base = json.loads(described.read_text()) if described.is_file() else {"layers": []}
    data = with_estimate(base, est) if base["layers"] else est.as_dict()
    if found is not None:
        data["synthesis"] = {"top": top.__dict__, "layers": {n: s.__dict__ for n, s in layers.items()}}
    _write(out, json.dumps(data, indent=2, default=str) + "\n")
    png = text_report.plot(est, out.with_suffix(".png"))
    print(f"wrote {out}" + (f" and {png}" if png else " (no PNG: matplotlib is not installed)"), file=sys.stderr)
    return 0


def _write(path: Path, text: str) -> None:
    """Write atomically: a temporary sibling, then rename (nothing half-written on failure)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        tmp.replace(path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {e.strerror}") from e


def _cmd_plan(args: argparse.Namespace) -> int:
    from nn2fpga.config import Config
    from nn2fpga.estimate import report as text_report
    from nn2fpga.estimate.devices import device
    from nn2fpga.frontend.keras import from_keras
    from nn2fpga.passes.plan import plan_graph

    if args.fps is not None and args.fps <= 0:
        raise UserError(f"--fps: expected a frame rate > 0, got {args.fps:g}")
    if args.fill is not None and not 0 < args.fill <= 1:
        raise UserError(f"--fill: expected a fraction in (0, 1], got {args.fill:g}")
    base = Config.from_yaml(args.config)
    data = base.to_dict() | {"Part": args.part or base.part} | ({"ClockPeriod": args.clock} if args.clock else {})
    base = Config(data, args.config)
    device(base.part)  # an unknown part is refused before the model is read
    result = plan_graph(from_keras(args.model), base, fps=args.fps, fill=args.fill, progress=True)
    print(text_report.text(result.estimate))
    print(_roofline(result))
    _write(Path(args.output), result.yaml())
    print(f"wrote {args.output}; next: nn2fpga convert {args.model} -c {args.output} -o PRJ", file=sys.stderr)
    return 0


def _roofline(result) -> str:
    """The fraction of the DSP roofline the plan reaches: MACs per image x images/s over DSPs x clock, at one
    MAC per DSP per clock and, where layers pack two products per DSP48E2, at two."""
    est = result.estimate
    from nn2fpga.estimate.geometry import pixels

    macs = sum(lay.n_in * lay.n_out * pixels(lay) for lay in result.graph.layers() if lay.HAS_MULTIPLIERS)
    peak = est.part.dsp * 1e9 / est.clock_ns  # one MAC per DSP per clock
    line = (f"DSP roofline: {macs * est.images_per_s / peak:.1%} of {est.part.dsp:,} DSPs x "
            f"{1000 / est.clock_ns:g} MHz at one MAC per DSP per clock "
            f"({macs / 1e6:,.1f} M MAC per image)")  # fmt: skip
    if any(getattr(lay, "multipliers", "") == "packed" for lay in result.graph.layers()):
        line += f"; {macs * est.images_per_s / (2 * peak):.1%} at two (Multipliers: packed)"
    return line


def _cmd_build(args: argparse.Namespace) -> int:
    from nn2fpga.runtime.vitis import run_build

    project = Path(args.project)
    log = run_build(project, csim=args.csim, synth=args.synth, cosim=args.cosim, export=args.export,
                    link=args.link, progress=True)  # fmt: skip
    print(f"build log: {log}", file=sys.stderr)
    return _cmd_report(argparse.Namespace(project=args.project, json=None))


def _cmd_jets(args: argparse.Namespace) -> int:
    from nn2fpga.datasets import jets

    processes = args.process or []
    size = None if args.no_images else args.image_size
    jets.check_arguments(processes, args.n, size, (args.pt_min, args.pt_max))
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers: expected an integer >= 1, got {args.workers}")
    out = Path(args.output)
    if not out.parent.is_dir():
        raise UserError(f"-o {args.output}: the directory {out.parent} does not exist")
    data = jets.generate(processes, args.n, seed=args.seed, pt_range=(args.pt_min, args.pt_max),
                         features=args.features, workers=args.workers, cache=not args.no_cache,
                         progress=True)  # fmt: skip
    data.save(out, image_size=size, constituents=not args.no_constituents)
    counts = ", ".join(f"{(data['labels'] == i).sum():,} {name}" for i, name in enumerate(processes))
    print(f"wrote {out}: {counts} jets ({args.pt_min:g} < pT < {args.pt_max:g} GeV, seed {args.seed})"
          + (f", {size}x{size} images" if size else "") + (", 16 features" if args.features else ""))  # fmt: skip
    return 0


def _load_input(path: str):
    import numpy as np

    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise UserError(f"{path}: not a readable .npy or .npz array ({e or type(e).__name__})") from e
    if isinstance(data, np.lib.npyio.NpzFile):  # several inputs by name
        with data:
            return {name: data[name] for name in data.files}
    return data


def load_inputs(specs: list[str]):
    """The arrays of `-i`: one X.npy, or one NAME=X.npy per model input, or one .npz holding each input by name."""
    if len(specs) == 1 and "=" not in specs[0]:
        return _load_input(specs[0])
    named = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise UserError(f"-i {spec}: give NAME=FILE.npy for each input of a model with several (or one .npz)")
        if name in named:
            raise UserError(f"-i {spec}: input {name!r} given twice")
        named[name] = _load_input(path)
        if isinstance(named[name], dict):
            raise UserError(f"-i {spec}: a NAME=FILE pair takes a .npy array, not a .npz")
    return named


def _cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np

    from nn2fpga.project import Project

    project = Project.load(args.project)
    x = load_inputs(args.input)
    if args.backend == "csim":
        project.compile(progress=True)  # built once per source hash; shows elapsed time while g++ runs
    y = project.predict(x, backend=args.backend)
    if isinstance(y, list):  # several outputs: an .npz by output name
        names = project.graph.outputs
        if not args.output or not args.output.endswith(".npz"):
            raise UserError(f"the model has {len(names)} outputs ({', '.join(names)}): give -o FILE.npz")
        np.savez(args.output, **dict(zip(names, y)))
        shapes = ", ".join(f"{n} {v.shape[1:]}" for n, v in zip(names, y))
        print(f"wrote {args.output}: {y[0].shape[0]} samples of {shapes} ({args.backend})", file=sys.stderr)
    elif args.output:
        np.save(args.output, y)
        print(f"wrote {args.output}: {y.shape[0]} samples x {y.shape[1:]} ({args.backend})", file=sys.stderr)
    else:
        np.savetxt(sys.stdout, y.reshape(y.shape[0], -1), fmt="%.10g")
    return 0


def add_input_argument(p: argparse.ArgumentParser) -> None:
    """-i of predict and simulate: `load_inputs` reads what it gathers."""
    p.add_argument("-i", "--input", required=True, action="append", metavar="[NAME=]FILE",
                   help="input .npy file; NAME=FILE.npy per input of a model with several, or one .npz")  # fmt: skip


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="run a converted project on inputs from .npy files",
        description="Run the project in DIR on X.npy (shape: batch x input shape) and write Y.npy. A model with "
        "several inputs takes -i NAME=X.npy once per input (or one .npz holding each input by name); one with "
        "several outputs writes an .npz by output name. The csim backend runs the g++-compiled firmware; "
        "reference runs the bit-exact NumPy interpreter.",
    )
    p.add_argument("project", help="project directory written by nn2fpga convert")
    add_input_argument(p)
    p.add_argument("-o", "--output", help="output .npy file, .npz for several outputs (default: print as text)")
    p.add_argument("--backend", choices=("csim", "reference"), default="csim")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser(
        "report",
        help="estimate resources, cycles and latency of a project against its part",
        description="Print the per-layer estimate of the project in DIR (DSP, LUT, FF, BRAM18K, URAM, cycles per "
        "image, II, latency), the totals against the part with utilisation, the bottleneck and images/s; write "
        "report.json (or FILE) and a PNG of cycles and DSP per layer beside it. Where Vitis C synthesis ran "
        "(<project>_prj/solution1/syn/report/csynth.xml), show estimate and synthesis side by side.",
    )
    p.add_argument("project", help="project directory written by nn2fpga convert")
    p.add_argument("--json", metavar="FILE", help="write the JSON here instead of PRJ/report.json")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser(
        "plan",
        help="choose per-layer folding for a part and clock, and write the config",
        description="Search PE, SIMD, reuse factor and lanes per layer with the estimator so that every layer "
        "takes about as many cycles as the bottleneck and every resource stays within the fill fraction; write a "
        "complete YAML config (the format of nn2fpga config, each layer commented with its estimate).",
    )
    p.add_argument("model", help="model file (.keras, .h5) or SavedModel directory")
    p.add_argument("--part", help="FPGA part (default: the base config's Part)")
    p.add_argument("--clock", type=float, metavar="NS", help="clock period in ns (default: the base config's)")
    p.add_argument("-c", "--config", help="base YAML config: precisions and anything fixed by the user")
    goal = p.add_mutually_exclusive_group()
    goal.add_argument("--fps", type=float, help="target images/s: the least folding that meets it")
    goal.add_argument(
        "--fill",
        type=float,
        default=None,
        help="fraction of every resource to use (default: the config's Plan.Fill, else 0.8)",
    )
    p.add_argument("-o", "--output", required=True, metavar="PLAN.yml", help="the config to write")
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser(
        "build",
        help="run Vitis HLS (and the v++ link) on a project, then report",
        description="Run the project's build_prj.tcl with vitis_hls (on PATH, or under XILINX_HLS) and, with "
        "--link, v++ (PATH or XILINX_VITIS); the tools' output goes to PRJ/build.log with a progress line; "
        "then print nn2fpga report. Without a step flag: C synthesis.",
    )
    p.add_argument("project", help="project directory written by nn2fpga convert")
    steps = (("csim", "C simulation"), ("synth", "C synthesis"), ("cosim", "C/RTL co-simulation"),
             ("export", "export the .xo kernel"), ("link", "v++ link into an xclbin (implies export)"))  # fmt: skip
    for step, what in steps:
        p.add_argument(f"--{step}", action="store_true", help=what)
    p.set_defaults(func=_cmd_build)

    from nn2fpga.datasets.jets import PROCESSES, TOP_BIN

    p = sub.add_parser(
        "jets",
        help="generate jets with Pythia 8 and FastJet (the physics extra)",
        description="Generate N jets of each process (Pythia 8, 14 TeV, anti-kT R = 0.8, truth-matched; "
        "docs/physics.md) and write an .npz with images, features, labels and kinematics. Reproducible bit for "
        "bit from --seed; one worker per core; chunks cached under $XDG_CACHE_HOME/nn2fpga/jets.",
    )
    p.add_argument("-p", "--process", action="append", metavar="P",
                   help=f"a process, repeatable, labels in this order: {', '.join(PROCESSES)}")  # fmt: skip
    p.add_argument("-n", type=int, required=True, help="jets per process")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--image-size", type=int, default=40, help="image pixels per side, even, 8..512 (default 40)")
    p.add_argument("--no-images", action="store_true", help="write no images (features and constituents only)")
    p.add_argument("--no-constituents", action="store_true", help="leave the (n, 200, 3) constituents out of the file")
    p.add_argument("--features", action="store_true", help="the 16 high-level features of the hls4ml data set")
    p.add_argument("--pt-min", type=float, default=TOP_BIN[0], help=f"GeV (default {TOP_BIN[0]:g})")
    p.add_argument("--pt-max", type=float, default=TOP_BIN[1], help=f"GeV (default {TOP_BIN[1]:g})")
    p.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the chunk cache")
    p.add_argument("-o", "--output", required=True, metavar="FILE.npz")
    p.set_defaults(func=_cmd_jets)
