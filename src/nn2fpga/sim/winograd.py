"""Winograd F(2x2, 3x3) for the reference's stride-1 3x3 convolutions, exact in float64 under a bound
checked on every call (otherwise the reference uses im2col)."""

from __future__ import annotations

import numpy as np

from nn2fpga.ir.layers import Conv2D
from nn2fpga.sim.exact import column_l1, finish_exact, fits_float, per_weight

# Winograd F(2x2, 3x3) (Lavin and Gray, 2016) for stride-1 3x3 convolutions: a 4x4 input tile d and the
# filter g give the 2x2 output tile A^T [(G g G^T) * (B^T d B)] A, 16 multiplications instead of 36.
# B^T and A^T hold only 0 and +-1, 2G only integers: every value stays an exact dyadic number, so the
# result equals the im2col product bit for bit whenever no partial sum exceeds float64's 53 bits.
_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]])
_G2 = np.array([[2, 0, 0], [1, 1, 1], [1, -1, 1], [0, 0, 2]])  # 2G
_COEF = np.einsum("ai,bj->abij", _BT, _BT)  # V[a, b] = sum_ij _COEF[a, b, i, j] d[i, j]
_N_POS, _N_NEG = (_COEF > 0).sum(axis=(2, 3)), (_COEF < 0).sum(axis=(2, 3))
_Y_TERMS = [(slice(r, r + 3), slice(c, c + 3)) for r in (0, 1) for c in (0, 1)]  # the 9 M[a, b] of each output
WINOGRAD_WEIGHT_BITS = 48  # raw weights up to this width: 2G g 2G^T stays below 2**51 (exact in float64)


def _winograd_filter(layer: Conv2D) -> tuple[np.ndarray, np.ndarray] | None:
    """(U = G g G^T as (16, C, K) float64, the (4, 4) column sums max_k sum_c |U|) of the layer's weight,
    computed once per weight array and weight type; None when the weights are too wide for exact U."""
    w_t = layer.types["weight"]
    if w_t.width > WINOGRAD_WEIGHT_BITS:
        return None

    def compute() -> tuple[np.ndarray, np.ndarray]:
        raw = w_t.to_raw(layer.weight).astype(np.int64)  # exact: the weights lie on their type's grid
        u4 = np.einsum("ai,bj,ijck->abck", _G2, _G2, raw)  # 4U at the weight lsb, integers below 9 * 2**47
        u = np.ascontiguousarray(np.ldexp(u4.astype(np.float64), -w_t.frac - 2).reshape(16, *raw.shape[2:]))
        return u, np.abs(u).sum(axis=1).max(axis=1, initial=0.0).reshape(4, 4)

    return per_weight(layer.weight, w_t, compute)  # U is 16/9 the weight's size: dropped with the weight array


def winograd_fits(layer: Conv2D, lo: float, hi: float) -> bool:
    """True when the Winograd product of `layer` is exact for inputs in [lo, hi].

    V[a, b] = (B^T d B)[a, b] is a +-1 sum of inputs (zero padding included) bounded by interval arithmetic;
    M[a, b] = V[a, b] @ U[a, b] sums to at most max|V[a, b]| * max_k sum_c |U[a, b, c, k]|; an output
    value is a +-1 sum of 9 of the M[a, b], so every partial sum, of the GEMM or of the output transform,
    is bounded by the sum of those 9 bounds. All are multiples of 2**-(F_in + F_w + 2) (G holds halves).
    """
    t = layer.types
    if layer.kernel != (3, 3) or tuple(layer.strides) != (1, 1) or t["input"].frac + t["weight"].frac > t["accum"].frac:
        return False  # not a stride-1 3x3 convolution, or the products are truncated one by one
    filt = _winograd_filter(layer)
    if filt is None:
        return False
    lo, hi = min(lo, 0.0), max(hi, 0.0)  # the zero padding lies in the range too
    v_max = np.maximum(_N_POS * hi - _N_NEG * lo, _N_POS * -lo + _N_NEG * hi)  # max |V[a, b]|
    m_max = v_max * filt[1]
    lsb = t["input"].frac + t["weight"].frac + 2
    bound = max(float(m_max[rows, cols].sum()) for rows, cols in _Y_TERMS)
    return fits_float(float(v_max.max()), 1.0, t["input"].frac) and fits_float(bound, 1.0, lsb)


def winograd_conv(layer: Conv2D, x: np.ndarray, x_max: float) -> np.ndarray:
    """The convolution of a layer that `winograd_fits`: tile transforms by strided +-1 sums, one batched
    float64 GEMM per tile position, then the accumulator's cast as in `_linear`."""
    u = _winograd_filter(layer)[0]
    b, h, w, c = x.shape
    top, bottom, left, right = layer.padding
    ho, wo, k = h + top + bottom - 2, w + left + right - 2, layer.n_out
    th, tw = -(-ho // 2), -(-wo // 2)  # 2x2 output tiles; the last row/column may overhang (cropped)
    xp = np.zeros((b, 2 * th + 2, 2 * tw + 2, c))
    xp[:, top : top + h, left : left + w] = x
    # input transform B^T d B: rows, then columns, each a +-1 combination of strided slices
    rows = np.empty((4, b, th, 2 * tw + 2, c))
    _transform_in([xp[:, i : i + 2 * th : 2] for i in range(4)], rows)
    v = np.empty((4, 4, b, th, tw, c))
    for a in range(4):
        _transform_in([rows[a][:, :, j : j + 2 * tw : 2] for j in range(4)], v[a])
    m = np.matmul(v.reshape(16, -1, c), u).reshape(4, 4, b, th, tw, k)
    # output transform A^T M A, A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]: rows, then columns
    half = np.empty((2, 4, b, th, tw, k))
    _transform_out(m, half)
    y = np.empty((b, th, 2, tw, 2, k))  # output pixel (2i + a, 2j + c) at y[:, i, a, j, c]
    for a in range(2):
        _transform_out(half[a], (y[:, :, a, :, 0], y[:, :, a, :, 1]))
    y = y.reshape(b, 2 * th, 2 * tw, k)[:, :ho, :wo]
    return finish_exact(layer, y, x_max * column_l1(layer.weight, layer.weight.reshape(-1, k)))


def _transform_in(d: list[np.ndarray], out: np.ndarray) -> None:
    """out[0..3] = B^T applied along the list: d0 - d2, d1 + d2, d2 - d1, d1 - d3."""
    np.subtract(d[0], d[2], out=out[0])
    np.add(d[1], d[2], out=out[1])
    np.subtract(d[2], d[1], out=out[2])
    np.subtract(d[1], d[3], out=out[3])


def _transform_out(m: np.ndarray, out: np.ndarray | tuple[np.ndarray, np.ndarray]) -> None:
    """out[0..1] = A^T applied along the first axis of m: m0 + m1 + m2, m1 - m2 - m3."""
    np.add(m[0], m[1], out=out[0])
    np.add(out[0], m[2], out=out[0])
    np.subtract(m[1], m[2], out=out[1])
    np.subtract(out[1], m[3], out=out[1])
