"""docs/models.md holds what scripts/model_table.py finds now: each keras.applications family converts (or is
refused) as the table says and its reference matches Keras as closely (slow: every family is converted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("keras")
pytestmark = [pytest.mark.keras, pytest.mark.slow]
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "model_table.py"


def _script():
    spec = importlib.util.spec_from_file_location("model_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _documented(module) -> dict[str, list[str]]:
    rows = {}
    for line in module.DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 9 and cells[0] in module.FAMILIES:
            rows[cells[0]] = cells
    return rows


@pytest.mark.parametrize("family", sorted(_script().FAMILIES))
def test_family_row(family: str) -> None:
    module = _script()
    documented = _documented(module)[family]
    row = module.row(family, csim=False)
    assert (row["converts"] == "yes") == (documented[2] == "yes"), (row, documented)
    if row["converts"] == "yes":
        assert abs(row["cosine"] - float(documented[6])) < 1e-3 and documented[7] == "yes"
