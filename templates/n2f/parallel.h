// io_parallel spatial layers: feature maps are flat arrays in channels-last order (row, column,
// channel), the same order as the kernel interface and Keras. Convolutions gather one output pixel's
// window into an array and apply the folded matrix-vector unit of n2f/dense.h to it (same arithmetic).
// Window geometry (CONFIG_T): in_h, in_w, n_chan, kh, kw, sh, sw, pad_t, pad_l, out_h, out_w.
#ifndef N2F_PARALLEL_H
#define N2F_PARALLEL_H

#include "n2f/common.h"
#include "n2f/dense.h"

namespace n2f {

// Input position (row r, column c) under tap (ky, kx) of the window of output pixel (oy, ox), and
// whether it lies inside the unpadded input (outside = zero padding).
template <typename CONFIG_T>
struct taps {
    static int row(int oy, int ky) { return oy * CONFIG_T::sh + ky - CONFIG_T::pad_t; }
    static int col(int ox, int kx) { return ox * CONFIG_T::sw + kx - CONFIG_T::pad_l; }
    static bool inside(int r, int c) { return r >= 0 && r < CONFIG_T::in_h && c >= 0 && c < CONFIG_T::in_w; }
};

// win[(ky * kw + kx) * n_chan + c] = x at that tap, 0 in the padding: the (kh, kw, n_chan) row-major
// order of the weights' first three axes.
template <class data_T, typename CONFIG_T>
inline void gather_window(const data_T x[CONFIG_T::in_h * CONFIG_T::in_w * CONFIG_T::n_chan],
                          data_T win[CONFIG_T::kh * CONFIG_T::kw * CONFIG_T::n_chan], int oy, int ox) {
#pragma HLS INLINE
    typedef taps<CONFIG_T> tap;
    const int C = CONFIG_T::n_chan;
    for (int ky = 0; ky < CONFIG_T::kh; ky++) {
        for (int kx = 0; kx < CONFIG_T::kw; kx++) {
            const int r = tap::row(oy, ky), c = tap::col(ox, kx), k = (ky * CONFIG_T::kw + kx) * C;
            for (int ch = 0; ch < C; ch++) {
#pragma HLS UNROLL
                if (tap::inside(r, c)) {
                    win[k + ch] = x[(r * CONFIG_T::in_w + c) * C + ch];
                } else {
                    win[k + ch] = 0;
                }
            }
        }
    }
}

// Conv2D / DepthwiseConv2D: for each output pixel, the window gathered into an array, then the folded
// matrix-vector unit of n2f/dense.h on it (PE x SIMD per clock, n_in/SIMD steps per fold). Weights:
// (kh * kw * n_chan, n_filt) rows x columns; depthwise: (kh * kw, n_chan).
template <class data_T, class res_T, typename CONFIG_T>
void conv2d(const data_T x[CONFIG_T::in_h * CONFIG_T::in_w * CONFIG_T::n_chan],
            res_T y[CONFIG_T::out_h * CONFIG_T::out_w * CONFIG_T::n_out],
            const typename CONFIG_T::weight_t w[CONFIG_T::n_in][CONFIG_T::n_out],
            const typename CONFIG_T::bias_t b[CONFIG_T::n_out]) {
#pragma HLS INLINE off
    const int F = CONFIG_T::n_out;
Pixels:
    for (int p = 0; p < CONFIG_T::out_h * CONFIG_T::out_w; p++) {
        data_T win[CONFIG_T::kh * CONFIG_T::kw * CONFIG_T::n_chan];
        gather_window<data_T, CONFIG_T>(x, win, p / CONFIG_T::out_w, p % CONFIG_T::out_w);
        dense_folded<data_T, res_T, CONFIG_T>(win, &y[p * F], w, b);
    }
}

// Max pooling (padded positions never win) and average pooling (exact sum_t sum times recip_t: 1/count of the
// taps inside the input, from the table `recips` when the layer pads).
template <class data_T, class res_T, typename CONFIG_T, class... K>
void pool2d(const data_T x[CONFIG_T::in_h * CONFIG_T::in_w * CONFIG_T::n_chan],
            res_T y[CONFIG_T::out_h * CONFIG_T::out_w * CONFIG_T::n_chan], const K *...recips) {
    typedef taps<CONFIG_T> tap;
    const int C = CONFIG_T::n_chan;
    for (int oy = 0; oy < CONFIG_T::out_h; oy++) {
        for (int ox = 0; ox < CONFIG_T::out_w; ox++) {
            for (int ch = 0; ch < C; ch++) {
#pragma HLS UNROLL
                typename CONFIG_T::sum_t s = 0;
                data_T m = 0;
                bool first = true;
                int count = 0;
                for (int ky = 0; ky < CONFIG_T::kh; ky++) {
                    for (int kx = 0; kx < CONFIG_T::kw; kx++) {
                        const int r = tap::row(oy, ky), c = tap::col(ox, kx);
                        if (!tap::inside(r, c)) continue;  // zero padding: adds nothing, never a max
                        const data_T v = x[(r * CONFIG_T::in_w + c) * C + ch];
                        if (first || v > m) m = v;
                        first = false;
                        s += v;
                        count++;
                    }
                }
                const int o = (oy * CONFIG_T::out_w + ox) * C + ch;
                if (CONFIG_T::is_max) {
                    y[o] = m;
                } else {
                    y[o] = s * pool_recip<CONFIG_T>(count, recips...);
                }
            }
        }
    }
}

// Global max / average over all pixels, per channel.
template <class data_T, class res_T, typename CONFIG_T>
void global_pool(const data_T x[CONFIG_T::n_pixels * CONFIG_T::n_chan], res_T y[CONFIG_T::n_chan]) {
    const typename CONFIG_T::recip_t recip = CONFIG_T::recip;
    for (int ch = 0; ch < CONFIG_T::n_chan; ch++) {
#pragma HLS UNROLL
        typename CONFIG_T::sum_t s = 0;
        data_T m = x[ch];
        for (int p = 0; p < CONFIG_T::n_pixels; p++) {
            const data_T v = x[p * CONFIG_T::n_chan + ch];
            s += v;
            if (v > m) m = v;
        }
        if (CONFIG_T::is_max) {
            y[ch] = m;
        } else {
            y[ch] = s * recip;
        }
    }
}

// Zero padding that could not be folded into a convolution (e.g. before max pooling).
template <class data_T, class res_T, typename CONFIG_T>
void zeropad(const data_T x[CONFIG_T::in_h * CONFIG_T::in_w * CONFIG_T::n_chan],
             res_T y[CONFIG_T::out_h * CONFIG_T::out_w * CONFIG_T::n_chan]) {
    typedef taps<CONFIG_T> tap;
    const int C = CONFIG_T::n_chan;
    for (int oy = 0; oy < CONFIG_T::out_h; oy++) {
        for (int ox = 0; ox < CONFIG_T::out_w; ox++) {
            const int r = tap::row(oy, 0), c = tap::col(ox, 0);
            for (int ch = 0; ch < C; ch++) {
#pragma HLS UNROLL
                if (tap::inside(r, c)) {
                    y[(oy * CONFIG_T::out_w + ox) * C + ch] = x[(r * CONFIG_T::in_w + c) * C + ch];
                } else {
                    y[(oy * CONFIG_T::out_w + ox) * C + ch] = 0;
                }
            }
        }
    }
}

// Cropping: the output pixel (oy, ox) is the input pixel (oy + crop_t, ox + crop_l).
template <class data_T, class res_T, typename CONFIG_T>
void crop(const data_T x[CONFIG_T::in_h * CONFIG_T::in_w * CONFIG_T::n_chan],
          res_T y[CONFIG_T::out_h * CONFIG_T::out_w * CONFIG_T::n_chan]) {
    const int C = CONFIG_T::n_chan;
    for (int oy = 0; oy < CONFIG_T::out_h; oy++) {
        for (int ox = 0; ox < CONFIG_T::out_w; ox++) {
            const int src = ((oy + CONFIG_T::crop_t) * CONFIG_T::in_w + ox + CONFIG_T::crop_l) * C;
            for (int ch = 0; ch < C; ch++) {
#pragma HLS UNROLL
                y[(oy * CONFIG_T::out_w + ox) * C + ch] = x[src + ch];
            }
        }
    }
}

// Nearest-neighbour upsampling: the output pixel (oy, ox) is the input pixel (oy / up_h, ox / up_w).
template <class data_T, class res_T, typename CONFIG_T>
void upsample(const data_T x[CONFIG_T::in_h * CONFIG_T::in_w * CONFIG_T::n_chan],
              res_T y[CONFIG_T::out_h * CONFIG_T::out_w * CONFIG_T::n_chan]) {
    const int C = CONFIG_T::n_chan;
    for (int oy = 0; oy < CONFIG_T::out_h; oy++) {
        for (int ox = 0; ox < CONFIG_T::out_w; ox++) {
            const int src = ((oy / CONFIG_T::up_h) * CONFIG_T::in_w + ox / CONFIG_T::up_w) * C;
            for (int ch = 0; ch < C; ch++) {
#pragma HLS UNROLL
                y[(oy * CONFIG_T::out_w + ox) * C + ch] = x[src + ch];
            }
        }
    }
}

// Permuted axes: output (a, b, c) of the (d0, d1, d2) result is the input value at a * s0 + b * s1 + c * s2.
template <class data_T, class res_T, typename CONFIG_T>
void transpose(const data_T x[CONFIG_T::n], res_T y[CONFIG_T::n]) {
    for (int a = 0; a < CONFIG_T::d0; a++) {
        for (int b = 0; b < CONFIG_T::d1; b++) {
            for (int c = 0; c < CONFIG_T::d2; c++) {
#pragma HLS UNROLL
                y[(a * CONFIG_T::d1 + b) * CONFIG_T::d2 + c] = x[a * CONFIG_T::s0 + b * CONFIG_T::s1 + c * CONFIG_T::s2];
            }
        }
    }
}

// Embedding: each index's table row (the table padded with zero rows to 2**index bits: every index has one).
template <class data_T, class res_T, typename CONFIG_T>
void embedding(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_in * CONFIG_T::dim],
               const typename CONFIG_T::weight_t table[CONFIG_T::rows * CONFIG_T::dim]) {
    for (int p = 0; p < CONFIG_T::n_in; p++) {
        const unsigned row = x[p].to_uint();
        for (int d = 0; d < CONFIG_T::dim; d++) {
#pragma HLS UNROLL
            y[p * CONFIG_T::dim + d] = table[row * CONFIG_T::dim + d];
        }
    }
}

