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
