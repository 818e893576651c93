"""The YAML configuration: hls4ml-style keys, validated in two stages, resolved per layer.

Stage 1, `Config.from_yaml` / `from_text`: structure and values alone (no model needed).
Stage 2, `Config.bind(graph)`: layer names and precision roles against the model's graph.
Passes then call `Config.resolve(layer)`: every setting, and every precision role on its own, comes
from the first of LayerName > LayerType > calibrated (`layer.calibrated`, set by the calibrate pass)
> Model > built-in defaults that sets it, with the YAML path it came from.

The schema pieces live beside this module: `schema` (checkers, `Key`), `layers` (precision roles and
per-layer keys), `serving` and `calibration` (their sections).

Everything derives from three declarative tables: `ROLES` (precision roles, their defaults and
which ones a plain `Precision: <type>` string sets), `LAYER_KEYS` (settings allowed at Model,
LayerType and LayerName level) and `TOP_LEVEL` (top-level keys and sections). A new top-level
section is one more `Key` in `TOP_LEVEL`; it then appears as a `Config` attribute, in `to_dict`
and in `resolved_yaml`. Errors start with the YAML path and name what is allowed.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from nn2fpga.config.calibration import calibration_section, dump_calibration
from nn2fpga.config.layers import DEFAULT_DATA, EXACT, LAYER_KEYS, LEVEL_KEYS, ROLES, check_fits, default_precision
from nn2fpga.config.plan import plan_section
from nn2fpga.config.schema import (
    Key,
    choice,
    commented,
    fail,
    identifier,
    mapping,
    pass_names,
    positive_number,
    section,
    split_layer,
    stream_depths,
    string,
)
from nn2fpga.config.serving import SERVING_KEYS, serving_section
from nn2fpga.ir.errors import ConfigError, closest
from nn2fpga.ir.graph import Graph, describe
from nn2fpga.ir.layers import Layer
from nn2fpga.ir.names import cpp_name, input_vars, stream_names
from nn2fpga.ir.types import FixedType

__all__ = ["EXACT", "LAYER_KEYS", "ROLES", "SERVING_KEYS", "TOP_LEVEL", "Config", "LayerSettings", "default_precision",
           "describe"]  # fmt: skip

# fmt: off
TOP_LEVEL: tuple[Key, ...] = (
    Key("ProjectName", "project_name", identifier, None, "C++ top-function and project name"),
    Key("Part", "part", string, "xcu250-figd2104-2L-e", "FPGA part number"),
    Key("ClockPeriod", "clock_period", positive_number, 5.0, "target clock period in ns"),
    Key("IOType", "io_type", choice("auto", "io_parallel", "io_stream"), "auto",
        "io_parallel (arrays, pipelined) | io_stream (hls::stream FIFOs, dataflow) | auto (io_stream for CNNs"
        " with a feature map above 4096 values)"),
    Key("WeightLiterals", "weight_literals", choice("auto", "inline", "at_build"), "auto",
        "synthesis literals of the weights: inline (written by convert) | at_build (by build_prj.tcl"
        " from weights/*.npy) | auto (inline up to 1 M values)"),
    Key("DisabledPasses", "disabled_passes", pass_names, (), "compiler passes switched off, by function name",
        dump=list),
    *LEVEL_KEYS,  # Model, LayerType, LayerName: the levels of layer settings (nn2fpga.config.layers)
    Key("Streams", "streams", stream_depths, {},
        "io_stream FIFO depth per stream, by its name in the top function (nn2fpga simulate lists them); "
        "the written config lists every stream", dump=dict),
    Key("Split", "split", split_layer, None,
        "layer name: the model up to and including it runs on the accelerator, the rest on the CPU (float)"),
    Key("Serving", "serving", serving_section, {k: d for k, (d, _) in SERVING_KEYS.items()},
        "Triton model repository (triton/): backend, batching, instances"),
    Key("Calibration", "calibration", calibration_section, None,
        "post-training precision from data: {data: X.npy, bits: 16, margin: 1, labels: y.npy}",
        dump=dump_calibration),
    Key("Plan", "plan", plan_section, None,
        "convert chooses the folding and weight storage for Part (as nn2fpga plan): {Fill: 0.8, FPS: null}"),
)
# fmt: on
_TOP_KEY = {k.name: k for k in TOP_LEVEL}


def configurable_layers(graph: Graph) -> list[tuple[Layer, str]]:
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


def precision_at(spec: Any, role: str, path: str) -> tuple[FixedType | str, str] | None:
    """The type a level's Precision sets for `role`, with its YAML path; None if it sets none."""
    if isinstance(spec, FixedType):
        return (spec, f"{path}.Precision") if ROLES[role].data else None
    if isinstance(spec, dict) and role in spec:
        return spec[role], f"{path}.Precision.{role}"
    return None


