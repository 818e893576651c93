"""The device database (nn2fpga.estimate.devices): parts resolve by prefix, unknown parts are named, every
number has its source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nn2fpga.estimate import devices
from nn2fpga.ir.errors import ConfigError

REQUIRED = {"xcu250", "xcu280", "xcu55c", "xcvu9p", "xcvu13p", "xczu7ev", "xczu9eg", "xck26", "xc7z020"}


def test_parts_resolve_by_prefix() -> None:
    assert devices.device("xcu250-figd2104-2L-e").name == "xcu250"
    assert devices.device("XCZU9EG-FFVB1156-2-E").name == "xczu9eg"
    assert devices.device("xcvu13p-fhga2104-2L-e").bram18 == 5376
    assert devices.device("xcu250-figd2104-2L-e").available() == {
        "dsp": 12288, "lut": 1728000, "ff": 3456000, "bram18k": 5376, "uram": 1280}  # fmt: skip


def test_unknown_part_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"^Part: unknown part 'xc7k999t'.*known: xc7z020, xck26, .*xczu9eg$"):
        devices.device("xc7k999t")


def test_every_number_has_a_source() -> None:
    table = json.loads((Path(devices.__file__).parent / "devices.json").read_text())["parts"]
    assert REQUIRED <= set(table)
    for name, row in table.items():
        for key in ("bram18", "uram", "dsp", "lut", "lutram", "ff"):
            assert isinstance(row[key], int) and row["sources"][key], (name, key)
            assert row["sources"][key] != "pending", (name, key)
        assert row["lutram"] <= row["lut"] <= row["ff"] and row["bram18"] % 2 == 0
        assert row["sources"]["memory"], name
        for bank in row["memory"]:
            assert bank["count"] > 0 and bank["width_bits"] > 0 and bank["axi_bits"] % 8 == 0, (name, bank)
    assert [b.kind for b in devices.device("xcu280").memory] == ["HBM2", "DDR4"]
    assert devices.device("xcu250-figd2104-2L-e").memory[0].count == 4 and devices.device("xcvu13p").memory == ()
