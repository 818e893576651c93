"""The kernel's ports: one per model input and output, each a top-function argument and a part of every sample's
memory words.

Input (output) number k is the argument `in` (`out`) for k = 0, else `in<k>` (`out<k>`), of type `input_t`
(`result_t`), else `input<k>_t` (`result<k>_t`), with N_INPUT (N_OUTPUT), else N_INPUT<k> (N_OUTPUT<k>) values.
A sample's memory words hold each input's packed values in model order, each input padded to whole 512-bit words
(`nn2fpga.sim.binding.pack_ports`); outputs likewise. A model with one input and one output has the names and
the layout it always had.

In io_stream the kernel's load process writes the inputs one after another, smallest first, and its store
reads the outputs largest first; the kernel's streams of every input but the last written (every output but the
first read) hold a whole sample, so neither process waits on a stream the top function reads (writes) later.
"""

from __future__ import annotations

import dataclasses

from nn2fpga.ir.errors import ModelError
from nn2fpga.ir.graph import Graph
from nn2fpga.ir.layers import Input, Layer
from nn2fpga.ir.names import port_var
from nn2fpga.ir.rules import raw_container
from nn2fpga.ir.types import FixedType

WORD_BITS = 512


@dataclasses.dataclass
class Port:
    """One model input or output on the kernel's interface (what the templates and the host need)."""

    index: int
    output: bool
    layer: str  # the IR layer holding the value (the Input, or the output's producer)
    shape: tuple[int, ...]
    dtype: FixedType
    offset: int = 0  # 512-bit words before this port's in a sample's words
    lanes: int = 0  # io_stream: values per stream word
    chan: int = 0  # io_stream: channels per pixel
    depth: int = 2  # io_stream: depth of the kernel's stream of this port

    @property
    def suffix(self) -> str:
        return str(self.index) if self.index else ""

    @property
    def var(self) -> str:
        return port_var(self.index, self.output)

    @property
    def ctype(self) -> str:
        return f"result{self.suffix}_t" if self.output else f"input{self.suffix}_t"

    @property
    def macro(self) -> str:
        return f"N_{'OUTPUT' if self.output else 'INPUT'}{self.suffix}"

    @property
    def raw(self) -> str:
        return raw_container(self.dtype)

    @property
    def raw_t(self) -> str:
        return f"{'output' if self.output else 'input'}{self.suffix}_raw_t"

    @property
    def pix(self) -> str:
        return f"{'result' if self.output else 'input'}{self.suffix}_pix_t"

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def bits(self) -> int:
        return self.dtype.container_bits

    @property
    def per_word(self) -> int:
        return WORD_BITS // self.bits

    @property
    def words(self) -> int:
        return -(-self.size * self.bits // WORD_BITS)

    @property
    def elems(self) -> int:  # io_stream: stream words per sample
        return self.size // self.lanes if self.lanes else 0

    def meta(self, name: str) -> dict:
        """The host's description (host/model.json, report.json): name, shape, type, raw container."""
        return {"name": name, "shape": list(self.shape), "type": self.dtype.cpp(), "raw": self.raw}


def check_ports(graph: Graph) -> None:
    """ModelError unless every output is computed by a layer no other layer reads, no input is an output and
    every input is read (an io_stream kernel would wait for ever on an input stream nothing drains)."""
    for layer in graph.inputs():
        if not graph.users(layer.name) and layer.name not in graph.outputs:
            raise ModelError(f"model input {layer.name!r} reaches no output: nothing would read it (remove it from "
                             "the model's inputs)")  # fmt: skip
    for name in graph.outputs:
        if isinstance(graph[name], Input):
            raise ModelError(f"model output {name!r} is a model input: nothing computes it")
        users = graph.users(name)
        if users:
            raise ModelError(f"model output {name!r} is also read by layer {users[0].name!r}: an output must "
                             "end a branch (output a copy instead, e.g. Activation('linear') after it)")  # fmt: skip
    if len(set(graph.outputs)) != len(graph.outputs):
        raise ModelError(f"model {graph.name!r} names one layer as two outputs")


def ports(graph: Graph) -> tuple[list[Port], list[Port]]:
    """The input and output ports of a compiled graph, in model order, with their word offsets (and io_stream
    lanes, channels and kernel stream depths)."""
    check_ports(graph)
    stream = graph.io_type == "io_stream"

    def make(layers: list[Layer], output: bool) -> list[Port]:
        out, offset = [], 0
        for k, layer in enumerate(layers):
            port = Port(k, output, layer.name, tuple(layer.shape), layer.types["result"], offset)
            if stream:
                port.lanes, port.chan = layer.lanes, int(layer.shape[-1])
            offset += port.words
            out.append(port)
        if stream:  # whole samples in every stream but the one load writes last (store reads first)
            buffered = store_order(out)[1:] if output else load_order(out)[:-1]
            for port in buffered:
                port.depth = max(port.elems, 2)
        return out

    return make(graph.inputs(), False), make([graph[n] for n in graph.outputs], True)


def load_order(inputs: list[Port]) -> list[Port]:
    """The order the io_stream load writes the inputs in: smallest first (the last one streams)."""
    return sorted(inputs, key=lambda p: p.elems)


def store_order(outputs: list[Port]) -> list[Port]:
    """The order the io_stream store reads the outputs in: largest first (the first one streams)."""
    return sorted(outputs, key=lambda p: p.elems, reverse=True)
