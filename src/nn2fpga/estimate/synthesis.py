"""Vitis HLS C-synthesis reports (`csynth.xml`) read back, so nn2fpga's estimates can be compared with what
`csynth_design` actually built.

`build_prj.tcl` opens `<project>_prj`, solution `solution1`; Vitis then writes the top's report to
`<project>_prj/solution1/syn/report/csynth.xml` and one `<module>_csynth.xml` per synthesized function beside it.
Each is an XML `<profile>` whose parts read here are:

- `UserAssignments`: `Part`, `TargetClockPeriod` (ns), `TopModelName`;
- `PerformanceEstimates`: `SummaryOfTimingAnalysis/EstimatedClockPeriod` (ns) and `SummaryOfOverallLatency`
  (`Worst-caseLatency`, `Interval-max`, in cycles; `undef` or `?` when the latency depends on data);
- `AreaEstimates`: `Resources` (used) and `AvailableResources` (on the part): `BRAM_18K`, `DSP` (`DSP48E` in
  Vivado HLS), `FF`, `LUT`, `URAM` (absent in old Vivado HLS reports);
- `RTLDesignHierarchy/TopModule`: `ModuleName` and the tree of `InstancesList/Instance` (`InstName`, `ModuleName`).

Only the standard library is used: the reports come from a tool outside nn2fpga, and reading them must not
need Vitis.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from nn2fpga.ir.errors import UserError

# Our resource key -> the element names that may hold it, newest tool first.
RESOURCE_TAGS: dict[str, tuple[str, ...]] = {
    "dsp": ("DSP", "DSP48E"),
    "lut": ("LUT",),
    "ff": ("FF",),
    "bram18k": ("BRAM_18K",),
    "uram": ("URAM",),
}
# URAM is missing from reports of parts (and tools) without it; the other four are always written.
OPTIONAL_RESOURCES = frozenset({"uram"})
# What Vitis writes where a latency or interval cannot be bounded at compile time.
UNKNOWN_CYCLES = frozenset({"", "undef", "?"})
REPORT_DIR = Path("solution1") / "syn" / "report"
MODULE_SUFFIX = "_csynth.xml"


class SynthesisReportError(UserError):
    """A file that is not a readable Vitis HLS csynth report; the message names the file and what is missing."""


@dataclass(frozen=True)
class Synthesis:
    """What one csynth report says about one synthesized module (the top, or one function below it).

    `latency_cycles` is the worst case and `ii_cycles` the largest interval, the numbers a throughput or latency
    bound must use; both are None where Vitis could not bound them. `available` holds the part's resources under
    the same keys as the used ones (`dsp lut ff bram18k uram`, those the report lists), empty when the report has
    none. `instances` maps every instance in the module's RTL hierarchy to its module, shallowest first.
    """

    module: str
    part: str | None
    clock_ns: float | None
    estimated_clock_ns: float | None
    dsp: int
    lut: int
    ff: int
    bram18k: int
    uram: int
    latency_cycles: int | None
    ii_cycles: int | None
    available: dict[str, int] = field(default_factory=dict)
    instances: dict[str, str] = field(default_factory=dict)


def parse_csynth(path: str | os.PathLike[str]) -> Synthesis:
    """The report at `path` (a `csynth.xml` or `<module>_csynth.xml`).

    Raises SynthesisReportError, naming the file, when it cannot be read, is not XML, or lacks the area or
    performance sections, a used resource, or a module name; values that are present but not numbers are named
    too. Missing clocks, part, latency or available resources are None or empty: Vitis versions differ there.
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        raise SynthesisReportError(f"{path}: not a readable csynth report ({_one_line(e)})") from e
    resources = root.find("AreaEstimates/Resources")
    if resources is None:
        raise SynthesisReportError(f"{path}: not a csynth report (no AreaEstimates/Resources)")
    if root.find("PerformanceEstimates") is None:
        raise SynthesisReportError(f"{path}: not a csynth report (no PerformanceEstimates)")
    used = _resources(path, resources, required=True)
    available_node = root.find("AreaEstimates/AvailableResources")
    available = _resources(path, available_node, required=False) if available_node is not None else {}
    latency = "PerformanceEstimates/SummaryOfOverallLatency"
    return Synthesis(
        module=_module_name(path, root),
        part=_text(root, "UserAssignments/Part"),
        clock_ns=_float(path, root, "UserAssignments/TargetClockPeriod"),
        estimated_clock_ns=_float(path, root, "PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod"),
        latency_cycles=_cycles(path, root, f"{latency}/Worst-caseLatency"),
        ii_cycles=_cycles(path, root, f"{latency}/Interval-max"),
        available=available,
        instances=_instances(root),
        dsp=used["dsp"],
        lut=used["lut"],
        ff=used["ff"],
        bram18k=used["bram18k"],
        uram=used.get("uram", 0),
    )


