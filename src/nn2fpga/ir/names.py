"""C++ identifiers for model names: the one helper that makes them legal, unique and stable."""

from __future__ import annotations

import re

CPP_KEYWORDS = frozenset(
    "alignas alignof and asm auto bool break case catch char class const constexpr continue default delete do double "
    "else enum explicit extern false float for friend goto if inline int long namespace new not operator or private "
    "protected public register return short signed sizeof static struct switch template this throw true try typedef "
    "typename union unsigned using virtual void volatile while".split()
)


def cpp_name(name: str, taken: set[str] | None = None) -> str:
    """A legal C++ identifier for `name` (stable: the same name gives the same identifier)."""
    ident = re.sub(r"\W", "_", name)
    if not ident or ident[0].isdigit() or ident in CPP_KEYWORDS or ident.startswith("n2f"):
        ident = "l_" + ident
    if taken is not None:
        base, k = ident, 1
        while ident in taken:
            ident, k = f"{base}_{k}", k + 1
        taken.add(ident)
    return ident
