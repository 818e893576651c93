"""The planner: per-layer folding chosen with the estimator so that the dataflow is balanced and fits the part.

`plan(graph, base)` takes the quantized graph (flows optimize, calibrate, quantize run) and the user's config
(`base`: precisions and whatever the user fixed) and searches a target T, the cycles per image every layer may
take. For one T each layer gets the cheapest setting that meets it (FINN's SetFolding rule):
- a folded Dense / Conv2D / DepthwiseConv2D: the fewest PE x SIMD within the synthesis limits whose cycles per
  image (`geometry.trips`) are at most T (ties: the fold whose weight banks and line buffer take the fewest
  RAMB18); where none meets T, the fastest fold;
- the io_parallel Latency Dense: ReuseFactor T (its ALLOCATION keeps ceil(products / T) multipliers);
- a layer without multipliers (io_stream): the fewest Lanes dividing its channels that meet T.
Then, while block RAM or URAM is over the fill, weights move between BRAM, URAM and LUTRAM, else off-chip
(`_storage`); while DSP is over it, the layers with most DSPs pack two products per DSP48E2 where their
operands allow (Multipliers: packed), else take LUT multipliers (Multipliers: lut) (`_multipliers`).
Layers the user fixed in `base` (PE, SIMD, ReuseFactor, Lanes given) keep their values. The hardware flow then
runs on the candidate config (storage plan and FIFO depths included) and the estimator checks it against
`fill` x the part's resources. Without `fps` the search walks targets down a geometric ladder (ratio
LADDER_STEP) and keeps the fastest plan that fits (throughput first); with `fps` T is the frame budget and the
plan is the least folding that meets it. If nothing fits, PlanError names each resource that is short and by how much.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

from tqdm import tqdm

from nn2fpga.config import Config
from nn2fpga.config.plan import DEFAULT_FILL
from nn2fpga.estimate import geometry
from nn2fpga.estimate.devices import RESOURCES, device
from nn2fpga.estimate.memory import weight_primitives
from nn2fpga.estimate.model import Estimate, buffers, estimate
from nn2fpga.estimate.rules import packing_error
from nn2fpga.ir.errors import UserError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Activation, DepthwiseConv2D, Input, Layer, Linear
from nn2fpga.passes import fold
from nn2fpga.passes.manager import DEFAULT_FLOWS, run_flows

LADDER_STEP = 1.3  # ratio between successive targets of the search
MAX_STALLED = 6  # targets in a row without a faster fitting plan end the search
LABELS = {"dsp": "DSP", "lut": "LUT", "ff": "FF", "bram18k": "BRAM18K", "uram": "URAM"}


class PlanError(UserError):
    """Nothing fits: the message names every resource over the fill and by how much."""


@dataclass
class Plan:
    config: Config  # base + the chosen LayerName settings
    graph: Graph  # compiled with `config`
    estimate: Estimate
    target: int  # the cycles per image the layers were folded for

    def yaml(self) -> str:
        """The complete config (as `nn2fpga config` writes it), each layer commented with its estimate."""
        notes = {}
        for row in self.estimate.layers:
            r = row.as_dict()
            notes[row.name] = (f"estimate: {r['cycles_per_image']:,} cycles/image, DSP {r['dsp']:,}, LUT {r['lut']:,}, "
                               f"BRAM18K {r['bram18k']:,}, URAM {r['uram']:,}")  # fmt: skip
        d = self.estimate.as_dict()
        use = ", ".join(f"{LABELS[k]} {d['total'][k]:,} ({100 * d['utilisation'][k]:.0f}%)" for k in RESOURCES)
        head = (f"# nn2fpga plan for {d['part']} at {d['clock_ns']:g} ns: {self.estimate.images_per_s:,.0f} images/s "
                f"(bottleneck {d['bottleneck']}, {self.estimate.ii_cycles:,} cycles/image), latency "
                f"{self.estimate.latency_cycles:,} cycles; {use}")  # fmt: skip
        return head + "\n" + self.config.resolved_yaml(self.graph, notes)


def _given(cfg: Config, layer: Layer, key: str) -> bool:
    return cfg.resolve(layer).source.get(key, "default") != "default"


def _cycles(layer: Layer, g: Graph) -> int:
    """Cycles per image of one layer: io_stream its loop trips; io_parallel a folded layer's pixels x reuse."""
    if g.io_type == "io_stream":
        return geometry.trips(layer, g)
    if isinstance(layer, Linear):
        rows, cols, _ = geometry.matrix(layer)
        return geometry.pixels(layer) * rows * cols // (layer.pe * layer.simd)
    return 1


