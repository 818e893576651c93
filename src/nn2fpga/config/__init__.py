"""The YAML configuration: hls4ml-style keys, validated in two stages, resolved per layer.

Stage 1, `Config.from_yaml` / `from_text`: structure and values alone (no model needed).
Stage 2, `Config.bind(graph)`: layer names and precision roles against the model's graph.
Passes then call `Config.resolve(layer)`: every setting, and every precision role on its own, comes
from the first of LayerName > LayerType > Model > built-in defaults that sets it, with the YAML path
it came from.

Everything derives from three declarative tables: `ROLES` (precision roles, their defaults and
which ones a plain `Precision: <type>` string sets), `LAYER_KEYS` (settings allowed at Model,
LayerType and LayerName level) and `TOP_LEVEL` (top-level keys and sections). A new top-level
section is one more `Key` in `TOP_LEVEL`; it then appears as a `Config` attribute, in `to_dict`
and in `resolved_yaml`. Errors start with the YAML path and name what is allowed.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from nn2fpga.ir.errors import ConfigError, closest
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import LAYER_KINDS, Activation, Layer
from nn2fpga.ir.names import cpp_name
from nn2fpga.ir.types import FixedType

EXACT = "exact"  # accumulator value: the pass computes a width where no product or sum is rounded


# ---- precision roles ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Role:
    default: str
    doc: str
    data: bool = False  # set by a plain `Precision: <type>` string
    exact: bool = False  # accepts "exact"


_DATA = "ap_fixed<16,6>"
ROLES: dict[str, Role] = {
    "result": Role(_DATA, "layer output", data=True),
    "weight": Role(_DATA, "weights", data=True),
    "bias": Role(_DATA, "biases", data=True),
    "scale": Role(_DATA, "BatchNorm scale", data=True),
    "accum": Role(EXACT, "accumulator; exact = wide enough that no product or sum is rounded", exact=True),
    "table": Role("ap_ufixed<18,1,AP_RND>", "sigmoid / tanh lookup-table entries"),
    "exp_table": Role("ap_ufixed<18,1,AP_RND>", "softmax exp(x - max) table entries"),
    "inv_table": Role("ap_ufixed<18,1,AP_RND>", "softmax 1 / sum table entries"),
    "alpha": Role("ap_ufixed<18,0,AP_RND>", "leaky_relu negative slope"),
    "slope": Role("ap_ufixed<18,0,AP_RND>", "hard_sigmoid slope"),
    "offset": Role("ap_ufixed<18,0,AP_RND>", "hard_sigmoid offset"),
    "recip": Role("ap_ufixed<24,1,AP_RND>", "average pooling reciprocal 1/n (the sum is exact, then multiplied)"),
}
# Defaults that depend on the activation function: (layer class, fn, role) -> type.
FN_ROLE_DEFAULTS: dict[tuple[type[Layer], str, str], str] = {
    (Activation, "tanh", "table"): "ap_fixed<18,2,AP_RND>",  # tanh is signed, in (-1, 1)
}
DATA_ROLES = tuple(r for r, spec in ROLES.items() if spec.data)
KINDS: dict[str, type[Layer]] = {cls.__name__: cls for cls in LAYER_KINDS}
ALL_ROLES = tuple(r for r in ROLES if any(r in cls.TYPE_ROLES for cls in LAYER_KINDS))


def describe(layer: Layer) -> str:
    """`Dense`, `Dense+relu`, `Activation(tanh)`: the kind as messages and comments name it."""
    if isinstance(layer, Activation):
        return f"{layer.kind}({layer.fn})"
    fused = getattr(layer, "activation", "linear")
    return layer.kind if fused == "linear" else f"{layer.kind}+{fused}"


def default_precision(layer: Layer, role: str) -> FixedType | str:
    """The built-in type of `role` in `layer` (FixedType, or "exact" for the accumulator)."""
    text = FN_ROLE_DEFAULTS.get((type(layer), getattr(layer, "fn", ""), role)) or ROLES[role].default
    return text if text == EXACT else FixedType.parse(text)


# ---- value checkers: (value, path) -> normalized value, or ConfigError ---------------------------------


def _fail(path: str, message: str) -> NoReturn:
    raise ConfigError(f"{path}: {message}")


def _got(value: Any) -> str:
    names = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "mapping"}
    return "nothing (null)" if value is None else f"{names.get(type(value), type(value).__name__)} {value!r}"


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _mapping(value: Any, path: str) -> Mapping[Any, Any]:
    if value is None:  # `Model:` with nothing under it
        return {}
    if not isinstance(value, Mapping):
        _fail(path, f"expected a mapping, got {_got(value)}")
    return value


def _unknown(path: str, word: Any, allowed: Any, what: str = "key") -> NoReturn:
    _fail(path, f"unknown {what}{closest(str(word), allowed)}; allowed: {', '.join(allowed)}")


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        _fail(path, f"expected a non-empty string, got {_got(value)}")
    return value.strip()


def _identifier(value: Any, path: str) -> str:
    name = _string(value, path)
    if cpp_name(name) != name:  # the one helper that makes C++ identifiers decides what is legal
        _fail(
            path,
            f"{name!r} is not a usable C++ identifier (letters, digits, _; no leading digit, C++ keyword "
            "or 'n2f' prefix)",
        )
    return name


def _positive_number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        _fail(path, f"expected a number > 0, got {_got(value)}")
    return float(value)


def _positive_int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _fail(path, f"expected an integer >= 1, got {_got(value)}")
    return value


def _choice(*allowed: str) -> Callable[[Any, str], str]:
    """A checker accepting one of `allowed`, case-insensitively; returns the lower-case spelling."""

    def check(value: Any, path: str) -> str:
        if not isinstance(value, str) or value.strip().lower() not in {a.lower() for a in allowed}:
            hint = closest(value.lower(), [a.lower() for a in allowed]) if isinstance(value, str) else ""
            _fail(path, f"expected one of {', '.join(allowed)}{hint}, got {_got(value)}")
        return value.strip().lower()

    return check


_strategy = _choice("Latency", "Resource")


def _names(value: Any, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        _fail(path, f"expected a list of pass names, got {_got(value)}")
    names = [_string(v, f"{path}[{i}]") for i, v in enumerate(value)]
    for i, name in enumerate(names):
        if not name.isidentifier():
            _fail(f"{path}[{i}]", f"{name!r} is not a pass function name")
    return tuple(dict.fromkeys(names))  # duplicates dropped, order kept


def _type(value: Any, path: str, role: str | None) -> FixedType | str:
    """One precision value; `role` None means a plain string applying to the data roles."""
    if isinstance(value, str) and value.strip().lower() == EXACT:
        if role is None or not ROLES[role].exact:
            allowed = [r for r, spec in ROLES.items() if spec.exact]
            _fail(path, f"'exact' is only allowed for {', '.join(allowed)}")
        return EXACT
    if not isinstance(value, str):
        _fail(path, f"expected a type string like '{_DATA}', got {_got(value)}")
    try:
        return FixedType.parse(value)
    except ValueError as e:
        # YAML splits `{Precision: ap_fixed<16,6>}` at the comma: flow mappings need the type quoted
        hint = " (inside YAML {...} or [...], quote types: 'ap_fixed<16,6>')" if ">" not in value else ""
        raise ConfigError(f"{path}: {e}{hint}") from e


def _precision(value: Any, path: str) -> FixedType | dict[str, FixedType | str]:
    """A type string (every data role) or a mapping role -> type (roles of any kind; see `_check_fits`)."""
    if not isinstance(value, Mapping):
        if not isinstance(value, str):
            _fail(path, f"expected a type string or a mapping role -> type, got {_got(value)}")
        return _type(value, path, None)  # type: ignore[return-value]  # never "exact" with role None
    out: dict[str, FixedType | str] = {}
    for role, v in value.items():
        sub = _join(path, role)
        if role not in ALL_ROLES:
            _unknown(sub, role, ALL_ROLES, "precision role")
        out[role] = _type(v, sub, role)
    return out


def _dump_precision(spec: FixedType | dict[str, FixedType | str]) -> str | dict[str, str]:
    return str(spec) if isinstance(spec, FixedType) else {role: str(t) for role, t in spec.items()}


# ---- the declarative tables ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """One config key: its YAML name, checker, default, one-line doc and attribute name.

    `check(value, path)` returns the normalized value or raises ConfigError starting with `path`.
    """

    name: str
    attr: str
    check: Callable[..., Any]
    default: Any
    doc: str
    dump: Callable[[Any], Any] = lambda v: v  # normalized value -> plain YAML data
    multipliers_only: bool = False  # only kinds with HAS_MULTIPLIERS take it


# One row per key, formatted as the table it is.
# fmt: off
LAYER_KEYS: tuple[Key, ...] = (
    Key("Precision", "precision", _precision, None,
        "type string (every data role) or mapping role -> type", dump=_dump_precision),
    Key("ReuseFactor", "reuse_factor", _positive_int, 1,
        "multipliers share each DSP this many times (1 = fully parallel)", multipliers_only=True),
    Key("Strategy", "strategy", _strategy, "latency",
        "Latency (registers, lowest latency) | Resource (BRAM weights, large layers)",
        dump=str.capitalize, multipliers_only=True),
)
# fmt: on
_LAYER_KEY = {k.name: k for k in LAYER_KEYS}


def _settings(value: Any, path: str, kind: type[Layer] | None = None) -> dict[str, Any]:
    """One level of layer settings (Model, LayerType.<kind>, LayerName.<name>): only the keys given."""
    out = {}
    for name, v in _mapping(value, path).items():
        sub = _join(path, name)
        key = _LAYER_KEY.get(name)
        if key is None:
            _unknown(sub, name, _LAYER_KEY)
        out[name] = key.check(v, sub)
    if kind is not None:
        _check_fits(out, path, kind.__name__, kind.TYPE_ROLES, kind.HAS_MULTIPLIERS)
    return out


def _check_fits(settings: dict[str, Any], path: str, owner: str, roles: tuple[str, ...], multipliers: bool) -> None:
    """Raise if one level of settings sets something `owner` (a layer kind, or one layer) does not have."""
    for name in settings:
        if _LAYER_KEY[name].multipliers_only and not multipliers:
            _fail(f"{path}.{name}", f"{owner} has no multipliers, so no {name}; allowed: Precision")
    spec = settings.get("Precision")
    if isinstance(spec, FixedType) and not set(roles) & set(DATA_ROLES):
        _fail(
            f"{path}.Precision",
            f"{owner} has none of the roles a plain type sets; its roles: {', '.join(roles) or 'none'}",
        )
    for role in spec if isinstance(spec, dict) else ():
        if role not in roles:
            _fail(f"{path}.Precision.{role}", f"{owner} has no {role!r}; allowed: {', '.join(roles) or 'none'}")


def _layer_types(value: Any, path: str) -> dict[str, dict[str, Any]]:
    out = {}
    for kind, v in _mapping(value, path).items():
        if kind not in KINDS:
            _unknown(_join(path, kind), kind, KINDS, "layer kind")
        out[kind] = _settings(v, _join(path, kind), KINDS[kind])
    return out


def _layer_names(value: Any, path: str) -> dict[str, dict[str, Any]]:
    out = {}
    for name, v in _mapping(value, path).items():
        if not isinstance(name, str):
            _fail(_join(path, name), f"layer names are strings, got {_got(name)}")
        out[name] = _settings(v, _join(path, name))
    return out


def _dump_settings(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: _LAYER_KEY[k].dump(v) for k, v in settings.items()}


def _dump_levels(levels: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: _dump_settings(settings) for name, settings in levels.items()}


# ---- serving (Triton model repository) --------------------------------------------------------------

# YAML key -> (default, doc); `Serving:` fills what it does not set from here.
SERVING_KEYS: dict[str, tuple[Any, str]] = {
    "Backend": ("csim", "what the Triton model runs: csim (the g++-built kernel) | reference (NumPy) | xrt (a card)"),
    "MaxBatchSize": (64, "max_batch_size: largest batch one request or one dynamic batch may hold"),
    "DynamicBatching": (True, "let Triton merge requests into batches"),
    "PreferredBatchSizes": ([], "dynamic_batching.preferred_batch_size; [] = as large as the queue allows"),
    "MaxQueueDelayMicroseconds": (100, "dynamic_batching.max_queue_delay_microseconds"),
    "Instances": (1, "instance_group count (KIND_CPU): model instances, each its own process"),
}
_serving_backend = _choice("csim", "reference", "xrt")


def _non_negative_int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        _fail(path, f"expected an integer >= 0, got {_got(value)}")
    return value


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        _fail(path, f"expected true or false, got {_got(value)}")
    return value


def _serving(value: Any, path: str) -> dict[str, Any]:
    """The `Serving:` section, completed with the defaults of `SERVING_KEYS`."""
    checks: dict[str, Callable[[Any, str], Any]] = {
        "Backend": _serving_backend,
        "MaxBatchSize": _positive_int,
        "DynamicBatching": _bool,
        "PreferredBatchSizes": lambda v, p: [_positive_int(b, f"{p}[{i}]") for i, b in enumerate(_list(v, p))],
        "MaxQueueDelayMicroseconds": _non_negative_int,
        "Instances": _positive_int,
    }
    out = {name: copy.copy(default) for name, (default, _) in SERVING_KEYS.items()}
    for name, v in _mapping(value, path).items():
        if name not in checks:
            _unknown(_join(path, name), name, SERVING_KEYS)
        out[name] = checks[name](v, _join(path, name))
    for i, size in enumerate(out["PreferredBatchSizes"]):
        if size > out["MaxBatchSize"]:
            _fail(f"{path}.PreferredBatchSizes[{i}]", f"{size} exceeds MaxBatchSize {out['MaxBatchSize']}")
    return out


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        _fail(path, f"expected a list, got {_got(value)}")
    return value


def _split(value: Any, path: str) -> str | None:
    return None if value is None else _string(value, path)


# ---- calibration (post-training precision from data; nn2fpga.passes.calibrate) -------------------------

CALIBRATION_BITS = (8, 10, 12, 14, 16, 18, 20, 24, 32)
# key -> (default, doc); `data` is required.
CALIBRATION_KEYS: dict[str, tuple[Any, str]] = {
    "data": (None, ".npy file of inputs (N, *input shape), float or integer; relative to this file"),
    "labels": (None, ".npy file of class labels (N,) or one-hot (N, classes): adds ROC AUC to the report"),
    "bits": (16, f"total bits of every calibrated type: {', '.join(map(str, CALIBRATION_BITS))}"),
    "margin": (1, "integer bits added above the observed range of each layer output"),
    "weight_bits": (None, "total bits of calibrated weight, bias and scale types (default: bits)"),
}


def _data_source(value: Any, path: str) -> Any:
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # an array, from the Python API
        return value
    return _string(value, path)


def _calibration(value: Any, path: str) -> dict[str, Any] | None:
    """The `Calibration:` section completed with defaults; None (or absent) switches calibration off."""
    if value is None:
        return None
    checks: dict[str, Callable[[Any, str], Any]] = {
        "data": _data_source,
        "labels": lambda v, p: None if v is None else _data_source(v, p),
        "bits": _choice_int(CALIBRATION_BITS),
        "margin": _non_negative_int,
        "weight_bits": lambda v, p: None if v is None else _choice_int(CALIBRATION_BITS)(v, p),
    }
    out = {name: default for name, (default, _) in CALIBRATION_KEYS.items()}
    for name, v in _mapping(value, path).items():
        if name not in checks:
            _unknown(_join(path, name), name, CALIBRATION_KEYS)
        out[name] = checks[name](v, _join(path, name))
    if out["data"] is None:
        _fail(f"{path}.data", "missing: the .npy file of calibration inputs (N, *input shape)")
    return out


def _choice_int(allowed: tuple[int, ...]) -> Callable[[Any, str], int]:
    def check(value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
            _fail(path, f"expected one of {', '.join(map(str, allowed))}, got {_got(value)}")
        return value

    return check


def _dump_calibration(spec: dict[str, Any] | None) -> dict[str, Any] | None:
    if spec is None:
        return None
    return {k: (f"<array {getattr(v, 'shape', '')}>" if hasattr(v, "shape") else v) for k, v in spec.items()}


# fmt: off
TOP_LEVEL: tuple[Key, ...] = (
    Key("ProjectName", "project_name", _identifier, None, "C++ top-function and project name"),
    Key("Part", "part", _string, "xcu250-figd2104-2L-e", "FPGA part number"),
    Key("ClockPeriod", "clock_period", _positive_number, 5.0, "target clock period in ns"),
    Key("IOType", "io_type", _choice("io_parallel", "io_stream"), "io_parallel",
        "io_parallel (arrays, pipelined) | io_stream (hls::stream FIFOs, dataflow)"),
    Key("WeightLiterals", "weight_literals", _choice("auto", "inline", "at_build"), "auto",
        "synthesis literals of the weights: inline (written by convert) | at_build (by build_prj.tcl"
        " from weights/*.npy) | auto (inline up to 1 M values)"),
    Key("DisabledPasses", "disabled_passes", _names, (), "compiler passes switched off, by function name", dump=list),
    Key("Model", "model", _settings, {}, "every layer, unless LayerType or LayerName says otherwise",
        dump=_dump_settings),
    Key("LayerType", "layer_type", _layer_types, {}, "per layer kind (Input, Dense, ...)", dump=_dump_levels),
    Key("LayerName", "layer_name", _layer_names, {}, "per layer, by name", dump=_dump_levels),
    Key("Split", "split", _split, None,
        "layer name: the model up to and including it runs on the accelerator, the rest on the CPU (float)"),
    Key("Serving", "serving", _serving, {k: d for k, (d, _) in SERVING_KEYS.items()},
        "Triton model repository (triton/): backend, batching, instances"),
    Key("Calibration", "calibration", _calibration, None,
        "post-training precision from data: {data: X.npy, bits: 16, margin: 1, labels: y.npy}",
        dump=_dump_calibration),
)
# fmt: on
_TOP_KEY = {k.name: k for k in TOP_LEVEL}


# ---- the config ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerSettings:
    """What the config says for one layer, and where each setting came from."""

    precision: dict[str, FixedType | str]  # role -> FixedType, or "exact" for accum
    reuse_factor: int
    strategy: str  # "latency" | "resource"
    source: dict[str, str]  # "ReuseFactor" / "Precision.<role>" -> YAML path, or "default"


class Config:
    """A validated configuration. Attributes (one per `TOP_LEVEL` key) hold given values or defaults."""

    project_name: str | None
    part: str
    clock_period: float
    io_type: str
    disabled_passes: tuple[str, ...]
    model: dict[str, Any]
    layer_type: dict[str, dict[str, Any]]
    layer_name: dict[str, dict[str, Any]]
    split: str | None
    serving: dict[str, Any]
    calibration: dict[str, Any] | None
    # Set by the calibrate pass: layer name -> role -> type chosen from data. `resolve` ranks it below
    # LayerName and LayerType and above Model (explicit per-layer and per-kind settings win).
    calibrated: dict[str, dict[str, FixedType]]

    def __init__(self, data: Mapping[str, Any] | None = None, filename: str | None = None) -> None:
        """Validate `data` (the parsed YAML document); `filename` is named in error messages."""
        self.filename = filename
        self._given: dict[str, Any] = {}
        try:
            for name, value in _mapping(data, "the config document").items():
                key = _TOP_KEY.get(name)
                if key is None:
                    _unknown(str(name), name, _TOP_KEY)
                self._given[name] = key.check(value, name)
        except ConfigError as e:
            self._reraise(e)
        for key in TOP_LEVEL:
            setattr(self, key.attr, self._given.get(key.name, copy.copy(key.default)))  # no shared {}
        self.calibrated = {}

    def _reraise(self, e: ConfigError) -> NoReturn:
        raise (ConfigError(f"{e} (in {self.filename})") if self.filename else e) from e

    # ---- loading ----------------------------------------------------------------------------------------

    @classmethod
    def from_yaml(cls, source: str | Path | Mapping[str, Any] | Config | None) -> Config:
        """A config from a YAML file path, an already parsed mapping, or None (all defaults)."""
        if isinstance(source, Config):
            return source
        if source is None or isinstance(source, Mapping):
            return cls(source)
        path = Path(source)
        try:
            text = path.read_text()
        except OSError as e:
            hint = "; for YAML text use Config.from_text" if "\n" in str(source) or ":" in str(source) else ""
            raise ConfigError(f"{source}: cannot read config file: {e.strerror or e}{hint}") from e
        return cls.from_text(text, str(path))

    @classmethod
    def from_text(cls, text: str, filename: str | None = None) -> Config:
        """A config from YAML text; errors name `filename` (and the line, for syntax errors)."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark, context, start = (getattr(e, a, None) for a in ("problem_mark", "context", "context_mark"))
            where = (filename or "<config>") + (f":{mark.line + 1}:{mark.column + 1}" if mark else "")
            what = str(getattr(e, "problem", None) or e)
            if context and start:  # where the construct that broke began, often the line to fix
                what += f" ({context} at line {start.line + 1}, column {start.column + 1})"
            raise ConfigError(f"{where}: invalid YAML: {what}") from e
        return cls(data, filename)

    def to_dict(self) -> dict[str, Any]:
        """The config as given (normalized spellings), re-loadable by `from_yaml`."""
        return {name: _TOP_KEY[name].dump(v) for name, v in self._given.items()}

    def __repr__(self) -> str:
        return f"Config({self.to_dict()!r})"

    # ---- binding to a model ---------------------------------------------------------------------------

    def bind(self, graph: Graph) -> None:
        """Check LayerName entries against `graph`: layer names, precision roles, per-layer keys.

        Bind the graph the frontend produced: passes remove layers (a folded BatchNorm) that the
        user's config may name. Layers fused into others (`layer.fused`) count as present.
        """
        layers = {layer.name: layer for layer, _ in _configurable_layers(graph)}
        names = list(layers)
        try:
            for name, settings in self.layer_name.items():
                path = f"LayerName.{name}"
                if name not in layers:
                    listed = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
                    hint = closest(name, names)
                    _fail(path, f"no layer named {name!r} in model {graph.name!r}{hint}; layers: {listed}")
                layer = layers[name]
                _check_fits(settings, path, describe(layer), layer.type_roles(), layer.HAS_MULTIPLIERS)
        except ConfigError as e:
            self._reraise(e)

    # ---- resolution -----------------------------------------------------------------------------------

    def resolve(self, layer: Layer) -> LayerSettings:
        """Every setting of `layer`: LayerName > LayerType > Model > default, per key and per precision role."""
        levels = [
            (f"LayerName.{layer.name}", self.layer_name.get(layer.name, {})),
            (f"LayerType.{layer.kind}", self.layer_type.get(layer.kind, {})),
            (f"Calibration[{layer.name}]", {"Precision": self.calibrated.get(layer.name, {})}),
            ("Model", self.model),
        ]
        values: dict[str, Any] = {}
        source: dict[str, str] = {}
        precision: dict[str, FixedType | str] = {}
        for role in layer.type_roles():
            precision[role], source[f"Precision.{role}"] = next(
                (found for path, s in levels if (found := _precision_at(s.get("Precision"), role, path))),
                (default_precision(layer, role), "default"),
            )
        for role, fixed in layer.fixed.items():  # a type the model fixes (QKeras quantizer) wins over every level
            given = source.get(f"Precision.{role}", "default")
            if given.startswith("LayerName.") and precision[role] != fixed:
                _fail(given, f"{precision[role]} conflicts with {fixed}, which the model's quantizer fixes for layer "
                      f"{layer.name!r}; remove the setting or give exactly that type")  # fmt: skip
            precision[role], source[f"Precision.{role}"] = fixed, "quantizer"
        for key in LAYER_KEYS:
            if key.name != "Precision":
                found = ((s[key.name], f"{path}.{key.name}") for path, s in levels if key.name in s)
                values[key.attr], source[key.name] = next(found, (key.default, "default"))
        return LayerSettings(precision=precision, source=source, **values)

    def resolved_project_name(self, graph: Graph) -> str:
        """ProjectName, or the model name made a C++ identifier."""
        return self.project_name or cpp_name(graph.name)

    def resolved_yaml(self, graph: Graph) -> str:
        """A complete, commented config listing every layer of `graph` with every resolved setting.

        Loading it back gives a config that resolves identically for every layer of `graph`.
        LayerType is folded into the LayerName entries (so editing a listed layer always takes effect).
        """
        used = {role for layer, _ in _configurable_layers(graph) for role in layer.type_roles()}
        lines = [
            f"# nn2fpga configuration for model {graph.name!r}, resolved for every layer.",
            "# Precedence: LayerName > LayerType > Model > built-in defaults, per key and per precision role.",
            "# Precision roles:",
            *(f"#   {role}: {spec.doc}" for role, spec in ROLES.items() if role in used),
        ]
        for key in TOP_LEVEL:
            if key.name == "LayerType":
                continue
            if key.name == "LayerName":
                lines.append(f"LayerName:  # {key.doc}")
                lines += [f"  {line}" for line in self._layer_yaml(graph)]
                continue
            value = self.resolved_project_name(graph) if key.name == "ProjectName" else getattr(self, key.attr)
            if key.name == "Calibration" and self.calibrated:  # applied: its types are the LayerName entries
                spec = key.dump(value)
                lines.append(f"# Calibration: {spec} was applied; the LayerName types below include its choices")
                continue
            if key.name == "Model":  # complete the Model level so it documents the fallbacks
                defaults = {k.name: k.default for k in LAYER_KEYS} | {"Precision": FixedType.parse(_DATA)}
                value = defaults | self.model
            lines += _commented(key.name, key.dump(value), key.doc)
        return "\n".join(lines) + "\n"

    def _layer_yaml(self, graph: Graph) -> list[str]:
        lines = []
        for layer, note in _configurable_layers(graph):
            settings = self.resolve(layer)
            entry: dict[str, Any] = {}
            if settings.precision:
                entry["Precision"] = {role: str(t) for role, t in settings.precision.items()}
            if layer.HAS_MULTIPLIERS:
                entry.update({k.name: k.dump(getattr(settings, k.attr)) for k in LAYER_KEYS if k.multipliers_only})
            shape = "x".join(map(str, layer.shape)) or "scalar"
            note += "" if entry else "; nothing to configure"
            lines += _commented(layer.name, entry, f"{describe(layer)}, shape {shape}{note}")
        return lines


