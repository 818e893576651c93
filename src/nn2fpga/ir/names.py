"""C++ identifiers for model names: the one helper that makes them legal, unique and stable, and the names
of the layers and io_stream FIFOs that generated code declares."""

from __future__ import annotations

import re

from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Input

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


def port_var(index: int, output: bool) -> str:
    """The top function's argument of the model's input (output) number `index`: in, in1, in2, ... (out, out1, ...)."""
    return ("out" if output else "in") + (str(index) if index else "")


def input_vars(graph: Graph) -> set[str]:
    """The top function's input arguments: streams no FIFO depth applies to."""
    return {port_var(k, False) for k in range(len(graph.inputs()))}


def layer_idents(graph: Graph, project: str) -> dict[str, str]:
    """The C++ identifier of every layer of `graph` in project `project` (unique; the top function's arguments
    `in`, `in1`, ..., `out`, `out1`, ... are taken)."""
    ports = [port_var(k, False) for k in range(max(len(graph.inputs()), 1))]
    taken: set[str] = {project, *ports, *(port_var(k, True) for k in range(max(len(graph.outputs), 1)))}
    return {layer.name: cpp_name(layer.name, taken) for layer in graph.layers()}


def stream_names(graph: Graph, project: str) -> dict[tuple[str, str], str]:
    """The io_stream FIFO on each edge (producer, consumer), as the top function declares it: `in` (`in1`, ...) out
    of the model's inputs, `<producer>_out` to a single user, `<producer>_to_<consumer>` out of a fork (which reads
    `<producer>_out`, or the input's own argument)."""
    ids = layer_idents(graph, project)
    inputs = {layer.name: port_var(k, False) for k, layer in enumerate(graph.inputs())}
    names = {}
    for layer in graph.layers():
        users = graph.users(layer.name)
        for user in users:
            if len(users) > 1:
                name = f"{ids[layer.name]}_to_{ids[user.name]}"
            else:
                name = inputs[layer.name] if isinstance(layer, Input) else f"{ids[layer.name]}_out"
            names[(layer.name, user.name)] = name
    return names