def _converters(layer: Layer, g: Graph, lanes: dict[str, int]) -> int:
    """The slowest width converter into `layer` (its reads at in_lanes) from producers of the planned `lanes`."""
    b = geometry.in_lanes(layer)
    trips = [geometry.converter_trips(p.size, lanes[p.name], b) for p in g.producers(layer.name)
             if lanes.get(p.name, b) != b]  # fmt: skip
    return max(trips, default=0)


def _fold_for(layer: Linear, g: Graph, target: int, dev, lanes: dict[str, int]) -> dict:
    """The (PE, SIMD) with the fewest multipliers whose cycles per image, and those of the width converter in
    front of it, are within `target` (else the fastest); among those, the one whose weight banks and line
    buffer take the smallest share of the part's block memory (PE-wide and SIMD-wide folds give banks of very
    different shapes)."""
    width = g.producers(layer.name)[0].types["result"].width
    options = []
    saved = layer.pe, layer.simd, layer.weight_storage
    layer.weight_storage = "bram"
    avail = dev.available()
    for pe, simd in fold.valid_folds(layer):
        if fold.limits_ok(layer, pe, simd, width):
            layer.pe, layer.simd = pe, simd
            memory = weight_primitives(layer, g.io_type)[0]
            memory += buffers(layer, g).bram18k if g.io_type == "io_stream" else 0
            cycles = max(_cycles(layer, g), _converters(layer, g, lanes) if g.io_type == "io_stream" else 0)
            options.append((pe * simd, memory / max(avail["bram18k"], 1), -simd, cycles, pe, simd))
    layer.pe, layer.simd, layer.weight_storage = saved
    meeting = [o for o in options if o[3] <= target]
    _, _, _, _, pe, simd = min(meeting) if meeting else min(options, key=lambda o: (o[3], o[0], o[1]))
    return {"PE": pe, "SIMD": simd}


def _lanes_for(layer: Layer, g: Graph, target: int, lanes: dict[str, int]) -> dict:
    """The fewest Lanes whose cycles per image, and those of the width converters in front, meet `target`."""
    need = [geometry.channels(layer)] + [geometry.channels(p) for p in g.producers(layer.name)]
    options = fold.divisors(math.gcd(*need))
    saved, best = layer.lanes, options[-1]
    for n in options:
        layer.lanes = n
        if max(_cycles(layer, g), _converters(layer, g, lanes)) <= target:
            best = n
            break
    layer.lanes = saved
    return {"Lanes": best}


def settings_for(g: Graph, base: Config, target: int) -> dict[str, dict]:
    """LayerName settings meeting `target` cycles per image (module docstring), on the folded graph `g`."""
    dev = device(base.part)
    out: dict[str, dict] = {}
    lanes = {lay.name: lay.lanes for lay in g.layers()}  # stream lanes as planned so far (defaults until then)
    for layer in g.layers():
        if isinstance(layer, Input) or (isinstance(layer, Activation) and layer.fn == "softmax"):
            continue
        if isinstance(layer, Linear):
            if any(_given(base, layer, k) for k in ("PE", "SIMD", "ReuseFactor")):
                continue
            if geometry.latency_kernel(layer, g.io_type):
                out[layer.name] = {"ReuseFactor": max(1, target)}
            else:
                out[layer.name] = _fold_for(layer, g, target, dev, lanes)
                lanes[layer.name] = out[layer.name]["PE"]
        elif g.io_type == "io_stream" and layer.shape and not _given(base, layer, "Lanes"):
            out[layer.name] = _lanes_for(layer, g, target, lanes)
            lanes[layer.name] = out[layer.name]["Lanes"]
    return out


