"""Structure rules of docs/design.md that import-linter cannot express: modules under 400 lines, and no
module importing another module's private (`_name`) names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "nn2fpga"
MODULES = sorted(SRC.rglob("*.py"))
MAX_LINES = 400


def test_the_package_has_modules() -> None:
    assert len(MODULES) > 40 and SRC / "ir" / "graph.py" in MODULES


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_module_size(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_LINES


def private_imports(source: str) -> list[str]:
    """`module.name` for every `from nn2fpga.module import _name` in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nn2fpga"):
            found += [
                f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_") and a.name != "__version__"
            ]
    return found


def test_private_import_rule_sees_private_names() -> None:
    assert private_imports("from nn2fpga.ir.types import FixedType, _mode\nimport os") == ["nn2fpga.ir.types._mode"]
    assert private_imports("from nn2fpga.version import __version__\nfrom os import _exit") == []


def test_no_private_names_cross_modules() -> None:
    crossing = {str(p.relative_to(SRC)): private_imports(p.read_text()) for p in MODULES}
    assert {k: v for k, v in crossing.items() if v} == {}


def test_no_import_cycle_between_any_two_modules() -> None:
    """Stronger than import-linter's sibling check: no cycle at all in the module import graph (lazy
    imports inside functions included)."""
    import grimp
    import networkx as nx

    graph = grimp.build_graph("nn2fpga")
    imports = nx.DiGraph((m, i) for m in graph.modules for i in graph.find_modules_directly_imported_by(m))
    assert imports.number_of_edges() > 100
    assert list(nx.simple_cycles(imports)) == []
