"""Vitis HLS synthesis and the v++ link of a written project, run from Python with a log and a progress line.

The commands are the project's own: `vitis_hls -f build_prj.tcl -tclargs csim=. synth=. cosim=. export=.` (every
step flag given, so the script's defaults never decide), then, for the link, the `v++ --link ...` line of the
rendered build_xclbin.sh with its `$TARGET` and `$PLATFORM` filled in, so that the platform, clock, config and
xclbin name stay those the writer chose. Each runs in the project directory; its stdout and stderr go line by
line to `<project>/build.log` (appended, a header per command), and the tools' own lines name the phase shown.
"""

from __future__ import annotations

import collections
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Protocol

from nn2fpga.ir.errors import UserError

logger = logging.getLogger(__name__)

VITIS_HLS = "vitis_hls"
VPP = "v++"
TOOL_ENV = {VITIS_HLS: "XILINX_HLS", VPP: "XILINX_VITIS"}  # the install root each tool's settings64.sh exports
STEPS = ("csim", "synth", "cosim", "export")  # build_prj.tcl's -tclargs, in the order it runs them
TARGETS = ("hw", "hw_emu")  # the targets build_xclbin.sh documents
TAIL_LINES = 10  # last non-empty output lines quoted by BuildError

# Phase shown on the progress line: the first pattern that matches a line of the tool's output sets it. Vitis HLS
# echoes each Tcl command it runs ("INFO: [HLS 200-1510] Running: csynth_design"); v++ names its run steps.
PHASES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), phase)
    for pattern, phase in (
        (r"Running: csim_design|CSIM start|Starting C simulation", "C simulation"),
        (r"Running: csynth_design|Starting C synthesis", "C synthesis"),
        (r"Running: cosim_design|Starting C/RTL co-?simulation", "C/RTL co-simulation"),
        (r"Starting verilog simulation|Starting vhdl simulation", "C/RTL co-simulation: RTL"),
        (r"Running: export_design|export_design -format", "export"),
        (r"Run (?:vpl|run_link): Step (\w+): Started", "v++ link: {0}"),
        (r"Starting (?:the )?v\+\+ link|v\+\+ .*--link", "v++ link"),
    )
)


class ToolNotFound(UserError):
    """A Vitis tool is neither on PATH nor under the install root its environment variable names."""

    def __init__(self, tool: str, env_var: str, project_dir: str | os.PathLike | None = None) -> None:
        self.tool, self.env_var = tool, env_var
        prj = project_dir if project_dir is not None else "PRJ"
        super().__init__(
            f"{tool} was not found on PATH nor in ${env_var}/bin: set up Vitis with "
            f"`source <Vitis install>/settings64.sh` (or set {env_var} to its install directory); "
            f"`nn2fpga report {prj}` gives the resource and latency estimate without it"
        )


class BuildError(UserError):
    """A Vitis command failed; the message names the command, its exit status, the log and its last lines."""

    def __init__(self, command: list[str], status: int, log: Path, tail: list[str], reason: str | None = None) -> None:
        self.command, self.status, self.log, self.tail = command, status, log, tail
        if reason is None:
            reason = f"failed with exit status {status}"
            if status < 0:
                reason += f" (killed by {_signal_name(-status)})"
        lines = "\n".join(f"  {line}" for line in tail) or "  (no output)"
        super().__init__(
            f"{Path(command[0]).name} {reason}; its full output is in {log}.\n"
            f"command: {shlex.join(command)}\nlast lines of its output:\n{lines}"
        )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def find_tool(name: str, env_var: str) -> Path | None:
    """`name` on PATH, else `$env_var/bin/name` when that is an executable file, else None."""
    found = shutil.which(name)
    if found is not None:
        return Path(found)
    root = os.environ.get(env_var)
    if root:
        candidate = Path(root) / "bin" / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _check_project(project_dir: Path) -> None:
    if not (project_dir / "build_prj.tcl").is_file():
        what = "does not exist" if not project_dir.exists() else "has no build_prj.tcl"
        raise UserError(f"{project_dir} is not an nn2fpga project: it {what} (write one with `nn2fpga convert`)")


def _link_command(project_dir: Path, platform: str | None, target: str) -> list[str]:
    """The `v++ --link` line of the project's build_xclbin.sh, with $TARGET and $PLATFORM filled in."""
    if target not in TARGETS:
        raise UserError(f"v++ link target {target!r} is not one of {', '.join(TARGETS)}")
    platform = platform or os.environ.get("PLATFORM")
    if not platform:
        raise UserError(
            "the v++ link needs the card's platform: set PLATFORM (for example "
            "xilinx_u250_gen3x16_xdma_4_1_202210_1; `platforminfo -l` lists the installed ones)"
        )
    script = project_dir / "build_xclbin.sh"
    try:
        text = script.read_text()
    except OSError as e:
        raise UserError(f"cannot read {script} (the link command comes from it): {e.strerror}") from e
    logical = text.replace("\\\n", " ").splitlines()  # backslash-continued lines joined
    line = next((ln.strip() for ln in logical if ln.strip().startswith(f"{VPP} ")), None)
    if line is None:
        raise UserError(f"{script} has no `{VPP} --link` line: write the project again with `nn2fpga convert`")
    values = {"TARGET": target, "PLATFORM": platform}

    def fill(word: str) -> str:
        filled = re.sub(r"\$\{?(TARGET|PLATFORM)\}?", lambda m: values[m.group(1)], word)
        if "$" in filled:
            raise UserError(f"{script}: the link command uses {word!r}, which nn2fpga cannot fill in")
        return filled

    return [fill(word) for word in shlex.split(line, comments=True)]