def find_reports(project_dir: str | os.PathLike[str]) -> tuple[Synthesis, dict[str, Synthesis]] | None:
    """The top report of the project in `project_dir` and its per-module reports keyed by module name, or None
    when csynth has not run there.

    The top is `<name>_prj/solution1/syn/report/csynth.xml` in the first `*_prj` directory (by name) that has
    one; the modules are the `<module>_csynth.xml` beside it (Vitis writes one for the top function as well).
    The key is the module name the file is named after, which is the `ModuleName` instances refer to.
    """
    for prj in sorted(Path(project_dir).glob("*_prj")):
        top = prj / REPORT_DIR / "csynth.xml"
        if top.is_file():
            modules = {
                p.name[: -len(MODULE_SUFFIX)]: parse_csynth(p) for p in sorted(top.parent.glob("*" + MODULE_SUFFIX))
            }
            return parse_csynth(top), modules
    return None


def match_layers(modules: dict[str, Synthesis], layer_idents: dict[str, str]) -> dict[str, Synthesis]:
    """The report of each layer (layer name -> report), for the layers whose report can be told apart.

    nn2fpga calls one template function per layer with the layer's config struct (`config_<ident>`), so each
    layer's C++ identifier appears in the names Vitis derives: the instance (`dense_..._config_dense_1_s_U0`)
    and the module (`dense_..._config_dense_1_s`). The rule:

    1. A name contains an identifier when it occurs with no letter or digit on either side (`dense_1` is in
       `config_dense_1_s`, not in `config_dense_10_s`). A name belongs to the longest identifier it contains,
       so with layers `dense` and `dense_1`, `config_dense_1_s` belongs to `dense_1` alone.
    2. First by instance: the first instance (shallowest first, over the hierarchy of every report in `modules`)
       whose name belongs to the layer and whose module has a report in `modules` gives that report. Module
       reports may carry no hierarchy, so pass the top among them: `match_layers(modules | {top.module: top}, ...)`.
    3. Else by module name: of the modules whose name belongs to the layer, the shortest (the layer's function
       rather than a `..._Pipeline_...` loop inside it; ties by name).
    4. Layers neither finds are left out.
    """
    idents = {layer: ident for layer, ident in layer_idents.items() if ident}
    patterns = {
        layer: re.compile(rf"(?<![A-Za-z0-9]){re.escape(ident)}(?![A-Za-z0-9])") for layer, ident in idents.items()
    }

    def owner(name: str) -> str | None:
        found = [layer for layer, pattern in patterns.items() if pattern.search(name)]
        return max(found, key=lambda layer: (len(idents[layer]), layer)) if found else None

    instances: dict[str, str] = {}
    for report in modules.values():
        for inst, module in report.instances.items():
            instances.setdefault(inst, module)
    matched: dict[str, Synthesis] = {}
    for inst, module in instances.items():
        layer = owner(inst)
        if layer is not None and layer not in matched and module in modules:
            matched[layer] = modules[module]
    by_module = sorted((len(name), name) for name in modules)
    for _, name in by_module:
        layer = owner(name)
        if layer is not None and layer not in matched:
            matched[layer] = modules[name]
    return {layer: matched[layer] for layer in layer_idents if layer in matched}