def _merge(base: Config, layers: dict[str, dict]) -> Config:
    data = base.to_dict()
    names = {name: dict(entry) for name, entry in (data.get("LayerName") or {}).items()}
    for name, entry in layers.items():
        names[name] = {**names.get(name, {}), **entry}
    return Config({**data, "LayerName": names}, base.filename)


def _try(quantized: Graph, base: Config, folded: Graph, target: int, fill: float) -> tuple[Config, Graph, Estimate]:
    settings = settings_for(folded, base, target)
    cfg = _merge(base, settings)
    g, _ = run_flows(copy.deepcopy(quantized), cfg, ("hardware",))
    est = estimate(g, cfg.part, cfg.clock_period, cfg.resolved_project_name(g))
    if g.io_type == "io_stream":
        est = _storage(g, cfg, est, fill, settings)
    est = _multipliers(g, cfg, est, fill, settings)
    for layer in g.layers():  # pin the storage the flow chose: converting the plan must rebuild this graph
        if isinstance(layer, Linear) and layer.name in settings and not _given(cfg, layer, "WeightStorage"):
            if not geometry.latency_kernel(layer, g.io_type):
                settings[layer.name]["WeightStorage"] = layer.weight_storage
    return _merge(base, settings), g, est


def _packable(layer: Linear, g: Graph, family: str) -> bool:
    if g.io_type != "io_stream" or isinstance(layer, DepthwiseConv2D) or layer.pe < 2:
        return False
    src = g.producers(layer.name)[0].types["result"]
    return packing_error(fold.signed_bits(src), fold.signed_bits(layer.types["weight"]), family) is None


def _multipliers(g: Graph, cfg: Config, est: Estimate, fill: float, settings: dict[str, dict]) -> Estimate:
    """While DSP is over the fill: the folded layer with the most DSPs packs two products per DSP48E2
    (Multipliers: packed) where its operands allow, else builds its products in LUTs (Multipliers: lut) as
    long as LUT stays within the fill."""
    avail = est.part.available()
    rows = {r.name: r.cost.dsp for r in est.layers}
    movable = [lay for lay in g.layers() if isinstance(lay, Linear) and lay.multipliers == "dsp"
               and not _given(cfg, lay, "Multipliers") and rows.get(lay.name, 0) > 0]  # fmt: skip
    for layer in sorted(movable, key=lambda lay: -rows[lay.name]):
        if est.total.as_dict()["dsp"] <= fill * avail["dsp"]:
            break
        for impl in ("packed", "lut") if _packable(layer, g, est.part.family) else ("lut",):
            layer.multipliers = impl
            trial = estimate(g, cfg.part, cfg.clock_period, cfg.resolved_project_name(g))
            if trial.total.as_dict()["lut"] <= fill * avail["lut"]:
                settings.setdefault(layer.name, {})["Multipliers"] = impl
                est = trial
                break
            layer.multipliers = "dsp"
    return est


STORE = {"bram": "bram18k", "uram": "uram", "lutram": "lut"}  # on-chip weight storage -> the resource it takes


def _lutram_luts(g: Graph) -> int:
    return sum(weight_primitives(lay, g.io_type)[2] for lay in g.layers() if isinstance(lay, Linear))


def _room(est: Estimate, g: Graph, fill: float, storage: str) -> bool:
    """`storage` within the fill (LUTRAM also within the part's LUTs that can be memory)."""
    avail, total = est.part.available(), est.total.as_dict()
    ok = total[STORE[storage]] <= fill * avail[STORE[storage]]
    return ok and (storage != "lutram" or _lutram_luts(g) <= fill * est.part.lutram)


