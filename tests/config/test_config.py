"""The YAML config: validation (stage 1 alone, stage 2 against a graph), precedence, defaults, resolved YAML."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from nn2fpga.config import EXACT, LAYER_KEYS, ROLES, TOP_LEVEL, Config, LayerSettings, default_precision
from nn2fpga.ir.errors import ConfigError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.kinds import LAYER_KINDS
from nn2fpga.ir.layers import Activation, BatchNorm, Dense, Input, Layer, Reshape
from nn2fpga.ir.types import FixedType

DOCS = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def build_graph() -> Graph:
    """in -> fc1(+relu) -> bn -> each activation kind -> fc2 -> flat."""
    g = Graph("jet-tagger v2")
    g.add(Input("in", (16,)))
    g.add(Dense("fc1", (8,), weight=np.zeros((16, 8)), bias=np.zeros(8), activation="relu"), ["in"])
    g.add(BatchNorm("bn", (8,), scale=np.ones(8), bias=np.zeros(8)), ["fc1"])
    prev = "bn"
    for fn in ("relu", "leaky_relu", "sigmoid", "tanh", "hard_sigmoid", "softmax"):
        g.add(Activation(f"{fn}1", (8,), fn=fn), [prev])
        prev = f"{fn}1"
    g.add(Dense("fc2", (4,), weight=np.zeros((8, 4))), [prev])
    g.add(Reshape("flat", (2, 2)), ["fc2"])
    g.outputs = ["flat"]
    return g


GRAPH = build_graph()
FC1 = GRAPH["fc1"]


def load(text: str) -> Config:
    return Config.from_text(text, "test.yml")


def t(text: str) -> FixedType:
    return FixedType.parse(text)


def nest(path: str, value: object) -> dict:
    """{"A": {"B": value}} from "A.B"."""
    for part in reversed(path.split(".")):
        value = {part: value}
    return value  # type: ignore[return-value]


# ---- defaults ----------------------------------------------------------------------------------------


def test_top_level_defaults() -> None:
    cfg = Config.from_yaml(None)
    assert (cfg.project_name, cfg.part, cfg.clock_period, cfg.io_type, cfg.disabled_passes) == (
        None,
        "xcu250-figd2104-2L-e",
        5.0,
        "auto",
        (),
    )
    assert cfg.to_dict() == {}
    assert cfg.resolved_project_name(GRAPH) == "jet_tagger_v2"


@pytest.mark.parametrize(
    ("layer", "role", "expected"),
    [
        ("in", "result", "ap_fixed<16,6>"),
        ("fc1", "weight", "ap_fixed<16,6>"),
        ("fc1", "bias", "ap_fixed<16,6>"),
        ("fc1", "accum", EXACT),
        ("bn", "scale", "ap_fixed<16,6>"),
        ("sigmoid1", "table", "ap_ufixed<18,1,AP_RND>"),
        ("tanh1", "table", "ap_fixed<18,2,AP_RND>"),
        ("softmax1", "exp_table", "ap_ufixed<18,1,AP_RND>"),
        ("softmax1", "inv_table", "ap_ufixed<18,1,AP_RND>"),
        ("leaky_relu1", "alpha", "ap_ufixed<18,0,AP_RND>"),
        ("hard_sigmoid1", "slope", "ap_ufixed<18,0,AP_RND>"),
        ("hard_sigmoid1", "offset", "ap_ufixed<18,0,AP_RND>"),
    ],
)
def test_default_precision(layer: str, role: str, expected: str) -> None:
    s = Config.from_yaml(None).resolve(GRAPH[layer])
    assert s.precision[role] == (EXACT if expected == EXACT else t(expected))
    assert s.source[f"Precision.{role}"] == "default"


def test_default_layer_settings() -> None:
    s = Config.from_yaml(None).resolve(FC1)
    assert (s.reuse_factor, s.strategy) == (1, "latency")
    assert s.source["ReuseFactor"] == s.source["Strategy"] == "default"
    assert set(s.precision) == set(FC1.type_roles())


@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_every_role_has_a_default(kind: type[Layer]) -> None:
    # a new role in layers.py without a row in ROLES would fail at resolve time
    assert set(kind.TYPE_ROLES) <= set(ROLES)


# ---- precedence: LayerName > LayerType > Model > default, per key and per precision role ------------

LEVELS = {  # level -> (YAML prefix, value of each setting at that level)
    "Model": ("Model", {"ReuseFactor": 2, "Strategy": "Resource", "weight": "ap_fixed<10,2>"}),
    "LayerType": ("LayerType.Dense", {"ReuseFactor": 4, "Strategy": "Latency", "weight": "ap_fixed<11,3>"}),
    "LayerName": ("LayerName.fc1", {"ReuseFactor": 8, "Strategy": "Resource", "weight": "ap_fixed<12,4>"}),
}


def _level_yaml(levels: tuple[str, ...], setting: str) -> dict:
    data: dict = {}
    for level in levels:
        prefix, values = LEVELS[level]
        node = data
        for part in prefix.split("."):
            node = node.setdefault(part, {})
        if setting == "weight":
            node["Precision"] = {"weight": values["weight"]}
        else:
            node[setting] = values[setting]
    return data


# which levels set the value
@pytest.mark.parametrize(
    "levels", [(), ("Model",), ("LayerType",), ("LayerName",), ("Model", "LayerType"), ("Model", "LayerName"),
               ("LayerType", "LayerName"), ("Model", "LayerType", "LayerName")]
)  # fmt: skip
# which setting
@pytest.mark.parametrize("setting", ["ReuseFactor", "Strategy", "weight"])
def test_precedence(levels: tuple[str, ...], setting: str) -> None:
    s = Config.from_yaml(_level_yaml(levels, setting)).resolve(FC1)
    winner = max(levels, key=list(LEVELS).index, default=None)
    got = {"ReuseFactor": s.reuse_factor, "Strategy": s.strategy, "weight": s.precision["weight"]}[setting]
    source = s.source["Precision.weight" if setting == "weight" else setting]
    if winner is None:
        assert source == "default"
        return
    prefix, values = LEVELS[winner]
    expected = {"ReuseFactor": values["ReuseFactor"], "Strategy": values["Strategy"].lower(),
                "weight": t(values["weight"])}[setting]  # fmt: skip
    assert got == expected
    assert source == f"{prefix}.Precision.weight" if setting == "weight" else f"{prefix}.{setting}"


def test_precedence_per_role() -> None:
    cfg = load(
        """
        Model: {Precision: 'ap_fixed<12,4>'}
        LayerType: {Dense: {Precision: {bias: 'ap_fixed<20,8>'}}}
        LayerName: {fc1: {Precision: {weight: 'ap_fixed<8,3>'}}}
        """
    )
    s = cfg.resolve(FC1)
    assert s.precision == {"result": t("ap_fixed<12,4>"), "weight": t("ap_fixed<8,3>"),
                           "bias": t("ap_fixed<20,8>"), "accum": EXACT}  # fmt: skip
    assert s.source == {
        "Precision.result": "Model.Precision",
        "Precision.weight": "LayerName.fc1.Precision.weight",
        "Precision.bias": "LayerType.Dense.Precision.bias",
        "Precision.accum": "default",
        "ReuseFactor": "default",
        "Strategy": "default",
        "PE": "default",
        "SIMD": "default",
        "WeightStorage": "default",
        "Multipliers": "default",
        "Lanes": "default",
        "TableSize": "default",
    }


# where the plain string is given
@pytest.mark.parametrize("level", ["Model", "LayerType.Activation", "LayerName.tanh1"])
def test_plain_precision_sets_only_data_roles(level: str) -> None:
    s = Config.from_yaml(nest(f"{level}.Precision", "ap_fixed<10,3>")).resolve(GRAPH["tanh1"])
    assert s.precision == {"result": t("ap_fixed<10,3>"), "table": default_precision(GRAPH["tanh1"], "table")}
    assert s.source["Precision.result"] == f"{level}.Precision"


def test_plain_precision_never_changes_accum() -> None:
    s = load("Model:\n  Precision: ap_fixed<8,3>\n").resolve(FC1)
    assert s.precision["accum"] == EXACT
    assert s.precision["weight"] == t("ap_fixed<8,3>")


def test_accum_type_and_exact() -> None:
    cfg = load("Model: {Precision: {accum: 'ap_fixed<40,16>'}}\nLayerName: {fc1: {Precision: {accum: Exact}}}")
    assert cfg.resolve(FC1).precision["accum"] == EXACT
    assert cfg.resolve(GRAPH["fc2"]).precision["accum"] == t("ap_fixed<40,16>")


# spelling
@pytest.mark.parametrize("spelling", ["Resource", "resource", "RESOURCE", " Resource "])
def test_strategy_case_insensitive(spelling: str) -> None:
    cfg = Config.from_yaml({"Model": {"Strategy": spelling}})
    assert cfg.resolve(FC1).strategy == "resource"
    assert cfg.to_dict() == {"Model": {"Strategy": "Resource"}}


# ---- values ------------------------------------------------------------------------------------------


def test_top_level_values() -> None:
    cfg = load(
        "ProjectName: tagger\nPart: xcvu9p-flga2104-2L-e\nClockPeriod: 3\nIOType: IO_Stream\n"
        "DisabledPasses: [fuse_activation, fold_batchnorm, fuse_activation]\n"
    )
    assert (cfg.project_name, cfg.part, cfg.clock_period, cfg.io_type) == ("tagger", "xcvu9p-flga2104-2L-e", 3.0,
                                                                           "io_stream")  # fmt: skip
    assert cfg.disabled_passes == ("fuse_activation", "fold_batchnorm")
    assert cfg.resolved_project_name(GRAPH) == "tagger"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Model: {ReuseFacter: 1}",
         "Model.ReuseFacter: unknown key (did you mean 'ReuseFactor'?); allowed: Precision, ReuseFactor, Strategy"),
        ("Modle: {}", "Modle: unknown key (did you mean 'Model'?); allowed: ProjectName, "),
        ("LayerName: {fc1: {Precision: {weight: 'ap_fixed<0,3>'}}}",
         "LayerName.fc1.Precision.weight: invalid precision 'ap_fixed<0,3>': width 0 is outside 1..64"),
        ("Model: {Precision: ap_fixed<16,6>}", "Model.Precision: invalid precision 'ap_fixed<16'"),
        ("Model: {Precision: 'ap_fixd<16,6>'}", "Model.Precision: invalid precision 'ap_fixd<16,6>'"),
        ("Model: {Precision: {wieght: 'ap_fixed<8,3>'}}",
         "Model.Precision.wieght: unknown precision role (did you mean 'weight'?); allowed: result, weight, bias"),
        ("Model: {Precision: exact}", "Model.Precision: 'exact' is only allowed for accum"),
        ("Model: {Precision: {weight: exact}}", "Model.Precision.weight: 'exact' is only allowed for accum"),
        ("Model: {Precision: 16}", "Model.Precision: expected a type string or a mapping role -> type, got int 16"),
        ("Model: {Precision: {result: 16}}", "Model.Precision.result: expected a type string like 'ap_fixed<16,6>'"),
        ("Model: {ReuseFactor: true}", "Model.ReuseFactor: expected an integer >= 1, got bool True"),
        ("Model: {ReuseFactor: 0}", "Model.ReuseFactor: expected an integer >= 1, got int 0"),
        ("Model: {ReuseFactor: 2.0}", "Model.ReuseFactor: expected an integer >= 1, got float 2.0"),
        ("Model: {ReuseFactor: '4'}", "Model.ReuseFactor: expected an integer >= 1, got str '4'"),
        ("Model: {Strategy: Latncy}",
         "Model.Strategy: expected one of Latency, Resource (did you mean 'latency'?), got str 'Latncy'"),
        ("IOType: io_streem", "IOType: expected one of auto, io_parallel, io_stream (did you mean 'io_stream'?)"),
        ("ClockPeriod: 0", "ClockPeriod: expected a number > 0, got int 0"),
        ("ClockPeriod: 5ns", "ClockPeriod: expected a number > 0, got str '5ns'"),
        ("ClockPeriod: .inf", "ClockPeriod: expected a number > 0, got float inf"),
        ("ClockPeriod: false", "ClockPeriod: expected a number > 0, got bool False"),
        ("Part: ''", "Part: expected a non-empty string"),
        ("ProjectName: 2fast", "ProjectName: '2fast' is not a usable C++ identifier"),
        ("ProjectName: int", "ProjectName: 'int' is not a usable C++ identifier"),
        ("DisabledPasses: fuse_activation", "DisabledPasses: expected a list of pass names, got str"),
        ("DisabledPasses: [fuse-activation]", "DisabledPasses[0]: 'fuse-activation' is not a pass function name"),
        ("LayerType: {Dence: {}}",
         "LayerType.Dence: unknown layer kind (did you mean 'Dense'?); allowed: Input, Dense, Activation, BatchNorm"),
        ("LayerType: {Dense: {Precision: {table: 'ap_fixed<8,1>'}}}",
         "LayerType.Dense.Precision.table: Dense has no 'table'; allowed: result, weight, bias, accum"),
        ("LayerType: {Activation: {ReuseFactor: 2}}",
         "LayerType.Activation.ReuseFactor: Activation has no multipliers, so no ReuseFactor; allowed: Precision"),
        ("LayerType: {Reshape: {Precision: 'ap_fixed<8,3>'}}",
         "LayerType.Reshape.Precision: Reshape has none of the roles a plain type sets; its roles: none"),
        ("LayerName: {1: {}}", "LayerName.1: layer names are strings, got int 1"),
    ],
)  # fmt: skip
def test_value_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(message)) as err:
        load(text)
    assert err.value.args[0].endswith("(in test.yml)")


def test_errors_from_a_mapping_name_no_file() -> None:
    with pytest.raises(ConfigError, match=r"^Model\.ReuseFactor: expected an integer >= 1, got bool True$"):
        Config.from_yaml({"Model": {"ReuseFactor": True}})


# which section
@pytest.mark.parametrize("section", ["Model", "LayerType", "LayerName", "LayerType.Dense", "LayerName.fc1"])
# what stands where a mapping belongs
@pytest.mark.parametrize("value", [[1, 2], "Dense", 3])
def test_non_mapping_sections(section: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(section)}: expected a mapping, got "):
        Config.from_yaml(nest(section, value))


# what the whole document is
@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n"])
def test_document_must_be_a_mapping(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^the config document: expected a mapping, got .*\(in test\.yml\)$"):
        load(text)


@pytest.mark.parametrize("text", ["", "# only a comment\n", "Model:\nLayerName:\n"])
def test_empty_document_and_sections_mean_defaults(text: str) -> None:
    assert load(text).resolve(FC1) == Config.from_yaml(None).resolve(FC1)


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "nn2fpga.yml"
    path.write_text("Part: xcu250\nModel:\n  ReuseFactor: [1, 2\n")
    # where the parser gave up (end of file), and where the unclosed bracket opened
    expected = rf"^{re.escape(str(path))}:4:1: invalid YAML: .*\(while parsing a flow sequence at line 3, column 16\)$"
    with pytest.raises(ConfigError, match=expected):
        Config.from_yaml(path)


def test_yaml_syntax_error_line_from_text() -> None:
    with pytest.raises(ConfigError, match=r"^x\.yml:2:\d+: invalid YAML: "):
        Config.from_text("Part: a\n  Model: : b\n", "x.yml")


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match=r"^nope\.yml: cannot read config file"):
        Config.from_yaml("nope.yml")


def test_from_yaml_path_and_text_agree(tmp_path: Path) -> None:
    text = "Model:\n  ReuseFactor: 4\n  Precision: ap_fixed<8,3>\n"
    (tmp_path / "c.yml").write_text(text)
    assert Config.from_yaml(tmp_path / "c.yml").to_dict() == load(text).to_dict()
    assert Config.from_yaml(str(tmp_path / "c.yml")).to_dict() == load(text).to_dict()


# ---- stage 2: names against the graph ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("LayerName: {fc1x: {}}",
         "LayerName.fc1x: no layer named 'fc1x' in model 'jet-tagger v2' (did you mean 'fc1'?); layers: in, fc1, bn, "),
        ("LayerName: {flat: {Precision: 'ap_fixed<8,3>'}}",
         "LayerName.flat.Precision: Reshape has none of the roles a plain type sets; its roles: none"),
        ("LayerName: {flat: {Precision: {result: 'ap_fixed<8,3>'}}}",
         "LayerName.flat.Precision.result: Reshape has no 'result'; allowed: none"),
        ("LayerName: {relu1: {Precision: {accum: exact}}}",
         "LayerName.relu1.Precision.accum: Activation(relu) has no 'accum'; allowed: result"),
        ("LayerName: {tanh1: {Precision: {exp_table: 'ap_ufixed<8,1>'}}}",
         "LayerName.tanh1.Precision.exp_table: Activation(tanh) has no 'exp_table'; allowed: result, table"),
        ("LayerName: {bn: {ReuseFactor: 2}}",
         "LayerName.bn.ReuseFactor: BatchNorm has no multipliers, so no ReuseFactor; allowed: Precision"),
        ("LayerName: {in: {Strategy: Resource}}",
         "LayerName.in.Strategy: Input has no multipliers, so no Strategy; allowed: Precision"),
    ],
)  # fmt: skip
def test_bind_errors(text: str, message: str) -> None:
    cfg = load(text)  # stage 1 accepts it
    with pytest.raises(ConfigError, match="^" + re.escape(message)) as err:
        cfg.bind(GRAPH)
    assert err.value.args[0].endswith("(in test.yml)")


def test_bind_accepts_kinds_absent_from_the_model_and_plain_strings() -> None:
    g = Graph("tiny")
    g.add(Input("in", (4,)))
    g.add(Activation("act", (4,), fn="relu"), ["in"])
    load("LayerType: {Dense: {ReuseFactor: 4}, BatchNorm: {}}\nLayerName: {act: {Precision: 'ap_fixed<8,3>'}}").bind(g)


# ---- serialization -----------------------------------------------------------------------------------

CONFIGS = {
    "defaults": "",
    "model string": "Model: {Precision: 'ap_fixed<12,4,AP_RND_CONV,AP_SAT>', ReuseFactor: 2, Strategy: resource}",
    "mixed": """
        ProjectName: tagger
        IOType: io_stream
        ClockPeriod: 2.5
        DisabledPasses: [fuse_activation]
        Model:
          Precision: {result: 'ap_fixed<14,5>', accum: 'ap_fixed<32,12>', table: 'ap_ufixed<10,1>'}
        LayerType:
          Dense: {Precision: 'ap_fixed<9,2>', ReuseFactor: 4}
          Activation: {Precision: {exp_table: 'ap_ufixed<12,1>'}}
          BatchNorm: {Precision: {scale: 'ap_int<4>'}}
        LayerName:
          fc2: {Precision: {weight: 'ap_fixed<6,1>', accum: exact}, Strategy: Resource}
          tanh1: {Precision: {table: 'ap_fixed<8,2,AP_RND>'}}
          "softmax1": {Precision: 'ap_fixed<18,8>'}
    """,
}


def _strip(s: LayerSettings) -> tuple:
    return s.precision, s.reuse_factor, s.strategy


# which config
@pytest.mark.parametrize("name", list(CONFIGS))
def test_resolved_yaml_round_trip(name: str) -> None:
    cfg = load(CONFIGS[name])
    cfg.bind(GRAPH)
    text = cfg.resolved_yaml(GRAPH)
    again = Config.from_text(text, "resolved.yml")
    again.bind(GRAPH)
    for layer in GRAPH:
        assert _strip(again.resolve(layer)) == _strip(cfg.resolve(layer)), layer.name
        for role in layer.type_roles():
            assert again.resolve(layer).source[f"Precision.{role}"] == f"LayerName.{layer.name}.Precision.{role}"
    for key in TOP_LEVEL:
        if key.name not in ("Model", "LayerType", "LayerName", "ProjectName"):
            assert getattr(again, key.attr) == getattr(cfg, key.attr)
    assert again.project_name == cfg.resolved_project_name(GRAPH)


def test_resolved_yaml_content() -> None:
    text = load(CONFIGS["mixed"]).resolved_yaml(GRAPH)
    data = yaml.safe_load(text)
    assert list(data["LayerName"]) == [layer.name for layer in GRAPH]  # graph order, every layer
    assert data["LayerName"]["fc2"] == {
        "Precision": {"result": "ap_fixed<9,2>", "weight": "ap_fixed<6,1>", "bias": "ap_fixed<9,2>", "accum": "exact"},
        "ReuseFactor": 4,
        "Strategy": "Resource",
    }
    assert "ReuseFactor" not in data["LayerName"]["bn"]  # only layers with multipliers
    model_precision = {"result": "ap_fixed<14,5>", "accum": "ap_fixed<32,12>", "table": "ap_ufixed<10,1>"}
    # ReuseFactor, PE, SIMD and Lanes are chosen per layer where not given: the Model level lists the rest
    assert data["Model"] == {"Precision": model_precision, "Strategy": "Latency", "WeightStorage": "auto",
                             "Multipliers": "auto", "TableSize": 1024}  # fmt: skip
    assert "LayerType" not in data  # folded into the LayerName entries
    lines = text.splitlines()
    assert any(re.match(r"^  fc1:\s+# Dense\+relu, shape 8$", line) for line in lines)
    assert any(re.match(r"^  flat: \{\}\s+# Reshape, shape 2x2; nothing to configure$", line) for line in lines)
    for key in TOP_LEVEL:  # every top-level key written carries its comment
        assert any(line.startswith(f"{key.name}:") and "  # " in line for line in lines) or key.name == "LayerType"


def test_resolved_yaml_of_a_compiled_graph_keeps_fused_layers() -> None:
    # after fuse_activation the ReLU lives on as dense.fused and is still resolved by its own name
    g = Graph("fused")
    g.add(Input("in", (4,)))
    relu = Activation("relu0", (3,), fn="relu")
    g.add(Dense("fc", (3,), weight=np.zeros((4, 3)), activation="relu", fused=relu), ["in"])
    g.outputs = ["fc"]
    cfg = load("LayerName: {relu0: {Precision: 'ap_fixed<8,3>'}}")
    cfg.bind(g)  # the fused layer counts as present
    data = yaml.safe_load(cfg.resolved_yaml(g))
    assert list(data["LayerName"]) == ["in", "fc", "relu0"]
    again = Config.from_text(cfg.resolved_yaml(g))
    assert again.resolve(relu).precision == {"result": t("ap_fixed<8,3>")}
    assert "# Activation(relu), shape 3; fused into fc" in cfg.resolved_yaml(g)


# which config
@pytest.mark.parametrize("name", list(CONFIGS))
def test_to_dict_round_trip(name: str) -> None:
    cfg = load(CONFIGS[name])
    again = Config.from_yaml(yaml.safe_load(yaml.safe_dump(cfg.to_dict())))
    assert again.to_dict() == cfg.to_dict()
    for layer in GRAPH:
        assert again.resolve(layer) == cfg.resolve(layer)


def test_to_dict_normalizes_spellings() -> None:
    cfg = load(
        "Model: {Precision: 'fixed<8,3,RND>', Strategy: RESOURCE}\nLayerName: {fc1: {Precision: {accum: Exact}}}"
    )
    assert cfg.to_dict() == {
        "Model": {"Precision": "ap_fixed<8,3,AP_RND>", "Strategy": "Resource"},
        "LayerName": {"fc1": {"Precision": {"accum": "exact"}}},
    }


# ---- docs --------------------------------------------------------------------------------------------


# what the reference must document
@pytest.mark.parametrize("word", [k.name for k in TOP_LEVEL] + [k.name for k in LAYER_KEYS] + list(ROLES))
def test_docs_cover(word: str) -> None:
    assert f"`{word}`" in DOCS.read_text()