// Element-wise merge of any number of arrays (merge_values: exact in sum_t), optional ReLU, then one cast.
template <class res_T, typename CONFIG_T, class... in_T>
void add(res_T y[CONFIG_T::n], const in_T *...xs) {
    for (int i = 0; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        merge_values<res_T, CONFIG_T>(y[i], xs[i]...);
    }
}

// A feature map times a per-channel vector (squeeze-and-excitation): exact products, one cast.
template <class res_T, typename CONFIG_T, class x_T, class v_T>
void channel_scale(res_T y[CONFIG_T::n], const x_T *x, const v_T *v) {
    for (int i = 0; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        y[i] = x[i] * v[i % CONFIG_T::n_chan];
    }
}

// Dot of two vectors: the exact sum (sum_t) of the n exact products, then one cast.
template <class res_T, typename CONFIG_T, class a_T, class b_T>
void dot(res_T y[1], const a_T *a, const b_T *b) {
    typename CONFIG_T::sum_t s = 0;
    for (int i = 0; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        s += a[i] * b[i];
    }
    y[0] = s;
}

// Concatenation along channels: input k has C_k channels per pixel; each value is cast to res_T.
template <int C, class res_T, class in_T>
inline void concat_pixel(res_T *y, int &k, const in_T *x) {
    for (int c = 0; c < C; c++) {
#pragma HLS UNROLL
        y[k + c] = x[c];
    }
    k += C;
}

template <class res_T, typename CONFIG_T, int... C, class... in_T>
void concat(res_T y[CONFIG_T::n], const in_T *...xs) {
    for (int p = 0; p < CONFIG_T::n_pixels; p++) {
#pragma HLS UNROLL
        int k = p * CONFIG_T::n_chan;
        int order[] = {0, (concat_pixel<C>(y, k, xs + p * C), 0)...};  // braced list: left to right
        (void)order;
    }
}

}  // namespace n2f

#endif
