"""User-facing errors: one clear message naming the file, layer or key and what is allowed.

The CLI prints `nn2fpga: error: <message>` for these and exits 2, without a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(ValueError):
    """Bad input from the user (model file, config, argument, data)."""


class ConfigError(UserError):
    """A configuration key or value that is not allowed; the message starts with its YAML path."""


class ModelError(UserError):
    """A model file or layer nn2fpga cannot convert."""


class CompileError(UserError):
    """g++ failed on a generated project; the message names the log and the first error lines."""


def closest(word: str, allowed: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest allowed spelling, or ''."""
    match = difflib.get_close_matches(word, list(allowed), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""