def _moves(layers: list[Linear], g: Graph, est: Estimate, over: list[str]) -> list[tuple[float, Linear, str]]:
    """Every (gain, layer, storage) move of weights out of an over-full memory into another on-chip one, the
    best first: the share of the full resource it frees per share of the other it takes. Shallow banks (a fast
    layer's weights split over many PE) fill a RAMB18 or a URAM block only partly and cost few LUTs; deep ones
    pack URAM well."""
    avail, moves = est.part.available(), []
    for layer in layers:
        if layer.weight_storage not in over:
            continue
        here = layer.weight_storage
        freed = _moved(layer, g.io_type, here)[list(STORE).index(here)] / max(avail[STORE[here]], 1)
        for there in STORE:
            if there != here:
                taken = _moved(layer, g.io_type, there)[list(STORE).index(there)] / max(avail[STORE[there]], 1)
                moves.append((freed / max(taken, 1e-9), layer, there))
    return sorted(moves, key=lambda m: -m[0])


def _moved(layer: Linear, io_type: str, storage: str) -> tuple[int, int, int]:
    saved, layer.weight_storage = layer.weight_storage, storage
    cost = weight_primitives(layer, io_type)
    layer.weight_storage = saved
    return cost


def _storage(g: Graph, cfg: Config, est: Estimate, fill: float, settings: dict[str, dict]) -> Estimate:
    """While BRAM18K or URAM is over the fill, weights of `auto` layers move from it to another on-chip memory
    (`_moves`, best first) where that one stays within the fill; what is still over sends layers of one output
    pixel (classifiers) off-chip (any other would re-read its matrix from DDR for every pixel). The hardware
    flow's storage plan only keeps weights within the whole part; the plan also counts line buffers and FIFOs."""
    movable = [lay for lay in g.layers() if isinstance(lay, Linear) and lay.weight_storage in STORE
               and not _given(cfg, lay, "WeightStorage")]  # fmt: skip
    avail = est.part.available()

    def over() -> list[str]:
        return [s for s in ("bram", "uram") if est.total.as_dict()[STORE[s]] > fill * avail[STORE[s]]]

    for _ in range(2 * len(movable)):  # each accepted move empties an over-full memory by one layer
        full = over()
        if not full:
            return est
        for _, layer, there in _moves(movable, g, est, full):
            here, layer.weight_storage = layer.weight_storage, there
            trial = estimate(g, cfg.part, cfg.clock_period, cfg.resolved_project_name(g))
            if _room(trial, g, fill, there):
                settings.setdefault(layer.name, {})["WeightStorage"] = there
                est = trial
                break
            layer.weight_storage = here
        else:
            break
    for layer in movable:
        if over() and layer.weight_storage in over() and geometry.pixels(layer) == 1:
            layer.weight_storage = "offchip"
            settings.setdefault(layer.name, {})["WeightStorage"] = "offchip"
            est = estimate(g, cfg.part, cfg.clock_period, cfg.resolved_project_name(g))
    return est


def _short(est: Estimate, fill: float) -> dict[str, tuple[int, int]]:
    """Resource -> (used, allowed) for every resource over `fill` of the part."""
    total, avail = est.total.as_dict(), est.part.available()
    return {k: (total[k], int(fill * avail[k])) for k in RESOURCES if total[k] > fill * avail[k]}


def _fits(est: Estimate, fill: float) -> bool:
    return not _short(est, fill)


def plan(
    quantized: Graph, base: Config, fps: float | None = None, fill: float = DEFAULT_FILL, progress: bool = False
) -> Plan:
    """Search the folding (module docstring). `quantized`: the graph after the quantize flow. Where the user
    gave no Strategy and the io_parallel Latency Dense does not fit (its logic does not shrink with the reuse
    factor), the folded Resource strategy is planned instead."""
    try:
        return _plan(quantized, base, fps, fill, progress)
    except PlanError:
        latency = [lay for lay in quantized.layers() if lay.HAS_MULTIPLIERS and base.resolve(lay).strategy == "latency"]
        if not latency or any(_given(base, lay, "Strategy") for lay in latency) or base.io_type == "io_stream":
            raise
        data = base.to_dict()
        return _plan(quantized, Config({**data, "Model": {**data.get("Model", {}), "Strategy": "Resource"}},
                                       base.filename), fps, fill, progress)  # fmt: skip


