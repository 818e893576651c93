"""Config schema building blocks: value checkers `(value, path) -> normalized value` that raise
ConfigError starting with the YAML path, the `Key` row of the declarative tables, and YAML output."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import yaml

from nn2fpga.ir.errors import ConfigError, closest
from nn2fpga.ir.names import cpp_name


def fail(path: str, message: str) -> NoReturn:
    raise ConfigError(f"{path}: {message}")


def got(value: Any) -> str:
    names = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "mapping"}
    return "nothing (null)" if value is None else f"{names.get(type(value), type(value).__name__)} {value!r}"


def join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def mapping(value: Any, path: str) -> Mapping[Any, Any]:
    if value is None:  # `Model:` with nothing under it
        return {}
    if not isinstance(value, Mapping):
        fail(path, f"expected a mapping, got {got(value)}")
    return value


def unknown(path: str, word: Any, allowed: Any, what: str = "key") -> NoReturn:
    fail(path, f"unknown {what}{closest(str(word), allowed)}; allowed: {', '.join(allowed)}")


def section(
    value: Any, path: str, checks: Mapping[Any, Callable[[Any, str], Any]], what: str = "key"
) -> dict[Any, Any]:
    """The entries of mapping `value`, each normalized by the check of its key; a key with no check fails
    naming those allowed. Only the keys given: completing a section with its defaults is the caller's part."""
    out = {}
    for name, v in mapping(value, path).items():
        if name not in checks:
            unknown(join(path, name), name, checks, what)
        out[name] = checks[name](v, join(path, name))
    return out


def string(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        fail(path, f"expected a non-empty string, got {got(value)}")
    return value.strip()


def identifier(value: Any, path: str) -> str:
    name = string(value, path)
    if cpp_name(name) != name:  # the one helper that makes C++ identifiers decides what is legal
        fail(
            path,
            f"{name!r} is not a usable C++ identifier (letters, digits, _; no leading digit, C++ keyword "
            "or 'n2f' prefix)",
        )
    return name


def positive_number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        fail(path, f"expected a number > 0, got {got(value)}")
    return float(value)


def positive_int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        fail(path, f"expected an integer >= 1, got {got(value)}")
    return value


def choice(*allowed: str) -> Callable[[Any, str], str]:
    """A checker accepting one of `allowed`, case-insensitively; returns the lower-case spelling."""

    def check(value: Any, path: str) -> str:
        if not isinstance(value, str) or value.strip().lower() not in {a.lower() for a in allowed}:
            hint = closest(value.lower(), [a.lower() for a in allowed]) if isinstance(value, str) else ""
            fail(path, f"expected one of {', '.join(allowed)}{hint}, got {got(value)}")
        return value.strip().lower()

    return check


def pass_names(value: Any, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        fail(path, f"expected a list of pass names, got {got(value)}")
    names = [string(v, f"{path}[{i}]") for i, v in enumerate(value)]
    for i, name in enumerate(names):
        if not name.isidentifier():
            fail(f"{path}[{i}]", f"{name!r} is not a pass function name")
    return tuple(dict.fromkeys(names))  # duplicates dropped, order kept


def non_negative_int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        fail(path, f"expected an integer >= 0, got {got(value)}")
    return value


def boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        fail(path, f"expected true or false, got {got(value)}")
    return value


def listed(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        fail(path, f"expected a list, got {got(value)}")
    return value


def choice_int(allowed: tuple[int, ...]) -> Callable[[Any, str], int]:
    def check(value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
            fail(path, f"expected one of {', '.join(map(str, allowed))}, got {got(value)}")
        return value

    return check


def split_layer(value: Any, path: str) -> str | None:
    return None if value is None else string(value, path)


def stream_depths(value: Any, path: str) -> dict[str, int]:
    """`Streams:`: stream name -> FIFO depth (an integer >= 1). The names are checked against the model
    by the hardware flow (nn2fpga.passes.hardware.size_fifos)."""
    out = {}
    for name, depth in mapping(value, path).items():
        if not isinstance(name, str):
            fail(join(path, name), f"stream names are strings, got {got(name)}")
        out[name] = positive_int(depth, join(path, name))
    return out


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
    plain_only: bool = False  # only kinds without multipliers take it
    tables_only: bool = False  # only layers that read a table (an activation by table, LayerNorm, a recurrent cell)


def commented(name: str, value: Any, comment: str) -> list[str]:
    """`name: value  # comment` as YAML lines (block style; scalars quoted only where YAML needs it)."""
    flow = isinstance(value, list)  # `DisabledPasses: [a, b]` on one line; mappings in block style
    text = yaml.safe_dump({name: value}, default_flow_style=None if flow else False, sort_keys=False, width=1 << 30)
    first, *rest = text.rstrip("\n").split("\n")
    return [f"{first}  # {comment}", *rest]
