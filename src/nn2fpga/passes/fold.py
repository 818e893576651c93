"""Folding (flow "hardware"): how many values each layer handles per clock, and what that costs.

Every Dense, Conv2D and DepthwiseConv2D is a matrix-vector unit over a (rows x columns) weight matrix:
rows = terms per output (Dense n_in, Conv2D kh*kw*n_chan, DepthwiseConv2D kh*kw taps), columns =
outputs per pixel (n_out, n_filt, n_chan). Per clock it computes PE columns x SIMD rows; one output pixel
takes `reuse_factor` = rows * columns / (PE * SIMD) clocks (hls4ml's meaning of the reuse factor). PE
divides the columns; SIMD divides the input channels (Conv2D: the line buffer holds SIMD-channel words),
n_in (Dense) or the taps (DepthwiseConv2D). The io_parallel Latency Dense keeps its fully unrolled kernel
(PE = columns, SIMD = rows, `ALLOCATION` limits the multipliers).

Streams (io_stream) carry `lanes` values of a pixel per word: a Linear layer writes PE lanes and reads
SIMD lanes (DepthwiseConv2D: PE), softmax whole pixels, every other layer its own `lanes` on input and
output. Where a producer's lanes differ from what its consumer reads, code generation inserts a width
converter on that edge.

The figures (`unroll`, `trips`, `weight_memory`) that say what the templates in templates/n2f do, loop by
loop, are in `nn2fpga.estimate.geometry`; the lint, the cycle model and the estimator use them.
"""

from __future__ import annotations

import math

from nn2fpga.config import Config
from nn2fpga.estimate.devices import device
from nn2fpga.estimate.geometry import (
    MAX_UNROLL,
    MAX_WORD_BITS,
    STREAMED,
    channels,
    divisors,
    latency_kernel,
    matrix,
    weight_memory,
)
from nn2fpga.estimate.rules import packing_error
from nn2fpga.ir.errors import ConfigError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import (
    Activation,
    Conv2D,
    DepthwiseConv2D,
    Input,
    Layer,
    LayerNorm,
    Linear,
    Transpose,
)

STORAGE = ("auto", "bram", "lutram", "uram", "offchip")  # WeightStorage values
LUTRAM_BITS = 64 * 64  # auto: a weight bank of at most this many bits goes to LUTRAM, larger ones to BRAM
# default folds of large matrices keep each bank at least one RAMB18 deep (512 words at 36 bits): wider,
# shallower banks waste most of every block (FINN's memory-efficiency argument, ARCHITECTURE section 0)
MIN_BANK_WORDS = 512
SMALL_MATRIX = 64 * MIN_BANK_WORDS  # weights below which the default fold is not limited by bank depth


# ---- the pass --------------------------------------------------------------------------------------------


def _where(settings, key: str) -> str:
    return settings.source.get(key, key)


def _given(settings, key: str) -> bool:
    return settings.source.get(key, "default") != "default"


def limits_ok(layer: Linear, pe: int, simd: int, in_width: int) -> bool:
    lanes_in = pe if isinstance(layer, DepthwiseConv2D) else min(simd, matrix(layer)[2])
    return (
        pe * simd <= MAX_UNROLL
        and simd * layer.types["weight"].width <= MAX_WORD_BITS
        and lanes_in * in_width <= MAX_WORD_BITS
        and pe * layer.types["result"].width <= MAX_WORD_BITS
    )


def simd_options(layer: Linear) -> list[int]:
    """Valid SIMD: the divisors of what SIMD must divide; for a Conv2D also n_chan x t with t dividing the kernel
    width (t neighbouring taps of one kernel row per step, read from whole-pixel words: a first layer of 3
    channels is not limited to 3 multiplications per output lane)."""
    rows, cols, unit = matrix(layer)
    taps = []
    if isinstance(layer, Conv2D) and not isinstance(layer, DepthwiseConv2D):
        taps = [unit * t for t in divisors(layer.kernel[1]) if t > 1]
    return divisors(unit) + taps


def valid_folds(layer: Linear) -> list[tuple[int, int]]:
    rows, cols, unit = matrix(layer)
    return [(pe, simd) for pe in divisors(cols) for simd in simd_options(layer)]