def commands(
    project_dir: str | os.PathLike,
    csim: bool = False,
    synth: bool = False,
    cosim: bool = False,
    export: bool = False,
    link: bool = False,
    *,
    platform: str | None = None,
    target: str = "hw",
) -> list[list[str]]:
    """The command lines `run_build` runs in `project_dir`, in order; argv[0] is the tool's name.

    No step flag means C synthesis only (build_prj.tcl's default). `link` implies `export`; `export` and `cosim`
    imply `synth`, since build_prj.tcl opens its solution with -reset and both need the synthesized RTL.
    The link takes its platform from `platform` or $PLATFORM and its target from `target` (hw | hw_emu).
    """
    if not (csim or synth or cosim or export or link):
        synth = True
    export = export or link
    synth = synth or cosim or export
    flags = dict(zip(STEPS, (csim, synth, cosim, export)))
    lines = [[VITIS_HLS, "-f", "build_prj.tcl", "-tclargs", *(f"{k}={int(v)}" for k, v in flags.items())]]
    if link:
        lines.append(_link_command(Path(project_dir), platform, target))
    return lines


def _phase(line: str) -> str | None:
    for pattern, phase in PHASES:
        match = pattern.search(line)
        if match:
            return phase.format(*match.groups())
    return None


class _Progress(Protocol):
    def set_description_str(self, desc: str) -> None: ...
    def update(self, n: int = 1) -> object: ...


class _NoProgress:
    def set_description_str(self, desc: str) -> None:
        pass

    def update(self, n: int = 1) -> None:
        pass


@contextmanager
def _progress_line(enabled: bool) -> Iterator[_Progress]:
    """A one-line tqdm indicator on stderr: the command and its phase, output lines so far, elapsed time."""
    if not enabled:
        yield _NoProgress()
        return
    from tqdm import tqdm

    bar = tqdm(file=sys.stderr, leave=False, dynamic_ncols=True, bar_format="{desc} | {n_fmt} lines | {elapsed}")
    try:
        yield bar
    finally:
        bar.close()


def _run_one(command: list[str], cwd: Path, log: IO[str], label: str, bar: _Progress) -> tuple[int, list[str]]:
    """Run `command`, copying its output to `log` and naming its phase on `bar`; its exit status and last lines."""
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    bar.set_description_str(label)
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        bufsize=1,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            log.flush()  # the log follows the build (tail -f)
            text = line.rstrip()
            if text.strip():
                tail.append(text)
            phase = _phase(text)
            if phase is not None:
                bar.set_description_str(f"{label}: {phase}")
            bar.update(1)
        return proc.wait(), list(tail)
    finally:
        if proc.poll() is None:  # interrupted (Ctrl-C): stop the tool rather than leave it running
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run_build(
    project_dir: str | os.PathLike,
    csim: bool = False,
    synth: bool = False,
    cosim: bool = False,
    export: bool = False,
    link: bool = False,
    log: str | os.PathLike | None = None,
    progress: bool = True,
    *,
    platform: str | None = None,
    target: str = "hw",
) -> Path:
    """Run Vitis HLS (and the v++ link) on a written project; the path of the log of their output.

    The steps are those of `commands`. The tools are looked up before anything runs (ToolNotFound); each command
    runs in the project directory with its output appended to `log` (default `<project>/build.log`); a non-zero
    exit raises BuildError, and a link whose kernel .xo was not written stops before v++.
    """
    root = Path(project_dir).resolve()
    _check_project(root)
    lines = commands(root, csim, synth, cosim, export, link, platform=platform, target=target)
    tools: dict[str, Path] = {}
    for name in dict.fromkeys(line[0] for line in lines):  # all of them before anything runs
        found = find_tool(name, TOOL_ENV[name])
        if found is None:
            raise ToolNotFound(name, TOOL_ENV[name], project_dir)
        tools[name] = found
    log_path = Path(log).resolve() if log is not None else root / "build.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as out, _progress_line(progress) as bar:
        tail: list[str] = []
        previous: list[str] = []  # the command before, and its last lines
        for i, line in enumerate(lines, 1):
            command = [str(tools[line[0]]), *line[1:]]
            xo = next((word for word in line if word.endswith(".xo")), None)
            if previous and line[0] == VPP and xo is not None and not (root / xo).is_file():
                # vitis_hls may exit 0 though export_design wrote nothing: say so rather than let v++ fail
                raise BuildError(previous, 0, log_path, tail, reason=f"exited 0 but did not write {root / xo}")
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            out.write(f"\n==== nn2fpga build {i}/{len(lines)} at {stamp} in {root}\n==== {shlex.join(command)}\n")
            out.flush()
            logger.info("running %s in %s (log: %s)", shlex.join(command), root, log_path)
            start = time.monotonic()
            try:
                status, tail = _run_one(command, root, out, f"[{i}/{len(lines)}] {line[0]}", bar)
            except OSError as e:
                raise BuildError(command, 127, log_path, [], reason=f"could not be started ({e})") from e
            out.write(f"==== exit status {status} after {time.monotonic() - start:.1f} s\n")
            out.flush()
            logger.info("%s exited with status %d", line[0], status)
            if status != 0:
                raise BuildError(command, status, log_path, tail)
            previous = command
    return log_path
