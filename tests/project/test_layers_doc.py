"""docs/layers.md is what scripts/layer_table.py makes of the code now: every kind of hls4ml's Keras tests
converted in both IO types (reference within the bound of Keras; csim is checked by the tests per kind)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("keras")
pytestmark = [pytest.mark.keras]
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "layer_table.py"


def test_layers_doc_is_current(capsys) -> None:
    spec = importlib.util.spec_from_file_location("layer_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0, capsys.readouterr().out
    text = module.DOC.read_text()
    assert text.count("| yes |") >= 43 and len(module.cases(__import__("keras"))) == 49