def _configurable_layers(graph: Graph) -> list[tuple[Layer, str]]:
    """(layer, comment note) for every layer of `graph`, each followed by the layer fused into it, if any.

    A pass that fuses an Activation into a Dense keeps it as `dense.fused` and resolves its settings by
    its own name, so the config of a compiled graph still names it.
    """
    out: list[tuple[Layer, str]] = []
    for layer in graph.layers():
        out.append((layer, ""))
        fused = getattr(layer, "fused", None)
        if isinstance(fused, Layer):
            out.append((fused, f"; fused into {layer.name}"))
    return out


def _precision_at(spec: Any, role: str, path: str) -> tuple[FixedType | str, str] | None:
    """The type a level's Precision sets for `role`, with its YAML path; None if it sets none."""
    if isinstance(spec, FixedType):
        return (spec, f"{path}.Precision") if ROLES[role].data else None
    if isinstance(spec, dict) and role in spec:
        return spec[role], f"{path}.Precision.{role}"
    return None


def _commented(name: str, value: Any, comment: str) -> list[str]:
    """`name: value  # comment` as YAML lines (block style; scalars quoted only where YAML needs it)."""
    flow = isinstance(value, list)  # `DisabledPasses: [a, b]` on one line; mappings in block style
    text = yaml.safe_dump({name: value}, default_flow_style=None if flow else False, sort_keys=False, width=1 << 30)
    first, *rest = text.rstrip("\n").split("\n")
    return [f"{first}  # {comment}", *rest]
