"""Synthesizability lint: a compiled graph and its project's firmware against documented limits.

`lint_graph(graph, config, firmware_dir)` returns one `Violation` per broken limit (docs/synthesis.md,
"Lint rules", gives each rule with its source); `lint_project(path)` lints a written project. The figures
come from `nn2fpga.passes.fold` (what the templates unroll, read and store), so the lint checks the
hardware the project describes without running Vitis. `nn2fpga lint PRJ` prints them; `convert` refuses
to write a project with violations unless `lint=False` (`--no-lint`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from nn2fpga.config import Config
from nn2fpga.estimate import geometry
from nn2fpga.estimate.devices import Device, device
from nn2fpga.estimate.memory import MEMORIES, memory_use
from nn2fpga.ir.errors import UserError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Layer
from nn2fpga.ir.serialize import load_graph
from nn2fpga.passes import fold
from nn2fpga.passes.hardware import PARALLEL_FEATURE_MAP_LIMIT

MAX_PARTITION = PARALLEL_FEATURE_MAP_LIMIT  # values in one completely partitioned array
# headers only the C simulation compiles (Vitis HLS brings its own)
CSIM_ONLY = frozenset({"hls_stream.h", "nn2fpga_ap_core.h", "ap_fixed.h", "ap_int.h"})
# macros as Vitis HLS synthesis sees them; others are unknown and both branches are scanned
SYNTHESIS_MACROS = {"__SYNTHESIS__": True, "N2F_BOUNDED_STREAMS": False, "NN2FPGA_AP_CORE_H": False,
                    "NN2FPGA_HLS_STREAM_H": False}  # fmt: skip
CONTAINERS = ("vector", "map", "multimap", "unordered_map", "unordered_multimap", "set", "multiset",
              "unordered_set", "unordered_multiset", "list", "forward_list", "deque", "queue", "priority_queue",
              "stack", "string", "wstring", "function")  # fmt: skip
# heap allocation: C allocation functions, smart-pointer factories and types, new and delete (not `= delete;`)
DYNAMIC = re.compile(r"(?<![\w.])(?:malloc|calloc|realloc|free|aligned_alloc|make_unique|make_shared)\s*[(<]|"
                     r"\b(?:unique_ptr|shared_ptr)\s*<|(?<![\w.])new\b(?=\s*[\w:(\[])|\bdelete\b(?!\s*;)")  # fmt: skip
CONTAINER = re.compile(r"\bstd\s*::\s*(" + "|".join(CONTAINERS) + r")\b")
BARE_CONTAINER = re.compile(r"(?<![\w:.])(" + "|".join(CONTAINERS) + r")\s*<")
FUNCTION = re.compile(r"\b([A-Za-z_]\w*)\s*\(((?:[^;{}()]|\([^;{}()]*\))*)\)\s*(?:const\s*)?(?:noexcept\s*)?\{")
NOT_FUNCTIONS = frozenset({"if", "for", "while", "switch", "catch", "return", "sizeof", "defined", "decltype"})


@dataclass(frozen=True)
class Violation:
    """One broken limit: `layer` (a layer name, `all layers`, or `file:line` for the firmware scan)."""

    layer: str
    rule: str
    value: int | str
    limit: int | str
    note: str = ""

    def __str__(self) -> str:
        return f"{self.layer}: {self.rule}: {self.value} (limit {self.limit})" + (f"; {self.note}" if self.note else "")


class LintError(UserError):
    """A project breaks synthesis limits; `violations` lists them (the message has one line each)."""

    def __init__(self, violations: list[Violation], what: str = "the project") -> None:
        self.violations = list(violations)
        lines = "\n".join(f"  {v}" for v in self.violations)
        super().__init__(f"{what} breaks {len(self.violations)} synthesis limit(s) (docs/synthesis.md, Lint rules; "
                         f"--no-lint / lint=False writes it anyway):\n{lines}")  # fmt: skip


def check(violations: list[Violation], what: str = "the project") -> None:
    """Raise LintError when there are violations."""
    if violations:
        raise LintError(violations, what)


# ---- the target part ------------------------------------------------------------------------------------


# ---- the graph rules ---------------------------------------------------------------------------------------


def _unrolled(layer: Layer, g: Graph) -> int:
    if geometry.latency_kernel(layer, g.io_type):
        rows, cols, _ = geometry.matrix(layer)
        return rows * cols
    return geometry.unroll(layer, g)


def _fold_note(layer: Layer, g: Graph) -> str:
    if not layer.HAS_MULTIPLIERS:
        return f"{layer.lanes} lanes"
    note = f"PE {layer.pe} x SIMD {layer.simd}"
    if geometry.latency_kernel(layer, g.io_type):
        return note + " (io_parallel Latency Dense: the whole matrix)"
    producers = g.producers(layer.name)
    try:
        rf = fold.smallest_valid_reuse(layer, producers[0].types["result"].width)
    except ValueError:  # no fold fits the limits
        return note
    return note + f"; the smallest valid ReuseFactor is {rf}"


def _layer_rules(layer: Layer, g: Graph) -> list[Violation]:
    out = []
    n = _unrolled(layer, g)
    if n > geometry.MAX_UNROLL:
        out.append(Violation(layer.name, "unroll", n, geometry.MAX_UNROLL, _fold_note(layer, g)))
    if layer.HAS_MULTIPLIERS:
        if layer.pe > MAX_PARTITION:
            out.append(Violation(layer.name, "partition", layer.pe, MAX_PARTITION, "PE accumulators"))
        if not geometry.latency_kernel(layer, g.io_type):
            width = layer.types["weight"].width
            bits = layer.simd * width
            if bits > geometry.MAX_WORD_BITS:
                out.append(Violation(layer.name, "weight-word", bits, geometry.MAX_WORD_BITS,
                                     f"SIMD {layer.simd} x {width}-bit weights"))  # fmt: skip
    if g.io_type == "io_parallel" and layer.size > PARALLEL_FEATURE_MAP_LIMIT:
        out.append(Violation(layer.name, "partition", layer.size, PARALLEL_FEATURE_MAP_LIMIT,
                             f"io_parallel feature map {'x'.join(map(str, layer.shape))}"))  # fmt: skip
    if g.io_type == "io_stream":
        out += _stream_rules(layer, g)
    return out


def _stream_rules(layer: Layer, g: Graph) -> list[Violation]:
    out = []
    width = layer.types["result"].width
    if layer.lanes * width > geometry.MAX_WORD_BITS:
        out.append(Violation(layer.name, "stream-word", layer.lanes * width, geometry.MAX_WORD_BITS,
                             f"output: {layer.lanes} lanes x {width} bits"))  # fmt: skip
    lanes = geometry.in_lanes(layer)
    for p in g.producers(layer.name):
        if not p.lanes or p.lanes == lanes:  # the producer's own word, checked there
            continue
        bits = lanes * p.types["result"].width
        if bits > geometry.MAX_WORD_BITS:
            out.append(Violation(layer.name, "stream-word", bits, geometry.MAX_WORD_BITS,
                                 f"reads {lanes} lanes x {p.types['result'].width} bits of {p.name}"))  # fmt: skip
        group = math.lcm(p.lanes, lanes)
        if group > MAX_PARTITION:
            out.append(Violation(layer.name, "partition", group, MAX_PARTITION,
                                 f"width converter from {p.name}: lcm({p.lanes}, {lanes}) lanes"))  # fmt: skip
    return out


def _memory_rules(g: Graph, part: Device) -> list[Violation]:
    use = memory_use(g)
    out = []
    for i, (what, _) in enumerate(MEMORIES):
        total, limit = sum(u[i] for u in use.values()), getattr(part, what)
        if total > limit:
            top = sorted(((u[i], name) for name, u in use.items() if u[i]), reverse=True)[:3]
            largest = ", ".join(f"{name} {n}" for n, name in top)
            out.append(Violation("all layers", what, total, limit, f"weights on {part.name}; largest: {largest}"))
    return out


def lint_graph(graph: Graph, config: Config, firmware_dir: str | Path | None = None) -> list[Violation]:
    """Every violation of the graph (after the hardware flow) on the config's part, and of the firmware
    sources in `firmware_dir` when given. Raises ConfigError for a part not in the device table."""
    part = device(config.part)
    out = [v for layer in graph.layers() for v in _layer_rules(layer, graph)]
    out += _memory_rules(graph, part)
    if firmware_dir is not None:
        out += lint_firmware(firmware_dir)
    return out


def load(path: str | Path) -> tuple[Graph, Config]:
    """(graph, config) of a written project; UserError when `path` is not one."""
    path = Path(path)
    if not (path / "ir" / "graph.json").is_file() or not (path / "nn2fpga.yml").is_file():
        raise UserError(f"{path} is not an nn2fpga project (no ir/graph.json or nn2fpga.yml); "
                        "create one with nn2fpga convert")  # fmt: skip
    return load_graph(path / "ir"), Config.from_yaml(path / "nn2fpga.yml")


def lint_project(path: str | Path) -> list[Violation]:
    """`lint_graph` of the project in `path`, its firmware/ included."""
    graph, config = load(path)
    return lint_graph(graph, config, Path(path) / "firmware")


def summary(graph: Graph, config: Config, violations: list[Violation]) -> str:
    """One line: violations, or what was checked and the weight memory used on the part."""
    part = device(config.part)
    use = memory_use(graph).values()
    totals = [f"{sum(u[i] for u in use)} of {getattr(part, what)} {name}" for i, (what, name) in enumerate(MEMORIES)]
    memory = f"weights: {', '.join(totals)} on {part.name}"
    if violations:
        return f"{len(violations)} violation(s); {memory}"
    return f"clean: {len(graph)} layers within the synthesis limits; {memory}"


# ---- the firmware scan -----------------------------------------------------------------------------------------


def synthesized_sources(firmware_dir: str | Path) -> list[Path]:
    """The C++ files Vitis HLS compiles from firmware/: the top, kernel, defines, parameters and n2f/ library
    (not the weight literals, not the C-simulation headers)."""
    fw = Path(firmware_dir)
    files = [*fw.glob("*.cpp"), *fw.glob("*.h"), *fw.glob("n2f/**/*.h"), *fw.glob("n2f/**/*.hpp")]
    return sorted(f for f in files if f.is_file() and f.name not in CSIM_ONLY)


_TOKENS = re.compile(r"//[^\n]*|/\*.*?\*/|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", re.S)


def _blank(match: re.Match) -> str:
    text = match.group(0)
    if text.startswith(('"', "'")):
        return text[0] + " " * (len(text) - 2) + text[-1]
    return re.sub(r"[^\n]", " ", text)


_COND_TOKEN = re.compile(r"\s*(defined\s*\(\s*(\w+)\s*\)|defined\s+(\w+)|&&|\|\||!=|!|\(|\)|[^\s()!&|]+)")


def _condition(expr: str) -> bool | None:
    """A preprocessor condition as synthesis sees it (SYNTHESIS_MACROS): True, False or None (unknown).
    Only defined(), !, && and || are understood; any other condition is unknown."""
    tokens, pos = [], 0
    expr = expr.strip()
    while pos < len(expr):
        m = _COND_TOKEN.match(expr, pos)
        name = m.group(2) or m.group(3)
        tokens.append(("macro", name) if name else ("op", m.group(1)))
        pos = m.end()
    if not tokens or any(kind == "op" and t not in ("&&", "||", "!", "(", ")") for kind, t in tokens):
        return None
    try:
        value, end = _either(tokens, 0)
    except IndexError:
        return None
    return value if end == len(tokens) else None


def _either(tokens: list, i: int) -> tuple[bool | None, int]:
    value, i = _both(tokens, i)
    while i < len(tokens) and tokens[i][1] == "||":
        other, i = _both(tokens, i + 1)
        value = True if True in (value, other) else None if None in (value, other) else False
    return value, i


def _both(tokens: list, i: int) -> tuple[bool | None, int]:
    value, i = _unary(tokens, i)
    while i < len(tokens) and tokens[i][1] == "&&":
        other, i = _unary(tokens, i + 1)
        value = False if False in (value, other) else None if None in (value, other) else True
    return value, i


def _unary(tokens: list, i: int) -> tuple[bool | None, int]:
    kind, text = tokens[i]
    if text == "!":
        value, i = _unary(tokens, i + 1)
        return (None if value is None else not value), i
    if text == "(":
        value, i = _either(tokens, i + 1)
        if tokens[i][1] != ")":
            raise IndexError(i)
        return value, i + 1
    if kind != "macro":
        raise IndexError(i)
    return SYNTHESIS_MACROS.get(text), i + 1


def strip_for_synthesis(text: str) -> str:
    """`text` with comments, string contents and the code synthesis never compiles (`#ifndef __SYNTHESIS__`,
    `#ifdef N2F_BOUNDED_STREAMS` branches) blanked; preprocessor lines blanked; line numbers kept."""
    text = _TOKENS.sub(_blank, text)
    out, stack = [], []  # one frame per open #if: [some branch surely taken, this branch possible]
    for line in text.split("\n"):
        m = re.match(r"\s*#\s*(ifdef|ifndef|if|elif|else|endif)\b(.*)", line)
        active = all(frame[1] for frame in stack)
        if m is None:
            out.append(line if active and not line.lstrip().startswith("#") else "")
            continue
        word, rest = m.group(1), m.group(2).strip()
        if word in ("if", "ifdef", "ifndef"):
            cond = _condition({"if": rest, "ifdef": f"defined({rest})", "ifndef": f"!defined({rest})"}[word])
            stack.append([cond is True, cond is not False])
        elif stack and word == "elif":
            frame = stack[-1]
            cond = False if frame[0] else _condition(rest)
            frame[0], frame[1] = frame[0] or cond is True, cond is not False
        elif stack and word == "else":
            stack[-1][1] = not stack[-1][0]
        elif stack and word == "endif":
            stack.pop()
        out.append("")
    return "\n".join(out)


def _body_end(text: str, start: int) -> int:
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return i
    return len(text)


def scan_source(text: str, name: str) -> list[Violation]:
    """Violations of one source file (as synthesis sees it: `strip_for_synthesis`), in line order."""
    found = [(m.start(), "dynamic-memory", re.search(r"\w+", m.group(0)).group(0)) for m in DYNAMIC.finditer(text)]
    bare = BARE_CONTAINER.finditer(text) if re.search(r"\busing\s+namespace\s+std\s*;", text) else ()
    found += [(m.start(), "container", f"std::{m.group(1)}") for m in (*CONTAINER.finditer(text), *bare)]
    for m in FUNCTION.finditer(text):
        if m.group(1) not in NOT_FUNCTIONS:  # a call in its own body without explicit template arguments
            call = re.compile(r"(?<![\w.:>])" + re.escape(m.group(1)) + r"\s*\(")  # f<N - 1>() ends, allowed
            hit = call.search(text, m.end() - 1, _body_end(text, m.end() - 1))
            found += [(hit.start(), "recursion", f"{m.group(1)} calls itself")] if hit else []
    return [Violation(f"{name}:{text.count(chr(10), 0, pos) + 1}", rule, what, "none in synthesized code")
            for pos, rule, what in sorted(found)]  # fmt: skip


def lint_firmware(firmware_dir: str | Path) -> list[Violation]:
    """Dynamic memory, standard containers and recursion in the synthesized sources of `firmware_dir`."""
    fw = Path(firmware_dir)
    root = fw.parent
    out = []
    for path in synthesized_sources(fw):
        text = strip_for_synthesis(path.read_text(errors="replace"))
        out += scan_source(text, path.relative_to(root).as_posix())
    return out