def smallest_valid_reuse(layer: Linear, in_width: int) -> int:
    rows, cols, _ = matrix(layer)
    ok = [rows * cols // (pe * s) for pe, s in valid_folds(layer) if limits_ok(layer, pe, s, in_width)]
    return min(ok)


def choose_fold(layer: Linear, settings, in_width: int) -> tuple[int, int]:
    """(PE, SIMD) from the config: PE/SIMD keys, else ReuseFactor, else the least folding within the limits."""
    rows, cols, unit = matrix(layer)
    pe, simd = settings.pe, settings.simd
    for key, value, valid, total, what in (("PE", pe, divisors(cols), cols, "output columns"),
                                           ("SIMD", simd, simd_options(layer), unit, _simd_unit(layer))):  # fmt: skip
        if value and value not in valid:
            spans = len(valid) > len(divisors(total))  # a Conv2D SIMD may also span kernel taps
            taps = f", nor is it {total} x a divisor of the kernel width {layer.kernel[1]}" if spans else ""
            raise ConfigError(
                f"{_where(settings, key)}: {key} {value} does not divide the {total} {what} of {layer.kind} "
                f"{layer.name!r}{taps}; valid: {', '.join(map(str, valid))}"
            )
    rf_given = _given(settings, "ReuseFactor")
    rf = settings.reuse_factor
    # SIMD spanning kernel taps only where SIMD is given (the planner gives it): defaults and ReuseFactor keep
    # SIMD within the input channels
    candidates = [(p, s) for p, s in valid_folds(layer) if simd or s <= unit]
    folds = [
        (p, s)
        for p, s in candidates
        if (not pe or p == pe) and (not simd or s == simd) and (not rf_given or p * s * rf == rows * cols)
    ]
    if not folds:
        valid = sorted(
            {rows * cols // (p * s) for p, s in candidates if (not pe or p == pe) and (not simd or s == simd)}
        )
        near = [r for r in valid if r < rf][-1:] + [r for r in valid if r > rf][:1]
        raise ConfigError(
            f"{_where(settings, 'ReuseFactor')}: reuse factor {rf} is not valid for {layer.kind} {layer.name!r} "
            f"(rows x columns = {rows} x {cols}; it must be rows * columns / (PE * SIMD) with PE dividing {cols} "
            f"and SIMD dividing {unit}{_fixed_fold(pe, simd)}); nearest valid: {', '.join(map(str, near))}"
        )
    explicit = bool(pe or simd or rf_given)
    fitting = [f for f in folds if limits_ok(layer, *f, in_width)]
    if not fitting:
        if explicit:
            p, s = max(folds, key=lambda f: f[0] * f[1])
            where = _where(settings, "PE" if pe else "SIMD" if simd else "ReuseFactor")
            raise ConfigError(
                f"{where}: {layer.kind} {layer.name!r} with PE {p} x SIMD {s} breaks the synthesis limits "
                f"({p * s} multiplications per clock, limit {MAX_UNROLL}; words of at most {MAX_WORD_BITS} bits); "
                f"the smallest valid reuse factor is {smallest_valid_reuse(layer, in_width)}"
            )
        fitting = folds
    if not explicit and rows * cols > SMALL_MATRIX:  # keep banks deep enough to fill a block RAM
        deep = [f for f in fitting if rows * cols // (f[0] * f[1]) >= MIN_BANK_WORDS]
        fitting = deep or fitting
    return max(fitting, key=lambda f: (f[0] * f[1], f[1]))


def _simd_unit(layer: Linear) -> str:
    if isinstance(layer, DepthwiseConv2D):
        return "kernel taps"
    return "input channels" if isinstance(layer, Conv2D) else "inputs"


def _fixed_fold(pe: int, simd: int) -> str:
    return (f", PE {pe}" if pe else "") + (f", SIMD {simd}" if simd else "")


def _lanes_given(layer: Layer, settings, need: list[int]) -> int:
    lanes = settings.lanes
    bad = [c for c in need if c % lanes]
    if bad:
        valid = divisors(math.gcd(*need))
        raise ConfigError(
            f"{_where(settings, 'Lanes')}: Lanes {lanes} does not divide the {bad[0]} channels of {layer.kind} "
            f"{layer.name!r}; valid: {', '.join(map(str, valid))}"
        )
    return lanes


def fold_layers(g: Graph, cfg: Config) -> bool:
    """Set `pe`, `simd`, `reuse_factor`, `strategy`, `multiplier_limit`, `weight_storage` of every layer
    with multipliers and `lanes` of every layer. Raises ConfigError naming the key for invalid values."""
    for layer in g.layers():
        settings = cfg.resolve(layer)
        producers = g.producers(layer.name)
        if layer.HAS_MULTIPLIERS:
            layer.strategy = settings.strategy
            rows, cols, _ = matrix(layer)
            in_width = producers[0].types["result"].width
            if latency_kernel(layer, g.io_type):
                rf = settings.reuse_factor
                if settings.multipliers in ("lut", "packed"):
                    raise ConfigError(
                        f"{_where(settings, 'Multipliers')}: Multipliers {settings.multipliers} applies to folded "
                        f"layers; {layer.kind} "
                        f"{layer.name!r} is the io_parallel Latency Dense (use Strategy: Resource to fold it)"
                    )
                # the Latency Dense takes any reuse factor: ALLOCATION keeps ceil(products / RF) multipliers
                layer.pe, layer.simd, layer.reuse_factor = cols, rows, rf
                layer.multiplier_limit = -(-rows * cols // rf)
                layer.weight_storage, layer.lanes = "logic", cols  # constants in the unrolled logic
                continue
            else:
                layer.pe, layer.simd = choose_fold(layer, settings, in_width)
                layer.reuse_factor = rows * cols // (layer.pe * layer.simd)
                layer.multiplier_limit = layer.pe * layer.simd
            layer.weight_storage = _storage(layer, settings.weight_storage, g.io_type)
            layer.multipliers = _multipliers(layer, settings, g, cfg.part)
            layer.lanes = layer.pe
            continue
        need = [channels(layer)] + [channels(p) for p in producers]
        if (isinstance(layer, Activation) and layer.fn == "softmax") or isinstance(layer, LayerNorm):
            layer.lanes = channels(layer)  # a word holds the whole group it normalizes
        elif isinstance(layer, Transpose) and not layer.keeps_channels:
            layer.lanes = 1  # values change places across words: one a word
        elif _given(settings, "Lanes"):
            layer.lanes = _lanes_given(layer, settings, need)
        elif isinstance(layer, Input):
            layer.lanes = channels(layer)
        else:  # the widest producer lanes that fit, else the largest common divisor
            common = math.gcd(*need)
            fits = [p.lanes for p in producers if p.lanes and common % p.lanes == 0]
            top = max(p.lanes for p in producers)
            layer.lanes = max(fits) if fits else max(d for d in divisors(common) if d <= top)
    return False


def signed_bits(t) -> int:
    """Bits of a fixed-point type's values as a signed number (an unsigned type needs one more)."""
    return t.width + (not t.signed)


def _multipliers(layer: Linear, settings, g: Graph, part: str) -> str:
    """dsp | lut | packed: packed needs io_stream, PE lanes sharing their input (not DepthwiseConv2D) and
    operands that fit two products in one DSP48E2 (`rules.packing_error`)."""
    if settings.multipliers != "packed":
        return "lut" if settings.multipliers == "lut" else "dsp"
    if g.io_type != "io_stream":
        reason = "applies to io_stream projects (io_parallel: auto, dsp or lut)"
    elif isinstance(layer, DepthwiseConv2D):
        reason = "needs PE lanes that share an input (a DepthwiseConv2D's lanes read different channels)"
    else:
        src = g.producers(layer.name)[0].types["result"]
        reason = packing_error(signed_bits(src), signed_bits(layer.types["weight"]), device(part).family)
    if reason:
        raise ConfigError(f"{_where(settings, 'Multipliers')}: Multipliers packed {reason}; {layer.kind} "
                          f"{layer.name!r} can take auto, dsp or lut")  # fmt: skip
    return "packed"


def _storage(layer: Linear, given: str, io_type: str) -> str:
    if given in STREAMED and io_type != "io_stream":
        raise ConfigError(
            f"WeightStorage {given} of {layer.kind} {layer.name!r} needs IOType io_stream (its weights arrive "
            "through a stream from DDR); io_parallel layers take auto, bram or lutram"
        )
    if given != "auto":
        return given
    banks, words, bits = weight_memory(layer)
    return "lutram" if words * bits <= LUTRAM_BITS else "bram"
