"""Per-layer settings: precision roles and their defaults, the Model / LayerType / LayerName keys,
and the checks of one level of settings against a layer kind."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from nn2fpga.config.schema import Key, choice, fail, got, join, mapping, positive_int, section
from nn2fpga.ir.errors import ConfigError
from nn2fpga.ir.kinds import LAYER_KINDS
from nn2fpga.ir.layers import Activation, Layer, LayerNorm, PReLU
from nn2fpga.ir.recurrent import Recurrent
from nn2fpga.ir.types import FixedType

EXACT = "exact"  # accumulator value: the pass computes a width where no product or sum is rounded


@dataclass(frozen=True)
class Role:
    default: str
    doc: str
    data: bool = False  # set by a plain `Precision: <type>` string
    exact: bool = False  # accepts "exact"


DEFAULT_DATA = "ap_fixed<16,6>"
ROLES: dict[str, Role] = {
    "result": Role(DEFAULT_DATA, "layer output", data=True),
    "weight": Role(DEFAULT_DATA, "weights", data=True),
    "bias": Role(DEFAULT_DATA, "biases", data=True),
    "scale": Role(DEFAULT_DATA, "BatchNorm scale", data=True),
    "accum": Role(EXACT, "accumulator; exact = wide enough that no product or sum is rounded", exact=True),
    "table": Role(
        "ap_ufixed<18,1,AP_RND>",
        "table entries of sigmoid, tanh, softsign and the tail tables (elu, selu, softplus, swish, gelu, hard_swish)",
    ),
    "rec_table": Role("ap_ufixed<18,1,AP_RND>", "LSTM / GRU recurrent activation (sigmoid) table entries"),
    "cell": Role(DEFAULT_DATA, "LSTM cell state c", data=True),
    "exp_table": Role("ap_ufixed<18,1,AP_RND>", "softmax exp(x - max) table entries"),
    "inv_table": Role("ap_ufixed<18,1,AP_RND>", "softmax 1 / sum table entries"),
    "alpha": Role("ap_ufixed<18,0,AP_RND>", "leaky_relu negative slope; PReLU's per-channel slopes"),
    "slope": Role("ap_ufixed<18,0,AP_RND>", "hard_sigmoid slope; selu scale"),
    "offset": Role("ap_ufixed<18,0,AP_RND>", "hard_sigmoid offset"),
    "threshold": Role("ap_fixed<18,8,AP_RND>", "ReLU(threshold=...) threshold (relu_clip)"),
    "max_value": Role("ap_fixed<18,8,AP_RND>", "ReLU(max_value=...) ceiling, ReLU6's 6 (relu_clip)"),
    "recip": Role("ap_ufixed<24,1,AP_RND>", "average pooling reciprocal 1/n (the sum is exact, then multiplied)"),
}
# Defaults that depend on the activation function: (layer class, fn, role) -> type.
FN_ROLE_DEFAULTS: dict[tuple[type[Layer], str, str], str] = {
    (Activation, "tanh", "table"): "ap_fixed<18,2,AP_RND>",  # tanh is signed, in (-1, 1)
    (Activation, "elu", "table"): "ap_fixed<18,2,AP_RND>",  # alpha (e^x - 1) in (-alpha, 0]: alpha <= 2
    (Activation, "selu", "table"): "ap_fixed<18,2,AP_RND>",  # in (-1.758, 0]
    (Activation, "selu", "slope"): "ap_ufixed<18,1,AP_RND>",  # the scale 1.0507
    (Activation, "softplus", "table"): "ap_ufixed<18,4,AP_RND>",  # in (0, 8]
    (Activation, "swish", "table"): "ap_fixed<18,5,AP_RND>",  # in [-0.28, 8)
    (Activation, "gelu", "table"): "ap_fixed<18,5,AP_RND>",  # in [-0.17, 8)
    (Activation, "hard_swish", "table"): "ap_fixed<18,3,AP_RND>",  # in [-0.375, 3)
    (Activation, "softsign", "table"): "ap_fixed<18,2,AP_RND>",  # in (-1, 1)
    (PReLU, "", "alpha"): "ap_fixed<18,3,AP_RND>",  # learned slopes, either sign, |alpha| < 4
    (Recurrent, "", "table"): "ap_fixed<18,2,AP_RND>",  # tanh, in (-1, 1)
    (LayerNorm, "", "table"): "ap_ufixed<18,6,AP_RND>",  # 1 / sqrt(var + epsilon) <= 1 / sqrt(epsilon) ~ 31.6
}
DATA_ROLES = tuple(r for r, spec in ROLES.items() if spec.data)
KINDS: dict[str, type[Layer]] = {cls.__name__: cls for cls in LAYER_KINDS}
ALL_ROLES = tuple(r for r in ROLES if any(r in cls.TYPE_ROLES for cls in LAYER_KINDS))


def default_precision(layer: Layer, role: str) -> FixedType | str:
    """The built-in type of `role` in `layer` (FixedType, or "exact" for the accumulator)."""
    text = FN_ROLE_DEFAULTS.get((type(layer), getattr(layer, "fn", ""), role)) or ROLES[role].default
    return text if text == EXACT else FixedType.parse(text)


def precision_value(value: Any, path: str, role: str | None) -> FixedType | str:
    """One precision value; `role` None means a plain string applying to the data roles."""
    if isinstance(value, str) and value.strip().lower() == EXACT:
        if role is None or not ROLES[role].exact:
            allowed = [r for r, spec in ROLES.items() if spec.exact]
            fail(path, f"'exact' is only allowed for {', '.join(allowed)}")
        return EXACT
    if not isinstance(value, str):
        fail(path, f"expected a type string like '{DEFAULT_DATA}', got {got(value)}")
    try:
        return FixedType.parse(value)
    except ValueError as e:
        # YAML splits `{Precision: ap_fixed<16,6>}` at the comma: flow mappings need the type quoted
        hint = " (inside YAML {...} or [...], quote types: 'ap_fixed<16,6>')" if ">" not in value else ""
        raise ConfigError(f"{path}: {e}{hint}") from e


def precision(value: Any, path: str) -> FixedType | dict[str, FixedType | str]:
    """A type string (every data role) or a mapping role -> type (roles of any kind; see `check_fits`)."""
    if not isinstance(value, Mapping):
        if not isinstance(value, str):
            fail(path, f"expected a type string or a mapping role -> type, got {got(value)}")
        return precision_value(value, path, None)  # type: ignore[return-value]  # never "exact" with role None
    return section(value, path, {role: partial(precision_value, role=role) for role in ALL_ROLES}, "precision role")


def dump_precision(spec: FixedType | dict[str, FixedType | str]) -> str | dict[str, str]:
    return str(spec) if isinstance(spec, FixedType) else {role: str(t) for role, t in spec.items()}


def table_size(value: Any, path: str) -> int:
    n = positive_int(value, path)
    if n & (n - 1) or not 64 <= n <= 65536:
        fail(path, f"expected a power of two from 64 to 65536, got {n}")
    return n


strategy = choice("Latency", "Resource")
weight_storage = choice("auto", "bram", "lutram", "uram", "offchip")
multipliers = choice("auto", "dsp", "lut", "packed")

# fmt: off
# One row per key, formatted as the table it is.
LAYER_KEYS: tuple[Key, ...] = (
    Key("Precision", "precision", precision, None,
        "type string (every data role) or mapping role -> type", dump=dump_precision),
    Key("ReuseFactor", "reuse_factor", positive_int, 1,
        "multipliers share each DSP this many times (1 = fully parallel)", multipliers_only=True),
    Key("Strategy", "strategy", strategy, "latency",
        "Latency (registers, lowest latency) | Resource (BRAM weights, large layers)",
        dump=str.capitalize, multipliers_only=True),
    Key("PE", "pe", positive_int, 0,
        "output lanes per clock; divides the outputs (written only when given)", multipliers_only=True),
    Key("SIMD", "simd", positive_int, 0,
        "input lanes per clock; divides the inputs (Conv2D: input channels; DepthwiseConv2D: kernel taps)",
        multipliers_only=True),
    Key("WeightStorage", "weight_storage", weight_storage, "auto",
        "auto | bram | lutram | uram | offchip: where the weight banks live", multipliers_only=True),
    Key("Multipliers", "multipliers", multipliers, "auto",
        "auto | dsp | lut | packed: lut builds the folded products in LUTs (BIND_OP impl=fabric); packed puts "
        "two products of one input in each DSP48E2 (io_stream, weights <= 8 bits)", multipliers_only=True),
    Key("Lanes", "lanes", positive_int, 0,
        "values per stream word (io_stream) of a layer without multipliers; divides its channels", plain_only=True),
    Key("TableSize", "table_size", table_size, 1024,
        "entries of each table a layer reads (sigmoid, tanh, softsign, softmax, elu, selu, softplus, swish, gelu, "
        "hard_swish, LayerNormalization, recurrent cells): a power of two, 64 to 65536", tables_only=True),
)
# fmt: on
LAYER_KEY = {k.name: k for k in LAYER_KEYS}


def layer_settings(value: Any, path: str, kind: type[Layer] | None = None) -> dict[str, Any]:
    """One level of layer settings (Model, LayerType.<kind>, LayerName.<name>): only the keys given."""
    out = section(value, path, {k.name: k.check for k in LAYER_KEYS})
    if kind is not None:
        check_fits(out, path, kind.__name__, kind.TYPE_ROLES, kind.HAS_MULTIPLIERS)
    return out


def check_fits(settings: dict[str, Any], path: str, owner: str, roles: tuple[str, ...], multipliers: bool) -> None:
    """Raise if one level of settings sets something `owner` (a layer kind, or one layer) does not have."""
    for name in settings:
        if LAYER_KEY[name].multipliers_only and not multipliers:
            fail(f"{path}.{name}", f"{owner} has no multipliers, so no {name}; allowed: Precision, Lanes")
        if LAYER_KEY[name].plain_only and multipliers:
            fail(f"{path}.{name}", f"the lanes of {owner} are its PE (output) and SIMD (input); set those")
        if LAYER_KEY[name].tables_only and not {"table", "exp_table"} & set(roles):
            fail(f"{path}.{name}", f"{owner} reads no table, so no {name}")
    spec = settings.get("Precision")
    if isinstance(spec, FixedType) and not set(roles) & set(DATA_ROLES):
        fail(
            f"{path}.Precision",
            f"{owner} has none of the roles a plain type sets; its roles: {', '.join(roles) or 'none'}",
        )
    for role in spec if isinstance(spec, dict) else ():
        if role not in roles:
            fail(f"{path}.Precision.{role}", f"{owner} has no {role!r}; allowed: {', '.join(roles) or 'none'}")


def layer_types(value: Any, path: str) -> dict[str, dict[str, Any]]:
    checks = {name: partial(layer_settings, kind=kind) for name, kind in KINDS.items()}
    return section(value, path, checks, "layer kind")


def layer_names(value: Any, path: str) -> dict[str, dict[str, Any]]:
    out = {}
    for name, v in mapping(value, path).items():
        if not isinstance(name, str):
            fail(join(path, name), f"layer names are strings, got {got(name)}")
        out[name] = layer_settings(v, join(path, name))
    return out


def dump_settings(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: LAYER_KEY[k].dump(v) for k, v in settings.items()}


def dump_levels(levels: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: dump_settings(settings) for name, settings in levels.items()}


# fmt: off
# The three levels of layer settings, rows of TOP_LEVEL (nn2fpga.config) in this order.
LEVEL_KEYS: tuple[Key, ...] = (
    Key("Model", "model", layer_settings, {}, "every layer, unless LayerType or LayerName says otherwise",
        dump=dump_settings),
    Key("LayerType", "layer_type", layer_types, {}, "per layer kind (Input, Dense, ...)", dump=dump_levels),
    Key("LayerName", "layer_name", layer_names, {}, "per layer, by name", dump=dump_levels),
)
# fmt: on
