"""Sliding windows of the spatial layers (Conv2D, DepthwiseConv2D, Pool2D): one definition of how a
layer's kernel, strides and explicit (top, bottom, left, right) padding map onto its input."""

from __future__ import annotations

import numpy as np


def windows(x: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int], padding, fill: float) -> np.ndarray:
    """(B, Ho, Wo, kh, kw, C) windows of x (B, H, W, C) padded with `fill`."""
    top, bottom, left, right = padding
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=fill)
    win = np.lib.stride_tricks.sliding_window_view(xp, kernel, axis=(1, 2))  # (B, H', W', C, kh, kw)
    return win[:, :: strides[0], :: strides[1]].transpose(0, 1, 2, 4, 5, 3)
