"""The one ctypes binding of a project's C simulation library, and the kernel's memory layout.

The library (`nn2fpga.sim.csim.build` of the project's csim/bridge.cpp) exports `n2f_load_weights(dir)`,
`n2f_sizes(&n_in, &n_out)`, `n2f_words(&in_words, &out_words)` and `n2f_predict(in, out, n, threads)`: the
kernel on a batch given as the bytes of its packed memory words, as a card would get them; built for the
bounded-FIFO simulation (`nn2fpga.sim.bounded`), also text reports.

Packing (the one definition on the Python side; firmware/kernel.h has the C++ one): the kernel reads and
writes 512-bit (64-byte) words. A sample's raw values, each in its container (`RAW_DTYPES`), lie contiguously
and little-endian from the sample's first byte, and zeros pad each sample to a whole number of words. A model
with several inputs (outputs) has each one's words so, one after another in model order (`pack_ports`).
NumPy and ctypes only: a generated project's driver uses a verbatim copy, `host/binding.py`.
"""

from __future__ import annotations

import ctypes
import os

import numpy as np

# C raw word type -> NumPy dtype: a W-bit value travels as its two's-complement bits in the smallest of these
RAW_DTYPES = {f"{u}int{bits}_t": np.dtype(f"{u}int{bits}") for u in ("", "u") for bits in (8, 16, 32, 64)}
WORD_BYTES = 64  # one 512-bit word of the kernel's m_axi ports


def sample_words(n_values: int, dtype: np.dtype) -> int:
    """512-bit words that one sample of `n_values` values in containers of `dtype` takes, padding included."""
    return -(-n_values * np.dtype(dtype).itemsize // WORD_BYTES)


def pack_words(raw: np.ndarray, n_values: int, dtype: np.dtype) -> np.ndarray:
    """The kernel's memory image of raw values (any shape holding whole samples of `n_values`): a
    (batch, words * 64) uint8 array, each row one sample's values as little-endian `dtype`, then zeros."""
    little = np.dtype(dtype).newbyteorder("<")
    values = np.ascontiguousarray(np.asarray(raw).reshape(-1, n_values).astype(little))
    packed = np.zeros((len(values), sample_words(n_values, dtype) * WORD_BYTES), dtype=np.uint8)
    packed[:, : n_values * little.itemsize] = values.view(np.uint8).reshape(len(values), n_values * little.itemsize)
    return packed


def unpack_words(packed: np.ndarray, n_values: int, dtype: np.dtype) -> np.ndarray:
    """The raw values (batch, n_values) of `dtype` in a memory image made by `pack_words` (any shape holding
    whole samples); the padding is ignored."""
    dtype = np.dtype(dtype)
    rows = np.ascontiguousarray(packed, dtype=np.uint8).reshape(-1, sample_words(n_values, dtype) * WORD_BYTES)
    values = np.ascontiguousarray(rows[:, : n_values * dtype.itemsize]).view(dtype.newbyteorder("<"))
    return values.astype(dtype)


Ports = list[tuple[int, str]]  # (values per sample, raw C word type) of each input or output, in model order


def pack_ports(raws: list[np.ndarray], ports: Ports) -> np.ndarray:
    """The memory image (batch, bytes) of several ports' raw values: each port's `pack_words`, side by side."""
    parts = [pack_words(r, n, RAW_DTYPES[raw]) for r, (n, raw) in zip(raws, ports, strict=True)]
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def unpack_ports(packed: np.ndarray, ports: Ports) -> list[np.ndarray]:
    """The raw values of each port (batch, n_values) in a memory image made by `pack_ports`."""
    widths = [sample_words(n, RAW_DTYPES[raw]) * WORD_BYTES for n, raw in ports]
    rows = np.ascontiguousarray(packed, dtype=np.uint8).reshape(-1, sum(widths))
    edges = np.cumsum([0, *widths])
    return [unpack_words(rows[:, a:b], n, RAW_DTYPES[raw]) for (n, raw), a, b in zip(ports, edges, edges[1:])]


class Library:
    """A loaded C simulation library with its weights: packed input words in, packed output words out."""

    def __init__(self, path: str | os.PathLike, weights: str | os.PathLike, inputs: Ports, outputs: Ports) -> None:
        """Load `path` and the weights directory `weights`; `inputs` / `outputs`: each port's values per sample and
        raw C word type."""
        self.lib = ctypes.CDLL(str(path))
        self.lib.n2f_load_weights.argtypes = [ctypes.c_char_p]
        self.lib.n2f_sizes.argtypes = [ctypes.POINTER(ctypes.c_int)] * 2
        self.lib.n2f_words.argtypes = [ctypes.POINTER(ctypes.c_int)] * 2
        self.lib.n2f_predict.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long, ctypes.c_int]
        self.inputs, self.outputs = list(inputs), list(outputs)
        n_in, n_out, in_words, out_words = (ctypes.c_int() for _ in range(4))
        self.lib.n2f_sizes(ctypes.byref(n_in), ctypes.byref(n_out))
        self.lib.n2f_words(ctypes.byref(in_words), ctypes.byref(out_words))
        self.in_bytes = sum(sample_words(n, RAW_DTYPES[raw]) for n, raw in self.inputs) * WORD_BYTES
        self.out_bytes = sum(sample_words(n, RAW_DTYPES[raw]) for n, raw in self.outputs) * WORD_BYTES
        ours = (sum(n for n, _ in self.inputs), sum(n for n, _ in self.outputs))
        words = (self.in_bytes // WORD_BYTES, self.out_bytes // WORD_BYTES)
        if (n_in.value, n_out.value, in_words.value, out_words.value) != (*ours, *words):
            raise ValueError(
                f"{path}: the kernel takes {n_in.value} and {n_out.value} values ({in_words.value} and "
                f"{out_words.value} words) per sample, the packing {ours[0]} and {ours[1]} ({words[0]} and "
                f"{words[1]}): a library of another project?"
            )
        if self.lib.n2f_load_weights(os.fsencode(weights)) != 0:
            raise ValueError(f"{weights}: missing or truncated weight files (see stderr)")

    def predict_words(self, packed: np.ndarray, threads: int = 1) -> np.ndarray:
        """Output memory image (batch, out_bytes) uint8 for an input memory image (any shape holding whole
        samples), the batch split across `threads` threads. The arrays passed to the library are made here: it
        writes through bare pointers."""
        packed = np.ascontiguousarray(packed, dtype=np.uint8).reshape(-1, self.in_bytes)
        out = np.empty((packed.shape[0], self.out_bytes), dtype=np.uint8)
        if packed.shape[0]:
            self.lib.n2f_predict(packed.ctypes.data, out.ctypes.data, packed.shape[0], threads)
        return out

    def predict_ports(self, raws: list[np.ndarray], threads: int = 1) -> list[np.ndarray]:
        """Raw output values of each output (batch, n) for the raw values of each input: packed, run, unpacked."""
        return unpack_ports(self.predict_words(pack_ports(raws, self.inputs), threads), self.outputs)

    def text(self, entry: str) -> str:
        """The text an entry point without arguments returns (a library built for the bounded-FIFO simulation
        has `n2f_streams` and `n2f_deadlock`)."""
        fn = getattr(self.lib, entry)
        fn.restype = ctypes.c_char_p
        return fn().decode()