# ---- the config ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerSettings:
    """What the config says for one layer, and where each setting came from."""

    precision: dict[str, FixedType | str]  # role -> FixedType, or "exact" for accum
    reuse_factor: int
    strategy: str  # "latency" | "resource"
    pe: int  # 0: not given
    simd: int
    weight_storage: str
    multipliers: str  # "auto" | "dsp" | "lut" | "packed"
    lanes: int
    table_size: int
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
    streams: dict[str, int]
    serving: dict[str, Any]
    calibration: dict[str, Any] | None

    def __init__(self, data: Mapping[str, Any] | None = None, filename: str | None = None) -> None:
        """Validate `data` (the parsed YAML document); `filename` is named in error messages."""
        self.filename = filename
        try:
            document = mapping(data, "the config document")
            self._given: dict[str, Any] = section(document, "", {k.name: k.check for k in TOP_LEVEL})
        except ConfigError as e:
            self._reraise(e)
        for key in TOP_LEVEL:
            setattr(self, key.attr, self._given.get(key.name, copy.copy(key.default)))  # no shared {}

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
        layers = {layer.name: layer for layer, _ in configurable_layers(graph)}
        names = list(layers)
        try:
            for name, settings in self.layer_name.items():
                path = f"LayerName.{name}"
                if name not in layers:
                    listed = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
                    hint = closest(name, names)
                    fail(path, f"no layer named {name!r} in model {graph.name!r}{hint}; layers: {listed}")
                layer = layers[name]
                check_fits(settings, path, describe(layer), layer.type_roles(), layer.HAS_MULTIPLIERS)
        except ConfigError as e:
            self._reraise(e)

    # ---- resolution -----------------------------------------------------------------------------------

    def resolve(self, layer: Layer) -> LayerSettings:
        """Every setting of `layer`: LayerName > LayerType > Model > default, per key and per precision role."""
        levels = [
            (f"LayerName.{layer.name}", self.layer_name.get(layer.name, {})),
            (f"LayerType.{layer.kind}", self.layer_type.get(layer.kind, {})),
            (f"Calibration[{layer.name}]", {"Precision": layer.calibrated}),
            ("Model", self.model),
        ]
        values: dict[str, Any] = {}
        source: dict[str, str] = {}
        precision: dict[str, FixedType | str] = {}
        for role in layer.type_roles():
            precision[role], source[f"Precision.{role}"] = next(
                (found for path, s in levels if (found := precision_at(s.get("Precision"), role, path))),
                (default_precision(layer, role), "default"),
            )
        for role, fixed in layer.fixed.items():  # a type the model fixes (QKeras quantizer) wins over every level
            given = source.get(f"Precision.{role}", "default")
            if given.startswith("LayerName.") and precision[role] != fixed:
                fail(given, f"{precision[role]} conflicts with {fixed}, which the model's quantizer fixes for layer "
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

    def resolved_yaml(self, graph: Graph, notes: Mapping[str, str] | None = None) -> str:
        """A complete, commented config listing every layer of `graph` with every resolved setting (`notes`: more
        comment text per layer name, such as the planner's estimate).

        Loading it back gives a config that resolves identically for every layer of `graph`.
        LayerType is folded into the LayerName entries (so editing a listed layer always takes effect).
        """
        used = {role for layer, _ in configurable_layers(graph) for role in layer.type_roles()}
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
                lines += [f"  {line}" for line in self._layer_yaml(graph, notes or {})]
                continue
            decided = {"ProjectName": self.resolved_project_name(graph), "IOType": graph.io_type,
                       "WeightLiterals": graph.weight_literals, "Streams": self._streams(graph)}  # fmt: skip
            value = decided.get(key.name) or getattr(self, key.attr)  # what the hardware flow chose, where it ran
            calibrated = any(layer.calibrated for layer, _ in configurable_layers(graph))
            if key.name == "Calibration" and calibrated:  # applied: its types are the LayerName entries
                spec = key.dump(value)
                lines.append(f"# Calibration: {spec} was applied; the LayerName types below include its choices")
                continue
            if key.name == "Model":  # complete the Model level so it documents the fallbacks
                chosen = ("ReuseFactor", "PE", "SIMD", "Lanes")  # the fold pass chooses these where not given
                defaults = {k.name: k.default for k in LAYER_KEYS if k.name not in chosen}
                defaults |= {"Precision": FixedType.parse(DEFAULT_DATA)}
                value = defaults | self.model
            lines += commented(key.name, key.dump(value), key.doc)
        return "\n".join(lines) + "\n"

    def _streams(self, graph: Graph) -> dict[str, int] | None:
        """Every FIFO of an io_stream graph the hardware flow sized: name -> depth (None otherwise)."""
        if graph.io_type != "io_stream":
            return None
        names, ports = stream_names(graph, self.resolved_project_name(graph)), input_vars(graph)
        return {
            names[(p.name, layer.name)]: depth
            for layer in graph.layers()
            for p, depth in zip(graph.producers(layer.name), layer.fifo_depths)
            if names[(p.name, layer.name)] not in ports
        }

    def _layer_yaml(self, graph: Graph, notes: Mapping[str, str]) -> list[str]:
        lines = []
        for layer, note in configurable_layers(graph):
            settings = self.resolve(layer)
            entry: dict[str, Any] = {}
            if settings.precision:
                entry["Precision"] = {role: str(t) for role, t in settings.precision.items()}
            if layer.HAS_MULTIPLIERS and not layer.pe:  # the hardware flow did not run
                given = {k.name for k in LAYER_KEYS if settings.source.get(k.name, "default") != "default"}
                given |= {"ReuseFactor", "Strategy"}
                entry.update({k.name: k.dump(getattr(settings, k.attr)) for k in LAYER_KEYS
                              if k.multipliers_only and k.name in given})  # fmt: skip
            elif layer.HAS_MULTIPLIERS:  # the chosen fold: PE and SIMD only where given (ReuseFactor implies them)
                given = {k.name for k in LAYER_KEYS if settings.source.get(k.name, "default") != "default"}
                entry.update(ReuseFactor=layer.reuse_factor, Strategy=settings.strategy.capitalize())
                entry.update({k: getattr(settings, k.lower()) for k in ("PE", "SIMD") if k in given})
                entry["WeightStorage"] = settings.weight_storage
                if settings.multipliers != "auto":
                    entry["Multipliers"] = settings.multipliers
                note += f"; PE {layer.pe} x SIMD {layer.simd}, weights in {layer.weight_storage}"
            elif "Lanes" in settings.source and settings.source["Lanes"] != "default":
                entry["Lanes"] = settings.lanes
            if hasattr(layer, "table_size") and {"table", "exp_table"} & set(layer.type_roles()):
                entry["TableSize"] = layer.table_size
            shape = "x".join(map(str, layer.shape)) or "scalar"
            note += f"; {layer.lanes} lanes" if layer.lanes and graph.io_type == "io_stream" else ""
            note += f"; {layer.multiplier_limit} multipliers" if layer.multiplier_limit else ""
            note += f"; input FIFO depths {', '.join(map(str, layer.fifo_depths))}" if layer.fifo_depths else ""
            note += "" if entry else "; nothing to configure"
            note += f"; {notes[layer.name]}" if layer.name in notes else ""
            lines += commented(layer.name, entry, f"{describe(layer)}, shape {shape}{note}")
        return lines
