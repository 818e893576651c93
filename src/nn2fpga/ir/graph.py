"""The layer graph: a small API over networkx (the only module that touches networkx).

Node key = layer name, node attribute `layer`. Edges carry `index`, the position of the producer
among the consumer's inputs (order matters for Add/Concatenate). Outputs are listed explicitly.
"""

from __future__ import annotations

import copy as _copy
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import networkx as nx

from nn2fpga.ir.layers import Activation, Add, Input, Layer


def describe(layer: Layer) -> str:
    """`Dense`, `Dense+relu`, `Activation(tanh)`, `Add(maximum)`: the kind as messages, comments and summaries
    name it."""
    if isinstance(layer, Activation):
        return f"{layer.kind}({layer.fn})"
    if isinstance(layer, Add) and layer.op != "add":
        return f"{layer.kind}({layer.op})" + ("" if layer.activation == "linear" else f"+{layer.activation}")
    fused = getattr(layer, "activation", "linear")
    return layer.kind if fused == "linear" else f"{layer.kind}+{fused}"


class GraphError(ValueError):
    """The graph broke an invariant (raised by `lint`)."""


class Graph:
    def __init__(self, name: str = "model") -> None:
        self.name = name
        self._g = nx.DiGraph()
        self.outputs: list[str] = []
        # decisions of the hardware flow (nn2fpga.passes.hardware); None until it runs
        self.io_type: str | None = None  # "io_parallel" | "io_stream"
        self.weight_literals: str | None = None  # "inline" | "at_build"

    # ---- building -----------------------------------------------------------------------------------

    def add(self, layer: Layer, inputs: list[str] | tuple[str, ...] = ()) -> Layer:
        """Add `layer` consuming the outputs of `inputs` (in order)."""
        if layer.name in self._g:
            raise GraphError(f"duplicate layer name {layer.name!r}")
        if len(set(inputs)) != len(inputs):  # one edge per pair: a second would replace the first's index
            raise GraphError(f"layer {layer.name!r}: an input appears twice in {list(inputs)}")
        self._g.add_node(layer.name, layer=layer)
        for i, src in enumerate(inputs):
            if src not in self._g:
                raise GraphError(f"layer {layer.name!r}: unknown input {src!r}")
            self._g.add_edge(src, layer.name, index=i)
        return layer

    # ---- queries ------------------------------------------------------------------------------------

    def __contains__(self, name: str) -> bool:
        return name in self._g

    def __getitem__(self, name: str) -> Layer:
        try:
            return self._g.nodes[name]["layer"]
        except KeyError:
            raise KeyError(f"no layer named {name!r}") from None

    def __len__(self) -> int:
        return self._g.number_of_nodes()

    def layers(self) -> list[Layer]:
        """All layers in a stable topological order (ties broken by insertion order)."""
        order = {n: i for i, n in enumerate(self._g.nodes)}
        return [self[n] for n in nx.lexicographical_topological_sort(self._g, key=order.__getitem__)]

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers())

    def inputs(self) -> list[Input]:
        return [layer for layer in self.layers() if isinstance(layer, Input)]

    def producers(self, name: str) -> list[Layer]:
        """The layers feeding `name`, in input order."""
        edges = sorted(self._g.in_edges(name, data="index"), key=lambda e: e[2])
        return [self[src] for src, _, _ in edges]

    def producer(self, name: str) -> Layer:
        """The single layer feeding `name`."""
        prods = self.producers(name)
        if len(prods) != 1:
            raise GraphError(f"layer {name!r} has {len(prods)} inputs, expected 1")
        return prods[0]

    def users(self, name: str) -> list[Layer]:
        """The layers consuming `name` (stable order)."""
        return [self[dst] for dst in self._g.successors(name)]

    def is_output(self, name: str) -> bool:
        return name in self.outputs

    # ---- rewriting ----------------------------------------------------------------------------------

    def removable(self, name: str) -> bool:
        """Whether `remove(name)` can connect its producer to its users: none of them reads the producer already
        (one edge per pair of layers; Add(x, linear(x)) would become Add(x, x))."""
        src = self.producer(name).name
        return not any(self._g.has_edge(src, dst) for dst in self._g.successors(name))

    def remove(self, name: str) -> None:
        """Remove a single-input layer, connecting its producer to its users (and to the outputs)."""
        src = self.producer(name).name
        if not self.removable(name):
            raise GraphError(f"cannot remove {name!r}: a layer reads both it and its producer {src!r}")
        for dst in list(self._g.successors(name)):
            self._g.add_edge(src, dst, index=self._g.edges[name, dst]["index"])
        self.outputs = [src if o == name else o for o in self.outputs]
        self._g.remove_node(name)

    def replace(self, name: str, layer: Layer) -> None:
        """Put `layer` in the place of `name`, keeping its edges; `layer.name` may differ."""
        if layer.name != name:
            if layer.name in self._g:
                raise GraphError(f"duplicate layer name {layer.name!r}")
            nx.relabel_nodes(self._g, {name: layer.name}, copy=False)
            self.outputs = [layer.name if o == name else o for o in self.outputs]
        self._g.nodes[layer.name]["layer"] = layer

    def insert_after(self, name: str, layer: Layer) -> Layer:
        """Insert single-input `layer` between `name` and all its users (and outputs)."""
        users = list(self._g.successors(name))
        self.add(layer, [name])
        for dst in users:
            index = self._g.edges[name, dst]["index"]
            self._g.remove_edge(name, dst)
            self._g.add_edge(layer.name, dst, index=index)
        self.outputs = [layer.name if o == name else o for o in self.outputs]
        return layer

    def copy(self) -> Graph:
        """A deep copy (layers and their arrays included), so passes never alias the caller's graph."""
        return _copy.deepcopy(self)

    # ---- checks -------------------------------------------------------------------------------------

    def lint(self) -> None:
        """Check the invariants every pass must keep; raises GraphError naming the layer."""
        if not nx.is_directed_acyclic_graph(self._g):
            raise GraphError("the graph has a cycle")
        if not self.outputs:
            raise GraphError("the graph has no outputs")
        for o in self.outputs:
            if o not in self._g:
                raise GraphError(f"output {o!r} is not a layer")
        for name, data in self._g.nodes(data=True):
            layer = data.get("layer")
            if not isinstance(layer, Layer) or layer.name != name:
                raise GraphError(f"node {name!r} does not hold a layer of that name")
            idx = sorted(i for _, _, i in self._g.in_edges(name, data="index"))
            if idx != list(range(len(idx))):
                raise GraphError(f"layer {name!r}: input indices {idx} are not 0..n-1")
            if isinstance(layer, Input) and idx:
                raise GraphError(f"input layer {name!r} has producers")
            if not isinstance(layer, Input) and not idx:
                raise GraphError(f"layer {name!r} has no inputs")
            if "result" in layer.types and layer.types["result"] is None:
                raise GraphError(f"layer {name!r}: result type is unset")

    # ---- display ------------------------------------------------------------------------------------

    def summary(self) -> str:
        """A table of layers, kinds, shapes, result types and the hardware decisions: reuse factors,
        strategies, folds (PE x SIMD), weight storage, stream lanes and the FIFO depths of the streams into
        each layer (io_stream)."""
        rows = [
            ("layer", "kind", "shape", "result", "accum", "reuse", "strategy", "PExSIMD", "weights", "lanes", "fifos")
        ]
        for layer in self.layers():
            types = [str(layer.types.get(role) or "-") for role in ("result", "accum")]
            hardware = ["-"] * 4
            if layer.HAS_MULTIPLIERS:
                fold = f"{layer.pe}x{layer.simd}" if layer.pe else "-"
                hardware = [str(layer.reuse_factor), layer.strategy, fold, layer.weight_storage or "-"]
            lanes = str(layer.lanes) if layer.lanes and self.io_type == "io_stream" else "-"
            fifos = ",".join(map(str, layer.fifo_depths)) or "-"
            rows.append((layer.name, describe(layer), "x".join(map(str, layer.shape)), *types, *hardware, lanes, fifos))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        if self.io_type is not None:
            lines.append(f"IOType: {self.io_type}; WeightLiterals: {self.weight_literals}")
        return "\n".join(lines)

    def draw(self, path: str) -> str:
        """Write the graph as a PNG with Graphviz's `dot` (must be on PATH); returns the path."""
        import shutil
        import subprocess

        dot = shutil.which("dot")
        if dot is None:
            raise FileNotFoundError(
                "drawing needs Graphviz's 'dot' on PATH (apt-get install graphviz); "
                "Graph.to_dot() gives the source without it"
            )
        subprocess.run([dot, "-Tpng", "-o", str(path)], input=self.to_dot(), text=True, check=True)
        return str(path)

    def to_dot(self) -> str:
        """Graphviz source of the graph (render with `dot -Tpng`)."""
        lines = [f'digraph "{self.name}" {{', "  node [shape=record, fontname=monospace];"]
        for layer in self.layers():
            result = layer.types.get("result")
            label = f"{layer.name}|{layer.kind}|{'x'.join(map(str, layer.shape))}|{result or ''}"
            label = label.replace("<", "\\<").replace(">", "\\>")
            lines.append(f'  "{layer.name}" [label="{{{label}}}"];')
        for src, dst in self._g.edges:
            lines.append(f'  "{src}" -> "{dst}";')
        lines.append("}")
        return "\n".join(lines) + "\n"


def walk(graph: Graph, feeds: dict[str, Any], execute: Callable[..., Any]) -> Iterator[tuple[Layer, Any]]:
    """Evaluate `graph` layer by layer, producers first, yielding (layer, its value).

    `execute(layer, *inputs)` computes a layer from its producers' values; an Input gets
    `feeds[name]`. A value is dropped as soon as no later layer reads it (a ResNet-50 at 224x224
    would otherwise hold every feature map); the caller keeps what it needs from the yields.
    """
    layers = graph.layers()
    producers = {layer.name: graph.producers(layer.name) for layer in layers}
    pending = Counter(p.name for ps in producers.values() for p in ps)
    env: dict[str, Any] = {}
    for layer in layers:
        ps = producers[layer.name]
        args = [feeds[layer.name]] if isinstance(layer, Input) else [env[p.name] for p in ps]
        env[layer.name] = out = execute(layer, *args)
        yield layer, out
        for p in ps:
            pending[p.name] -= 1
            if not pending[p.name]:
                env.pop(p.name, None)