def plan_graph(
    graph: Graph, base: Config, fps: float | None = None, fill: float | None = None, progress: bool = False
) -> Plan:
    """`plan` of the frontend's graph: binds `base` (its `Plan:` section dropped; it gives `fps` and `fill`
    where these are None), runs the flows up to quantize on a copy, then plans."""
    data = base.to_dict()
    section = base.plan or {}
    data.pop("Plan", None)
    base = Config(data, base.filename)
    g = copy.deepcopy(graph)
    base.bind(g)
    float_graph, _ = run_flows(g, base, DEFAULT_FLOWS[:1])
    quantized, _ = run_flows(float_graph, base, DEFAULT_FLOWS[1:-1])
    fill = fill if fill is not None else section.get("Fill", DEFAULT_FILL)
    return plan(quantized, base, fps=fps if fps is not None else section.get("FPS"), fill=fill, progress=progress)


def _plan(quantized: Graph, base: Config, fps: float | None, fill: float, progress: bool) -> Plan:
    dev = device(base.part)
    folded, _ = run_flows(copy.deepcopy(quantized), base, ("hardware",))  # shapes of the defaults, for trips
    budget = None if fps is None else int(1e9 / (base.clock_period * fps))
    if budget is not None:
        cfg, g, est = _try(quantized, base, folded, budget, fill)
        if est.ii_cycles > budget:
            raise PlanError(f"plan: {fps:g} images/s needs at most {budget:,} cycles per image at "
                            f"{base.clock_period:g} ns; the fastest fold of {est.bottleneck} takes "
                            f"{est.ii_cycles:,}")  # fmt: skip
        _check_fits(est, fill, dev.name)
        return Plan(cfg, g, est, budget)
    # the slowest target any layer can need: every matrix at PE = SIMD = 1, plus the largest stream scan
    matrices = [geometry.pixels(lay) * lay.n_in * lay.n_out for lay in folded.layers() if isinstance(lay, Linear)]
    hi = max([1, *matrices]) + max(lay.size for lay in folded.layers())
    slowest = _try(quantized, base, folded, hi, fill)
    # fit is not monotonic in the target (storage moves, bank shapes: the slowest folds have the narrowest banks),
    # so walk a geometric ladder of targets from the slowest down and keep the fastest plan that fits; stop once
    # MAX_STALLED targets in a row bring no faster fitting plan
    best, target = (slowest, hi) if _fits(slowest[2], fill) else (None, hi)
    ladder = sorted({max(1, int(hi / LADDER_STEP**k)) for k in range(200) if hi / LADDER_STEP**k >= 0.5}, reverse=True)
    stalled = 0
    for t in tqdm(ladder[1:], desc="plan", unit="target", disable=not progress, leave=False):
        trial = _try(quantized, base, folded, t, fill)
        if _fits(trial[2], fill) and (best is None or trial[2].ii_cycles < best[2].ii_cycles):
            best, target, stalled = trial, t, 0
        elif best is not None:
            stalled += 1
        if stalled >= MAX_STALLED:
            break
    if best is None:
        _check_fits(slowest[2], fill, dev.name)
    cfg, g, est = best
    return Plan(cfg, g, est, target)


def _check_fits(est: Estimate, fill: float, part: str) -> None:
    short = _short(est, fill)
    if short:
        avail = est.part.available()
        what = "; ".join(f"{LABELS[k]} {used:,} needed, {allowed:,} allowed ({100 * fill:.0f}% of {avail[k]:,}): "
                         f"short by {used - allowed:,}" for k, (used, allowed) in short.items())  # fmt: skip
        raise PlanError(f"plan: the model does not fit {part} at any folding; at the slowest: {what}")
