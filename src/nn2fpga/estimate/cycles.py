"""Cycle model of an io_stream dataflow: cycles per image of every process, the bottleneck, the steady-state
throughput at the configured clock, and a latency estimate, from the loop trip counts of the templates.

The processes are those of the generated kernel: `kernel_load`, then, in the order of the top function, every
layer call, width converter (`<stream>_dwc`), fork (`<layer>_fork`) and weight reader (`<layer>_weights`, for
WeightStorage uram and offchip), then `kernel_store`. Each runs pipelined loops of II = 1, so its cycles per
image are its loop iterations: `fold.trips` for a layer, `fold.converter_trips` for a converter, the words of
the forked stream for a fork, a reader's 512-bit lines (`_reader`), and the Steps loops of
`templates/project/kernel.cpp.j2` for load and store. The dataflow takes a new image every max(cycles) clocks
(the bottleneck process), so images/s = 10^9 / (ClockPeriod in ns x max cycles).

What it counts: loop iterations at II = 1. What it leaves out: the depth of each pipeline (its fill and
drain each time a pipelined loop is entered), stalls on full or empty FIFOs, memory ports, the AXI bursts of
load and store. The bounded-FIFO simulation counts the same iterations (N2F_COUNT, `nn2fpga simulate`) and the
tests check that every counted process matches; load and store are modelled only.

Latency (`CycleModel.latency`, one image in an empty dataflow): each process's first and last output word
in cycles, from its producers' by a fluid recurrence, then the time of the store's last word. A process that
needs its producer's k-th word in its iteration a before its first write in iteration f writes first at
max(f, arrival(k) + f - a); it writes last at max(first + T - f, the producer's last word + T - a_last), with
T its iterations and a_last the iteration of its last read; a producer's words arrive evenly between its first
and last. This is an estimate of the same counted iterations, no more: no pipeline depth, no stalls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from nn2fpga.estimate.geometry import STREAMED, channels, converter_trips, in_lanes, matrix, trips
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import (
    ChannelScale,
    Concatenate,
    Conv2D,
    Crop2D,
    Dense,
    Dot,
    Embedding,
    GlobalPool2D,
    Input,
    Layer,
    Linear,
    Pool2D,
    Transpose,
    UpSample2D,
    ZeroPad2D,
)
from nn2fpga.ir.names import layer_idents, stream_names
from nn2fpga.ir.recurrent import Recurrent


@dataclass(frozen=True)
class Read:
    """How a process reads one input: the producing process, the words it needs before its first write (k),
    the iteration that reads the k-th of them (at), and the iteration of its last read (last)."""

    producer: str
    k: int
    at: int
    last: int


@dataclass
class Process:
    """One dataflow process: its name in the generated code (and in `n2f_trips`), the kind (a layer kind,
    `Fork`, `Convert`, `Reader`, `Load` or `Store`), the graph layer it belongs to, its cycles per image, whether the
    bounded simulation counts it, its output words per image, the iteration of its first write, its reads."""

    name: str
    kind: str
    layer: str
    cycles: int
    counted: bool = True
    words: int = 0
    first_write: int = 1
    reads: list[Read] = field(default_factory=list)


@dataclass
class CycleModel:
    """The processes of one io_stream kernel, the clock period (ns) and the latency estimate (cycles)."""

    processes: list[Process]
    clock_ns: float
    latency: int  # cycles from the first input word to the last output word of one image, estimated

    @property
    def bottleneck(self) -> Process:
        """The process with most cycles per image (the first of them on a tie)."""
        return max(self.processes, key=lambda p: p.cycles)

    @property
    def images_per_s(self) -> float:
        return 1e9 / (self.clock_ns * self.bottleneck.cycles)

    @property
    def latency_us(self) -> float:
        return self.latency * self.clock_ns / 1000

    def cycles(self) -> dict[str, int]:
        return {p.name: p.cycles for p in self.processes}


def _window(layer: Layer, src: Layer, total: int, producer: str) -> Process:
    """Conv2D, Pool2D, ZeroPad2D scan the padded input row-major: per position `cf` Read iterations (each a read
    unless the position is padding), then, where a window ends on the output grid, the output iterations."""
    top, _, left, _ = layer.padding
    in_h, in_w = src.shape[0], src.shape[1]
    pw = in_w + layer.padding[2] + layer.padding[3]
    cf = channels(src) // in_lanes(layer)
    first_real, last_real = top * pw + left, (top + in_h - 1) * pw + left + in_w - 1
    if isinstance(layer, ZeroPad2D):  # every iteration writes a word
        return Process(
            "", layer.kind, layer.name, total, reads=[Read(producer, 1, first_real * cf + 1, (last_real + 1) * cf)]
        )
    kh, kw = layer.kernel if isinstance(layer, Conv2D) else layer.pool
    sh, sw = layer.strides
    if isinstance(layer, Conv2D):  # per output position n_filt / PE folds of `steps` iterations, a write after each
        rows, cols, _ = matrix(layer)
        steps = rows // layer.simd
        per_output, to_write = cols // layer.pe * steps, steps
    else:  # pooling: n_chan / lanes iterations, a write in each
        per_output, to_write = channels(layer) // layer.lanes, 1
    emit0 = (kh - 1) * pw + kw - 1  # the first output position: no output iterations before it
    real = [(r + top) * pw + c + left for r in range(min(in_h, kh)) for c in range(in_w)]
    needed = [i for i in real if i <= emit0]
    outputs = [
        (kh - 1 + oy * sh) * pw + kw - 1 + ox * sw for oy in range(layer.shape[0]) for ox in range(layer.shape[1])
    ]
    last = (last_real + 1) * cf + per_output * sum(1 for i in outputs if i < last_real)
    read = Read(producer, len(needed) * cf, (needed[-1] + 1) * cf if needed else 1, last)
    return Process("", layer.kind, layer.name, total, first_write=(emit0 + 1) * cf + to_write, reads=[read])


def _reorder(layer: Crop2D | UpSample2D, src: Layer, total: int, producer: str) -> Process:
    """Crop2D reads a word per iteration and writes those inside the crop (the first after its top rows and left
    columns); UpSample2D writes a word per iteration and reads in the first of each input row's up_h output rows,
    at the first of each pixel's up_w copies."""
    cf = channels(src) // in_lanes(layer)
    if isinstance(layer, Crop2D):
        top, _, left, _ = layer.cropping
        first = (top * src.shape[1] + left) * cf + 1
        read = Read(producer, first, first, total)
        return Process("", layer.kind, layer.name, total, first_write=first, reads=[read])
    up_h, up_w = layer.factor
    last = ((src.shape[0] - 1) * up_h * layer.shape[1] + (src.shape[1] - 1) * up_w) * cf + cf
    return Process("", layer.kind, layer.name, total, reads=[Read(producer, 1, 1, last)])