def relative_error(estimate: float, synthesized: float) -> float | None:
    """(estimate - synthesized) / synthesized; 0.0 when both are 0, None when only the synthesized value is 0
    (no finite relative error exists)."""
    if synthesized == 0:
        return 0.0 if estimate == 0 else None
    return (estimate - synthesized) / synthesized


def _one_line(error: BaseException) -> str:
    """`error`'s message on one line (the CLI prints a user error as a single line)."""
    return " ".join(str(error).split()) or type(error).__name__


def _text(root: ET.Element, key: str) -> str | None:
    """The stripped text at `key`, None when the element is missing or empty."""
    text = root.findtext(key)
    return (text.strip() or None) if text is not None else None


def _float(path: Path, root: ET.Element, key: str) -> float | None:
    """The number at `key` (a clock period), None when missing."""
    text = _text(root, key)
    if text is None:
        return None
    try:
        return float(text)
    except ValueError as e:
        raise SynthesisReportError(f"{path}: {key} is {text!r}, not a number") from e


def _integer(path: Path, key: str, text: str) -> int:
    """`text` as a count of cycles or resources; anything else is an error naming `key`."""
    if not text.isdigit():
        raise SynthesisReportError(f"{path}: {key} is {text!r}, not a whole number")
    return int(text)


def _cycles(path: Path, root: ET.Element, key: str) -> int | None:
    """The cycle count at `key`, None when missing or unbounded (`undef`, `?`)."""
    text = (root.findtext(key) or "").strip()
    return None if text.lower() in UNKNOWN_CYCLES else _integer(path, key, text)


def _resources(path: Path, node: ET.Element, required: bool) -> dict[str, int]:
    """The resources listed under `node`, by our keys; with `required`, every non-optional one must be there."""
    found: dict[str, int] = {}
    for key, tags in RESOURCE_TAGS.items():
        tag = next((t for t in tags if node.find(t) is not None), None)
        if tag is not None:
            found[key] = _integer(path, f"AreaEstimates/{node.tag}/{tag}", (node.findtext(tag) or "").strip())
        elif required and key not in OPTIONAL_RESOURCES:
            raise SynthesisReportError(f"{path}: not a csynth report (no AreaEstimates/{node.tag}/{' or '.join(tags)})")
    return found


def _module_name(path: Path, root: ET.Element) -> str:
    """The module the report describes: the hierarchy's top, else the file's `<module>_csynth.xml` name, else the
    assigned top (a module report may carry no hierarchy, and its `TopModelName` can be the project's top)."""
    name = _text(root, "RTLDesignHierarchy/TopModule/ModuleName")
    if name is None and path.name.endswith(MODULE_SUFFIX):
        name = path.name[: -len(MODULE_SUFFIX)] or None
    name = name or _text(root, "UserAssignments/TopModelName")
    if name is None:
        raise SynthesisReportError(f"{path}: no module name (no RTLDesignHierarchy/TopModule/ModuleName)")
    return name


def _instances(root: ET.Element) -> dict[str, str]:
    """Every instance below the hierarchy's top -> its module, breadth first so shallower instances come first
    (an instance name repeated deeper keeps its first, shallowest module)."""
    found: dict[str, str] = {}
    queue = deque(root.findall("RTLDesignHierarchy/TopModule/InstancesList/Instance"))
    while queue:
        instance = queue.popleft()
        name, module = _text(instance, "InstName"), _text(instance, "ModuleName")
        if name is not None and module is not None:
            found.setdefault(name, module)
        queue.extend(instance.findall("InstancesList/Instance"))
    return found
