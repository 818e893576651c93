"""The estimator: DSP, LUT, FF, BRAM18K, URAM, cycles per image, initiation interval and latency of every layer
of a compiled graph and of the whole kernel, from the same parameters the templates use (PE, SIMD, lanes,
widths, weight storage, FIFO depths, line buffers), against a part of the device database.

`estimate(graph, part, clock_ns, project)` returns an `Estimate`. Cycles: io_stream takes the cycle model
(`nn2fpga.estimate.cycles`, equal to the iterations the bounded-FIFO simulation counts); io_parallel takes the
pipelined top's interval, the largest layer interval. Resources follow the rules of `nn2fpga.estimate.rules`;
the io_parallel Latency Dense has its own model (`_latency_dense`), the one validated against published
Vivado HLS results (docs/estimates.md). Where Vitis's choice depends on the weight values (a multiplication
by a constant of few non-zero digits becomes LUT logic) the row carries `dsp_min`, the weight-aware count
under that rule, beside `dsp`, the count without it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from nn2fpga.estimate import cycles, geometry, rules
from nn2fpga.estimate.devices import RESOURCES, Device, device
from nn2fpga.estimate.memory import weight_primitives
from nn2fpga.estimate.rules import Cost
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import (
    CENTRED_TABLE_FNS,
    TAIL_TABLE_FNS,
    Activation,
    Add,
    BatchNorm,
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
    LayerNorm,
    Linear,
    Pool2D,
    PReLU,
    Transpose,
    UpSample2D,
    ZeroPad2D,
)
from nn2fpga.ir.names import layer_idents
from nn2fpga.ir.recurrent import Recurrent

FF_PIPELINE = 0.4  # Latency Dense: adder-tree pipeline registers per product bit (fitted, docs/estimates.md)
FF_SUM_CAP = 16  # Latency Dense: reuse cycles over which partial sums are held, at most (fitted)
MUX_INPUTS_PER_LUT = 3  # a LUT6 selects among 4 inputs: an RF-to-1 multiplexer is ceil((RF - 1) / 3) LUTs a bit
MVU_CONTROL_LUT, MVU_CONTROL_FF = 300, 200  # a folded layer's loop counters and control (FINN's MVAU base)
AXI_PORT = Cost(lut=1500, ff=2500, bram18k=2)  # one m_axi adapter with its burst buffer (not measured here)
SOFTMAX_LATENCY = 3  # exp lookup, sum and inverse lookup, product


@dataclass
class LayerEstimate:
    name: str
    kind: str
    cost: Cost = field(default_factory=Cost)
    cycles_per_image: int = 0
    ii_cycles: int = 0
    latency_cycles: int = 0
    dsp_min: int | None = None  # weight-aware lower count where Vitis's DSP use depends on the weights

    def as_dict(self) -> dict:
        row = {"name": self.name, "kind": self.kind, **self.cost.as_dict()}
        row |= {"cycles_per_image": self.cycles_per_image, "ii_cycles": self.ii_cycles,
                "latency_cycles": self.latency_cycles}  # fmt: skip
        if self.dsp_min is not None:
            row["dsp_min"] = self.dsp_min
        return row


@dataclass
class Estimate:
    part: Device
    clock_ns: float
    io_type: str
    layers: list[LayerEstimate]
    ii_cycles: int
    latency_cycles: int
    bottleneck: str

    @property
    def total(self) -> Cost:
        out = Cost()
        for row in self.layers:  # each layer's counts are whole primitives: the total is their sum
            out = out + Cost(**row.cost.as_dict())
        return out

    @property
    def images_per_s(self) -> float:
        return 1e9 / (self.clock_ns * max(self.ii_cycles, 1))

    @property
    def latency_ns(self) -> float:
        return self.latency_cycles * self.clock_ns

    def utilisation(self) -> dict[str, float]:
        total, avail = self.total.as_dict(), self.part.available()
        return {k: (total[k] / avail[k] if avail[k] else (math.inf if total[k] else 0.0)) for k in RESOURCES}

    def as_dict(self) -> dict:
        total = {k: v for k, v in self.total.as_dict().items()}
        dsp_min = [r.dsp_min if r.dsp_min is not None else r.cost.as_dict()["dsp"] for r in self.layers]
        if any(r.dsp_min is not None for r in self.layers):
            total["dsp_min"] = int(sum(dsp_min))
        total |= {"cycles_per_image": self.ii_cycles, "ii_cycles": self.ii_cycles,
                  "latency_cycles": self.latency_cycles, "latency_ns": self.latency_ns,
                  "images_per_s": self.images_per_s}  # fmt: skip
        return {
            "part": self.part.name,
            "clock_ns": self.clock_ns,
            "io_type": self.io_type,
            "available": self.part.available(),
            "total": total,
            "utilisation": self.utilisation(),
            "bottleneck": self.bottleneck,
            "layers": [r.as_dict() for r in self.layers],
        }


# ---- per-layer resources --------------------------------------------------------------------------------


def _in_bits(layer: Layer, g: Graph) -> int:
    return g.producers(layer.name)[0].types["result"].width


def naf_digits(raw: np.ndarray) -> np.ndarray:
    """Non-zero digits of each integer in its non-adjacent form (the fewest signed power-of-two terms)."""
    x = np.abs(raw.astype(np.int64))
    count = np.zeros(x.shape, dtype=np.int64)
    while np.any(x):
        odd = (x & 1).astype(bool)
        digit = np.where(odd, 2 - (x & 3), 0)  # +1 or -1 where odd, chosen so the rest is divisible by 4
        count += odd
        x = (x - digit) >> 1
    return count


def _multiply_impl(layer: Linear) -> str:
    return getattr(layer, "multipliers", "") or "auto"


def _latency_dense(layer: Dense, g: Graph, family: str) -> tuple[Cost, int, int, int | None]:
    """hls4ml's Latency Dense (ALLOCATION-limited multipliers in one pipelined body): (cost, interval, latency,
    dsp_min). The model is docs/estimates.md's: DSP = the multiplier limit (or the non-zero weights when
    fewer; at RF 1 the weight-aware count of constants with 3 or more non-adjacent-form digits is dsp_min);
    LUT = the adder trees, n x accumulator bits, plus RF-to-1 multiplexers on both operands of each shared
    multiplier; FF = adder-tree pipeline registers plus the partial sums held over the reuse cycles."""
    a, w = _in_bits(layer, g), layer.types["weight"].width
    acc, res = layer.types["accum"].width, layer.types["result"].width
    n, cols, rf, limit = layer.n_in * layer.n_out, layer.n_out, layer.reuse_factor, layer.multiplier_limit
    raw = np.rint(np.ldexp(layer.weight, layer.types["weight"].frac)).astype(np.int64)
    nonzero = int(np.count_nonzero(raw))
    used = min(limit, nonzero)
    mult = rules.multipliers(used, a, w, family, _multiply_impl(layer))
    dsp_min = None
    if rf == 1 and mult.dsp:  # no sharing: each constant product is its own operator
        dsp_min = int(np.count_nonzero(naf_digits(raw) >= 3)) * rules.dsp_per_product(a, w, family)
    mux = limit * (a + w) * math.ceil((rf - 1) / MUX_INPUTS_PER_LUT) if rf > 1 else 0
    lut = mult.lut + n * acc + mux + cols * res
    ff = FF_PIPELINE * n * acc + cols * acc * min(rf, FF_SUM_CAP)
    ii = max(1, math.ceil(nonzero / limit)) if rf > 1 else 1
    return Cost(dsp=mult.dsp, lut=lut, ff=ff), ii, ii + 1, dsp_min


def _folded(layer: Linear, g: Graph, family: str) -> Cost:
    """A folded matrix-vector unit: PE x SIMD multipliers, PE adder trees of SIMD terms and accumulators, the
    weight banks, the input buffer (Dense) or line buffer (Conv2D), control (FINN's MVAU terms)."""
    a, w, acc = _in_bits(layer, g), layer.types["weight"].width, layer.types["accum"].width
    lanes = layer.pe * layer.simd
    cost = rules.multipliers(lanes, a, w, family, _multiply_impl(layer), layer.pe)
    cost = cost + rules.adders(lanes, acc) + Cost(lut=MVU_CONTROL_LUT, ff=MVU_CONTROL_FF + layer.pe * acc)
    bram, uram, lutram = weight_primitives(layer, g.io_type)
    cost = cost + Cost(bram18k=bram, uram=uram, lut=lutram)
    if layer.weight_storage in geometry.STREAMED:
        cost = cost + AXI_PORT
    if g.io_type == "io_stream":
        cost = cost + buffers(layer, g)
    return cost


def buffers(layer: Layer, g: Graph) -> Cost:
    """Line buffer of a windowed layer (KH x KW banks of ceil(PW / KW) x CF words of lanes values, the
    partitioning of templates/n2f/stream.h), or a Dense's input buffer (the whole input, SIMD values a word)."""
    src = g.producers(layer.name)[0]
    bits = src.types["result"].width
    lanes = geometry.in_lanes(layer)
    if isinstance(layer, (Conv2D, Pool2D)):
        kh, kw = layer.kernel if isinstance(layer, Conv2D) else layer.pool
        pw = src.shape[1] + layer.padding[2] + layer.padding[3]
        cf = geometry.channels(src) // lanes
        return rules.array_memory(math.ceil(pw / kw) * cf, lanes * bits, copies=kh * kw)
    if isinstance(layer, Dense):
        return rules.array_memory(src.size // lanes, lanes * bits)
    if isinstance(layer, Transpose):  # the whole map
        return rules.array_memory(src.size // lanes, lanes * bits)
    if isinstance(layer, UpSample2D):  # one input row of words
        return rules.array_memory(src.shape[1] * geometry.channels(src) // lanes, lanes * bits)
    return Cost()


def _elementwise(layer: Layer, g: Graph, ii: int) -> Cost:
    """Activations, BatchNorm, PReLU, pooling, Add, Concatenate, padding, cropping, upsampling: per value handled
    in one clock, its logic."""
    bits = layer.types["result"].width
    per_clock = layer.lanes if g.io_type == "io_stream" else layer.size
    if isinstance(layer, Activation):
        if layer.fn == "softmax":
            n = geometry.channels(layer)
            e, inv = layer.types["exp_table"].width, layer.types["inv_table"].width
            cost = rules.multipliers(n, e, inv, "ultrascale+") + rules.adders(2 * n, bits + 4)
            tables = rules.table(layer.table_size, e, n, ii) + rules.table(layer.table_size, inv, 1, ii)
            return cost + tables * (1 if g.io_type == "io_stream" else layer.size // n)
        if layer.fn in (*CENTRED_TABLE_FNS, *TAIL_TABLE_FNS):
            return rules.table(layer.table_size, layer.types["table"].width, per_clock, ii) + Cost(lut=per_clock * bits)
        return Cost(lut=per_clock * bits, ff=per_clock * bits if g.io_type == "io_stream" else 0)
    if isinstance(layer, BatchNorm):
        return rules.multipliers(per_clock, _in_bits(layer, g), layer.types["scale"].width, "ultrascale+")
    if isinstance(layer, LayerNorm):  # per value: a square, the normalizing and the scaling product; one table
        in_bits, t = _in_bits(layer, g), layer.types
        cost = rules.multipliers(per_clock, in_bits + 4, in_bits + 4, "ultrascale+")
        cost = cost + rules.multipliers(per_clock, in_bits + 4, t["table"].width, "ultrascale+")
        cost = cost + rules.multipliers(per_clock, 22, t["scale"].width, "ultrascale+")
        groups = 1 if g.io_type == "io_stream" else layer.size // layer.shape[-1]
        return (
            cost
            + rules.adders(2 * per_clock, 2 * in_bits + 8)
            + rules.table(layer.table_size, t["table"].width, groups, ii)
        )
    if isinstance(layer, PReLU):  # a multiplier and a select per value
        cost = rules.multipliers(per_clock, _in_bits(layer, g), layer.types["alpha"].width, "ultrascale+")
        return cost + Cost(lut=per_clock * bits)
    if isinstance(layer, UpSample2D):
        row = buffers(layer, g) if g.io_type == "io_stream" else Cost()
        return Cost(lut=per_clock * bits // 2, ff=per_clock * bits) + row
    if isinstance(layer, Crop2D):
        return Cost(ff=per_clock * bits)
    if isinstance(layer, Recurrent):  # the unrolled cell: (n_in + units) x gates x units products, its tables
        n = (layer.n_in + layer.units) * layer.weight.shape[1]
        t = layer.types
        cost = rules.multipliers(n, max(_in_bits(layer, g), t["result"].width), t["weight"].width, "ultrascale+")
        tables = rules.table(layer.table_size, t["table"].width, 2 * layer.units, 1)
        return cost + tables + rules.adders(n, 32)
    if isinstance(layer, ChannelScale):  # a product per value handled
        a, b = (p.types["result"].width for p in g.producers(layer.name))
        return rules.multipliers(per_clock, a, b, "ultrascale+")
    if isinstance(layer, Dot):  # n products at once (io_parallel) or lanes a clock, and their adder tree
        a, b = (p.types["result"].width for p in g.producers(layer.name))
        n = layer.lanes if g.io_type == "io_stream" else g.producers(layer.name)[0].size
        return rules.multipliers(n, a, b, "ultrascale+") + rules.adders(n, a + b + 4)
    if isinstance(layer, Embedding):  # the table read per_clock values a clock (io_stream: banks of lanes)
        rows, dim = 2 ** layer.types["input"].width, layer.weight.shape[1]
        width = layer.types["weight"].width
        if g.io_type == "io_stream":
            return rules.array_memory(rows * dim // layer.lanes, layer.lanes * width)
        return rules.table(rows * dim, width, per_clock, ii)
    if isinstance(layer, Transpose):
        return Cost(ff=per_clock * bits) + (buffers(layer, g) if g.io_type == "io_stream" else Cost())
    if isinstance(layer, (Pool2D, GlobalPool2D)):
        window = layer.pool[0] * layer.pool[1] if isinstance(layer, Pool2D) else 1
        cost = rules.adders(per_clock * window, bits + 4)
        return cost + (buffers(layer, g) if g.io_type == "io_stream" else Cost())
    if isinstance(layer, Add):
        srcs = [p.types["result"].width for p in g.producers(layer.name)]
        if layer.op == "multiply":
            return rules.multipliers(per_clock, srcs[0], srcs[1], "ultrascale+")
        extra = rules.multipliers(per_clock, bits + 4, layer.types["recip"].width, "ultrascale+") if (
            layer.op == "average") else Cost()  # fmt: skip
        return rules.adders(per_clock * (len(srcs) - 1), bits) + extra
    if isinstance(layer, (Concatenate, ZeroPad2D)):
        return Cost(lut=per_clock * bits // 2, ff=per_clock * bits)
    return Cost()


def _streams(layer: Layer, g: Graph) -> Cost:
    """The FIFOs on the layer's input edges (depth from the hardware flow, width = producer lanes x bits)."""
    cost = Cost()
    for p, depth in zip(g.producers(layer.name), layer.fifo_depths):
        cost = cost + rules.fifo(depth, p.lanes * p.types["result"].width)
    return cost


# ---- the whole graph --------------------------------------------------------------------------------------


def estimate(g: Graph, part: str | Device, clock_ns: float, project: str = "project") -> Estimate:
    """Per-layer and total estimates of the compiled graph `g` on `part` at `clock_ns`."""
    dev = part if isinstance(part, Device) else device(part)
    if g.io_type == "io_stream":
        return _stream(g, dev, clock_ns, project)
    return _parallel(g, dev, clock_ns)


def _parallel(g: Graph, dev: Device, clock_ns: float) -> Estimate:
    rows: list[LayerEstimate] = []
    for layer in g.layers():
        if isinstance(layer, Input):
            continue
        row = LayerEstimate(layer.name, layer.kind)
        if geometry.latency_kernel(layer, g.io_type):
            row.cost, row.ii_cycles, row.latency_cycles, row.dsp_min = _latency_dense(layer, g, dev.family)
        elif isinstance(layer, Linear):
            row.cost = _folded(layer, g, dev.family)
            row.ii_cycles = geometry.pixels(layer) * layer.reuse_factor
            row.latency_cycles = row.ii_cycles + 1
        rows.append(row)
    slow = max(rows, key=lambda r: r.ii_cycles, default=None)  # the layer setting the top's interval
    ii = max(1, slow.ii_cycles if slow else 1)
    for row, layer in zip(rows, [lay for lay in g.layers() if not isinstance(lay, Input)]):
        if not isinstance(layer, Linear):  # fully unrolled, pipelined at the top's interval
            row.cost = _elementwise(layer, g, ii)
            soft = isinstance(layer, Activation) and layer.fn == "softmax"
            row.latency_cycles = SOFTMAX_LATENCY if soft else 0
        row.ii_cycles = ii  # one pipelined top (or dataflow region) takes a sample every `ii` clocks
        row.cycles_per_image = ii
    latency = sum(r.latency_cycles for r in rows)
    return Estimate(dev, clock_ns, g.io_type, rows, ii, latency, slow.name if slow else "")


def _stream(g: Graph, dev: Device, clock_ns: float, project: str) -> Estimate:
    model = cycles.cycle_model(g, project, clock_ns)
    first, last = cycles.timeline(model.processes)
    by_layer: dict[str, list[cycles.Process]] = {}
    for p in model.processes:
        by_layer.setdefault(p.layer, []).append(p)
    ids = layer_idents(g, project)
    rows = []
    load, store = model.processes[0], model.processes[-1]
    rows.append(LayerEstimate("kernel_load", "Load", AXI_PORT, load.cycles, load.cycles, math.ceil(last[load.name])))
    for layer in g.layers():
        if isinstance(layer, Input):
            continue
        procs = [p for p in by_layer.get(layer.name, []) if p.kind not in ("Load", "Store")]
        own = next(p for p in procs if p.name == ids[layer.name])
        cost = _folded(layer, g, dev.family) if isinstance(layer, Linear) else _elementwise(layer, g, own.cycles)
        cost = cost + _streams(layer, g)
        for p in procs:
            if p.kind == "Convert":  # the lcm(a, b)-value group in registers, and its counters
                src = g[p.layer]
                group = math.lcm(src.lanes, geometry.in_lanes(layer))
                cost = cost + Cost(lut=64, ff=group * src.types["result"].width)
            elif p.kind == "Fork":
                cost = cost + Cost(lut=16 * len(g.users(layer.name)), ff=8)
        start = min([first[r.producer] for r in own.reads] or [0.0])
        span = max(last[p.name] for p in procs) - start
        worst = max(procs, key=lambda p: p.cycles)
        rows.append(LayerEstimate(layer.name, layer.kind, cost, worst.cycles, worst.cycles, math.ceil(span)))
    rows.append(LayerEstimate("kernel_store", "Store", AXI_PORT, store.cycles, store.cycles,
                              math.ceil(last[store.name] - first[store.reads[0].producer])))  # fmt: skip
    b = model.bottleneck
    return Estimate(dev, clock_ns, g.io_type, rows, b.cycles, model.latency, b.layer if b.kind != "Load" else b.name)


def with_estimate(report: dict, est: Estimate) -> dict:
    """report.json: the project's description `report` with the estimate merged in: `device` (the part's key),
    `clock_ns`, `available`, `total`, `utilisation`, `bottleneck`, the estimate's fields in every layer and
    `kernel` (the load and store processes of io_stream)."""
    data = est.as_dict()
    rows = {r["name"]: r for r in data["layers"]}
    zero = {k: 0 for k in (*RESOURCES, "cycles_per_image", "ii_cycles", "latency_cycles")}
    layers = [{**layer, **zero, **rows.get(layer["name"], {})} for layer in report["layers"]]
    kernel = [r for r in data["layers"] if r["kind"] in ("Load", "Store")]
    keys = ("clock_ns", "available", "total", "utilisation", "bottleneck")
    return {**report, "device": data["part"], **{k: data[k] for k in keys}, "layers": layers, "kernel": kernel}