def _layer(layer: Layer, g: Graph, producers: list[str]) -> Process:
    """The process of one layer call, reading from the processes `producers` (one per input)."""
    total = trips(layer, g)
    src = g.producers(layer.name)[0]
    if isinstance(layer, (Conv2D, Pool2D, ZeroPad2D)):
        return _window(layer, src, total, producers[0])
    if isinstance(
        layer, (Dense, GlobalPool2D, Transpose, Embedding)
    ):  # reads the whole input, then computes and writes
        words_in = src.size // in_lanes(layer)
        if isinstance(layer, Dense):
            rows, _, _ = matrix(layer)
            first = words_in + rows // layer.simd
        else:
            first = words_in + 1
        return Process(
            "",
            layer.kind,
            layer.name,
            total,
            first_write=first,
            reads=[Read(producers[0], words_in, words_in, words_in)],
        )
    if isinstance(layer, Recurrent):  # x_t's words, the cell, h's words (return_sequences) per step
        per_step = layer.n_in // layer.lanes + 1
        first = per_step + (0 if layer.return_sequences else (src.shape[0] - 1) * per_step)
        last_read = total - layer.units // layer.lanes - 1
        return Process("", layer.kind, layer.name, total, first_write=first + 1,
                       reads=[Read(producers[0], layer.n_in // layer.lanes, first - 1, last_read)])  # fmt: skip
    if isinstance(layer, ChannelScale):  # the vector's words, then a map word per iteration
        cf = channels(layer) // layer.lanes
        reads = [Read(producers[0], 1, cf + 1, total), Read(producers[1], cf, cf, cf)]
        return Process("", layer.kind, layer.name, total, first_write=cf + 1, reads=reads)
    if isinstance(layer, Dot):  # both inputs word by word, the one word after the last
        return Process("", layer.kind, layer.name, total, first_write=total,
                       reads=[Read(q, total, total, total) for q in producers])  # fmt: skip
    if isinstance(layer, Concatenate):  # per pixel, each input's words in turn
        words = [channels(p) // layer.lanes for p in g.producers(layer.name)]
        reads = [Read(q, 1, 1 + sum(words[:i]), total - sum(words[i + 1 :])) for i, q in enumerate(producers)]
        return Process("", layer.kind, layer.name, total, reads=reads)
    if isinstance(layer, (Crop2D, UpSample2D)):
        return _reorder(layer, src, total, producers[0])
    # a word in, a word out per iteration (activations, BatchNorm, Add reading all inputs at once, Reshape)
    return Process("", layer.kind, layer.name, total, reads=[Read(q, 1, 1, total) for q in producers])


def _reader(layer: Linear, ident: str) -> Process:
    """`<layer>_weights`, the weight_reader of WeightStorage uram / offchip: per weight word (PE x SIMD values),
    one iteration per 512-bit line. Offchip: the matrix again for every output pixel. URAM: the matrix once,
    in the kernel call that loads the banks, nothing in later calls, so 0 per image (its count in a bounded
    run is the loading call's, not compared)."""
    rows, cols, _ = matrix(layer)
    words = rows * cols // (layer.pe * layer.simd)
    lines = -(-layer.pe * layer.simd // (512 // layer.types["weight"].container_bits))
    pixels = math.prod(layer.shape[:-1])
    uram = layer.weight_storage == "uram"
    cycles = 0 if uram else words * pixels * lines
    reader = Process(f"{ident}_weights", "Reader", layer.name, cycles, counted=not uram, words=cycles // lines)
    reader.first_write = lines
    return reader


def _steps(layer: Layer, store: bool) -> int:
    """Iterations of the Steps loop of one input's load (one output's store) in kernel.cpp.j2: at most one stream
    word and one 512-bit word each."""
    n, bits = layer.size, layer.types["result"].container_bits
    return max(n // layer.lanes, n // (512 // bits) if store else -(-n * bits // 512))


def _load(sources: list[Layer]) -> Process:
    """kernel_load: per iteration at most one 512-bit word read and one stream word written, the model's inputs
    one after another (a model with several: its first input names the process)."""
    cycles = sum(_steps(s, store=False) for s in sources)
    words = sum(s.size // s.lanes for s in sources)
    return Process("kernel_load", "Load", sources[0].name, cycles, counted=False, words=words)


def _store(outs: list[Layer], feeds: list[str]) -> Process:
    """kernel_store: per iteration at most one stream word read and one 512-bit word written, the model's
    outputs one after another."""
    cycles = sum(_steps(out, store=True) for out in outs)
    reads = [Read(feed, 1, 1, cycles) for feed in feeds]
    return Process("kernel_store", "Store", outs[0].name, cycles, counted=False, reads=reads)


def processes(g: Graph, project: str) -> list[Process]:
    """The processes of the io_stream kernel of `g` (project `project`): load, those of the top function in
    the order of the generated code (their `n2f::trip_count` ids), store."""
    ids, named = layer_idents(g, project), stream_names(g, project)
    procs = [_load(g.inputs())]
    writer: dict[str, str] = {}  # layer -> the process writing the stream(s) out of it (its fork, if any)
    for layer in g.layers():
        if isinstance(layer, Input):
            writer[layer.name] = procs[0].name
        else:
            inputs = []
            for p in g.producers(layer.name):
                feed, a, b = writer[p.name], p.lanes, in_lanes(layer)
                if a != b:  # a width converter on the edge, named after the stream it reads
                    name, cycles, group = (
                        f"{named[p.name, layer.name]}_dwc",
                        converter_trips(p.size, a, b),
                        math.lcm(a, b),
                    )
                    read = Read(feed, group // a, group // a, cycles - group // b)
                    procs.append(
                        Process(
                            name, "Convert", p.name, cycles, words=p.size // b, first_write=group // a + 1, reads=[read]
                        )
                    )
                    feed = name
                inputs.append(feed)
            proc = _layer(layer, g, inputs)
            proc.name, proc.words = ids[layer.name], layer.size // layer.lanes
            if isinstance(layer, Linear) and layer.weight_storage in STREAMED:
                procs.append(_reader(layer, ids[layer.name]))
                proc.reads.append(Read(procs[-1].name, 1, 1, proc.cycles))
            procs.append(proc)
            writer[layer.name] = proc.name
        if len(g.users(layer.name)) > 1:  # one stream per user, the same words in each
            words, fork = layer.size // layer.lanes, f"{ids[layer.name]}_fork"
            procs.append(
                Process(fork, "Fork", layer.name, words, words=words, reads=[Read(writer[layer.name], 1, 1, words)])
            )
            writer[layer.name] = fork
    procs.append(_store([g[name] for name in g.outputs], [writer[name] for name in g.outputs]))
    return procs


def latency(procs: list[Process]) -> int:
    """Cycles from the first input word to the store's last word for one image in an empty dataflow, by the
    fluid recurrence of the module docstring (no pipeline depth, no stalls)."""
    return math.ceil(timeline(procs)[1][procs[-1].name])


def timeline(procs: list[Process]) -> tuple[dict[str, float], dict[str, float]]:
    """The cycle of every process's first and of its last output word for one image in an empty dataflow."""
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    words = {p.name: p.words for p in procs}

    def arrival(q: str, k: int) -> float:  # the time process q writes its k-th word, its words evenly spread
        return first[q] + (k - 1) * (last[q] - first[q]) / max(words[q] - 1, 1)

    for p in procs:  # producers come first
        f = p.first_write
        start = [arrival(r.producer, r.k) + f - r.at for r in p.reads if r.k and r.at <= f]
        first[p.name] = max([float(f), *start])
        last[p.name] = max([first[p.name] + p.cycles - f, *(last[r.producer] + p.cycles - r.last for r in p.reads)])
    return first, last


def cycle_model(g: Graph, project: str, clock_ns: float) -> CycleModel:
    """The cycle model of the io_stream graph `g` (folded: `nn2fpga.passes.fold`) at a clock of `clock_ns`."""
    procs = processes(g, project)
    return CycleModel(procs, clock_ns, latency(procs))


def _count(counted: dict[str, float], p: Process) -> float | None:
    return counted.get(p.name) if p.counted else None


def comparison(model: CycleModel, counted: dict[str, float]) -> list[dict]:
    """One row per process: modelled cycles per image beside the counted iterations per image (`counted`, from
    the bounded simulation; None where the process is not counted), and whether they agree."""
    rows = []
    for p in model.processes:
        n = _count(counted, p)
        rows.append({"process": p.name, "kind": p.kind, "layer": p.layer, "modelled": p.cycles, "counted": n,
                     "agrees": None if n is None else n == p.cycles})  # fmt: skip
    known = {p.name for p in model.processes}
    for name, n in counted.items():  # counted, not modelled: a process the model does not know
        if name not in known:
            rows.append({"process": name, "kind": "?", "layer": "?", "modelled": None, "counted": n, "agrees": False})
    return rows


def summary(model: CycleModel) -> dict:
    b = model.bottleneck
    return {
        "bottleneck": b.name,
        "bottleneck_cycles": b.cycles,
        "clock_ns": model.clock_ns,
        "images_per_s": model.images_per_s,
        "latency_cycles": model.latency,
        "latency_us": model.latency_us,
    }


def table(model: CycleModel, counted: dict[str, float]) -> str:
    """The comparison as text: a line per process (`<<` marks the bottleneck, `!=` a count that differs), then
    the bottleneck, the throughput at the clock and the latency estimate."""
    rows = comparison(model, counted)
    width = max([len("process"), *(len(r["process"]) for r in rows)])
    lines = [f"{'process':<{width}}  {'kind':<14}  {'cycles/image':>12}  {'counted/image':>13}"]
    for r in rows:
        modelled = "-" if r["modelled"] is None else str(r["modelled"])
        n = r["counted"]
        counted_text = "-" if n is None else (f"{n:.0f}" if n == int(n) else f"{n:.2f}")
        note = "  !=" if r["agrees"] is False else ""
        note += "  << bottleneck" if r["process"] == model.bottleneck.name else ""
        lines.append(f"{r['process']:<{width}}  {r['kind']:<14}  {modelled:>12}  {counted_text:>13}{note}")
    b = model.bottleneck
    lines.append(
        f"bottleneck: {b.name} ({b.kind} {b.layer}), {b.cycles} cycles/image; "
        f"{model.images_per_s:,.0f} images/s at {1000 / model.clock_ns:g} MHz (ClockPeriod {model.clock_ns:g} ns)"
    )
    lines.append(
        f"latency estimate: {model.latency} cycles ({model.latency_us:.1f} us) for one image, "
        "loop iterations at II = 1 only (no pipeline depth, no stalls)"
    )
    return "\n".join(lines)
