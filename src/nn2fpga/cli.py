"""The `nn2fpga` command line.

Every sub-command is a thin wrapper over the Python API. User errors (`nn2fpga.errors.UserError`,
and ValueError/OSError raised on user input) print one line and exit with status 2; other exceptions
are bugs and keep their traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from nn2fpga import __version__, toolchain
from nn2fpga.errors import UserError

EXIT_USAGE = 2


def _cmd_cflags(args: argparse.Namespace) -> int:
    print(" ".join(toolchain.cflags()))
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from nn2fpga.project import convert

    project = convert(args.model, config=args.config, output_dir=args.output, force=args.force, progress=True)
    if args.summary:
        print(project.summary())
    print(f"wrote {project.path} (project {project.name}); next: nn2fpga predict {project.path} -i X.npy -o Y.npy")
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    from nn2fpga.config import Config
    from nn2fpga.frontend.keras import from_keras

    graph = from_keras(args.model)
    cfg = Config.from_yaml(args.config)
    cfg.bind(graph)
    text = cfg.resolved_yaml(graph)
    if args.output:
        from pathlib import Path

        Path(args.output).write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np

    from nn2fpga.project import Project

    project = Project.load(args.project)
    try:
        x = np.load(args.input, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise UserError(f"{args.input}: not a readable .npy array ({e or type(e).__name__})") from e
    y = project.predict(x, backend=args.backend)
    if args.output:
        np.save(args.output, y)
        print(f"wrote {args.output}: {y.shape[0]} samples x {y.shape[1:]} ({args.backend})", file=sys.stderr)
    else:
        np.savetxt(sys.stdout, y.reshape(y.shape[0], -1), fmt="%.10g")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nn2fpga",
        description="Convert Keras/QKeras models into Vitis HLS accelerators, simulate them bit-accurately, serve them.",
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
    p.add_argument("--summary", action="store_true", help="print a table of layers, shapes, types, reuse factors")
    p.set_defaults(func=_cmd_convert)

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
        "predict",
        help="run a converted project on inputs from a .npy file",
        description="Run the project in DIR on X.npy (shape: batch x input shape) and write Y.npy. The csim "
        "backend runs the g++-compiled firmware; reference runs the bit-exact NumPy interpreter.",
    )
    p.add_argument("project", help="project directory written by nn2fpga convert")
    p.add_argument("-i", "--input", required=True, help="input .npy file")
    p.add_argument("-o", "--output", help="output .npy file (default: print as text)")
    p.add_argument("--backend", choices=("csim", "reference"), default="csim")
    p.set_defaults(func=_cmd_predict)

    for register in _REGISTRARS:
        register(sub)
    return parser


# Later modules add their sub-commands here (keeps this file free of heavy imports at start-up).
_REGISTRARS: list[Callable[[argparse._SubParsersAction], None]] = []


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
