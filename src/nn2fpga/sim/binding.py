"""The one ctypes binding of a project's C simulation library: load it, declare its entry points, call them.

The library (`nn2fpga.sim.csim.build` of the project's csim/bridge.cpp) exports `n2f_load_weights(dir)`,
`n2f_sizes(&n_in, &n_out)` and `n2f_predict(in, out, n, threads)`: the kernel on a batch of raw words; built for
the bounded-FIFO simulation (`nn2fpga.sim.bounded`), also text reports.
NumPy and ctypes only: a generated project's driver uses a verbatim copy, `host/binding.py`.
"""

from __future__ import annotations

import ctypes
import os

import numpy as np

# C raw word type -> NumPy dtype: a W-bit value travels as its two's-complement bits in the smallest of these
RAW_DTYPES = {f"{u}int{bits}_t": np.dtype(f"{u}int{bits}") for u in ("", "u") for bits in (8, 16, 32, 64)}


class Library:
    """A loaded C simulation library with its weights: raw input words in, raw output words out."""

    def __init__(self, path: str | os.PathLike, weights: str | os.PathLike, in_raw: str, out_raw: str) -> None:
        """Load `path` and the weights directory `weights`; `in_raw` / `out_raw` name the raw C word types."""
        self.lib = ctypes.CDLL(str(path))
        self.lib.n2f_load_weights.argtypes = [ctypes.c_char_p]
        self.lib.n2f_sizes.argtypes = [ctypes.POINTER(ctypes.c_int)] * 2
        self.lib.n2f_predict.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long, ctypes.c_int]
        self.in_dtype, self.out_dtype = RAW_DTYPES[in_raw], RAW_DTYPES[out_raw]
        n_in, n_out = ctypes.c_int(), ctypes.c_int()
        self.lib.n2f_sizes(ctypes.byref(n_in), ctypes.byref(n_out))
        self.n_in, self.n_out = n_in.value, n_out.value
        if self.lib.n2f_load_weights(os.fsencode(weights)) != 0:
            raise ValueError(f"{weights}: missing or truncated weight files (see stderr)")

    def predict_raw(self, raw: np.ndarray, threads: int = 1) -> np.ndarray:
        """Raw output words (batch, n_out) for raw input words (any shape holding whole samples), the batch split
        across `threads` threads. The arrays passed to the library are made here: it writes through bare pointers."""
        raw = np.ascontiguousarray(raw, dtype=self.in_dtype).reshape(-1, self.n_in)
        out = np.empty((raw.shape[0], self.n_out), dtype=self.out_dtype)
        if raw.shape[0]:
            self.lib.n2f_predict(raw.ctypes.data, out.ctypes.data, raw.shape[0], threads)
        return out

    def text(self, entry: str) -> str:
        """The text an entry point without arguments returns (a library built for the bounded-FIFO simulation
        has `n2f_streams` and `n2f_deadlock`)."""
        fn = getattr(self.lib, entry)
        fn.restype = ctypes.c_char_p
        return fn().decode()
