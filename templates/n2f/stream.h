// io_stream layers: every layer is a function over hls::stream of pixels (channel vectors),
// row-major over the feature map, called inside a #pragma HLS DATAFLOW region.
// Convolutions and pooling keep only a line buffer of KH rows (never a whole feature map).
#ifndef N2F_STREAM_H
#define N2F_STREAM_H

#if defined(N2F_BOUNDED_STREAMS) && defined(__SYNTHESIS__)
#undef N2F_BOUNDED_STREAMS  // bounded FIFOs are a C-simulation mode; synthesis never sees that code
#endif

#include <hls_stream.h>

#include "n2f/activation.h"
#include "n2f/common.h"
#include "n2f/dense.h"

// A process of a DATAFLOW region (a layer call or a fork in a generated top function). Bounded C
// simulation (-DN2F_BOUNDED_STREAMS, nn2fpga's hls_stream.h) adds it to the region's hls::sim::dataflow,
// which runs every process on a thread of its own; otherwise it is the plain call.
#ifdef N2F_BOUNDED_STREAMS
#ifndef NN2FPGA_HLS_STREAM_H
#error "N2F_BOUNDED_STREAMS needs nn2fpga's hls_stream.h (templates/) on the include path first"
#endif
#define N2F_PROCESS(region, name, ...) region.add(name, [&] { __VA_ARGS__; })
#else
#define N2F_PROCESS(region, name, ...) __VA_ARGS__
#endif

namespace n2f {

// One pixel: the channel vector of one feature-map position.
template <class T, int N>
struct pix {
    typedef T value_type;
    static const int size = N;
    T v[N];
};

// Sliding-window position bookkeeping shared by convolution and pooling: the padded input is
// scanned row-major; a window ends at (pr, pc) and produces an output when it lands on the stride grid.
template <typename CONFIG_T>
struct window {
    static const int PH = CONFIG_T::in_h + CONFIG_T::pad_t + CONFIG_T::pad_b;
    static const int PW = CONFIG_T::in_w + CONFIG_T::pad_l + CONFIG_T::pad_r;
    static bool is_pad(int pr, int pc) {
        return pr < CONFIG_T::pad_t || pr >= CONFIG_T::pad_t + CONFIG_T::in_h || pc < CONFIG_T::pad_l ||
               pc >= CONFIG_T::pad_l + CONFIG_T::in_w;
    }
    static bool emits(int pr, int pc) {
        const int oy = pr - (CONFIG_T::kh - 1), ox = pc - (CONFIG_T::kw - 1);
        return oy >= 0 && ox >= 0 && oy % CONFIG_T::sh == 0 && ox % CONFIG_T::sw == 0 &&
               oy / CONFIG_T::sh < CONFIG_T::out_h && ox / CONFIG_T::sw < CONFIG_T::out_w;
    }
};

// Conv2D / DepthwiseConv2D: acc = bias + sum(x * w) exactly, optional ReLU, cast.
// Weights: (kh, kw, n_chan, n_filt) row-major; depthwise: (kh, kw, n_chan).
template <class data_T, class res_T, typename CONFIG_T>
void conv2d_stream(hls::stream<data_T> &in, hls::stream<res_T> &out,
                   const typename CONFIG_T::weight_t w[CONFIG_T::n_weights],
                   const typename CONFIG_T::bias_t b[CONFIG_T::n_filt]) {
    typedef window<CONFIG_T> win;
    typedef typename data_T::value_type in_t;
    const int C = CONFIG_T::n_chan, F = CONFIG_T::n_filt, KH = CONFIG_T::kh, KW = CONFIG_T::kw;
    in_t buf[KH][win::PW][C];
#pragma HLS ARRAY_PARTITION variable = buf complete dim = 1
#pragma HLS ARRAY_PARTITION variable = buf complete dim = 3
Rows:
    for (int pr = 0; pr < win::PH; pr++) {
    Cols:
        for (int pc = 0; pc < win::PW; pc++) {
#pragma HLS PIPELINE II = CONFIG_T::reuse_factor
            if (win::is_pad(pr, pc)) {
                for (int c = 0; c < C; c++) buf[pr % KH][pc][c] = 0;
            } else {
                const data_T px = in.read();
                for (int c = 0; c < C; c++) buf[pr % KH][pc][c] = px.v[c];
            }
            if (!win::emits(pr, pc)) continue;
            typename CONFIG_T::accum_t acc[F];
#pragma HLS ARRAY_PARTITION variable = acc complete
            for (int f = 0; f < F; f++) acc[f] = b[f];
            for (int ky = 0; ky < KH; ky++) {
                const int row = (pr - (KH - 1) + ky) % KH;
                for (int kx = 0; kx < KW; kx++) {
                    const int col = pc - (KW - 1) + kx;
                    for (int c = 0; c < C; c++) {
                        const in_t x = buf[row][col][c];
                        if (CONFIG_T::depthwise) {
                            acc[c] += x * w[(ky * KW + kx) * C + c];
                        } else {
                            const int base = ((ky * KW + kx) * C + c) * F;
                            for (int f = 0; f < F; f++) acc[f] += x * w[base + f];
                        }
                    }
                }
            }
            res_T y;
            for (int f = 0; f < F; f++) {
                if (CONFIG_T::relu && acc[f] < 0) {
                    y.v[f] = 0;
                } else {
                    y.v[f] = acc[f];
                }
            }
            out.write(y);
        }
    }
}

// Max pooling (padded positions never win) and average pooling (exact sum times recip).
template <class data_T, class res_T, typename CONFIG_T>
void pool2d_stream(hls::stream<data_T> &in, hls::stream<res_T> &out) {
    typedef window<CONFIG_T> win;
    typedef typename data_T::value_type in_t;
    const int C = CONFIG_T::n_chan, KH = CONFIG_T::kh, KW = CONFIG_T::kw;
    in_t buf[KH][win::PW][C];
#pragma HLS ARRAY_PARTITION variable = buf complete dim = 1
Rows:
    for (int pr = 0; pr < win::PH; pr++) {
    Cols:
        for (int pc = 0; pc < win::PW; pc++) {
#pragma HLS PIPELINE II = 1
            if (win::is_pad(pr, pc)) {
                for (int c = 0; c < C; c++) buf[pr % KH][pc][c] = 0;
            } else {
                const data_T px = in.read();
                for (int c = 0; c < C; c++) buf[pr % KH][pc][c] = px.v[c];
            }
            if (!win::emits(pr, pc)) continue;
            res_T y;
            for (int c = 0; c < C; c++) {
                typename CONFIG_T::sum_t s = 0;
                in_t m = 0;
                bool first = true;
                for (int ky = 0; ky < KH; ky++) {
                    for (int kx = 0; kx < KW; kx++) {
                        const int r = pr - (KH - 1) + ky, col = pc - (KW - 1) + kx;
                        const in_t x = buf[r % KH][col][c];
                        if (CONFIG_T::is_max) {
                            if (win::is_pad(r, col)) continue;
                            if (first || x > m) m = x;
                            first = false;
                        } else {
                            s += x;
                        }
                    }
                }
                if (CONFIG_T::is_max) {
                    y.v[c] = m;
                } else {
                    const typename CONFIG_T::recip_t recip = CONFIG_T::recip;
                    y.v[c] = s * recip;
                }
            }
            out.write(y);
        }
    }
}

// Global max / average over all pixels, per channel.
template <class data_T, class res_T, typename CONFIG_T>
void global_pool_stream(hls::stream<data_T> &in, hls::stream<res_T> &out) {
    const int C = CONFIG_T::n_chan;
    typename CONFIG_T::sum_t s[C];
    typename data_T::value_type m[C];
    for (int p = 0; p < CONFIG_T::n_pixels; p++) {
        const data_T px = in.read();
        for (int c = 0; c < C; c++) {
            if (p == 0) {
                s[c] = 0;
                m[c] = px.v[c];
            }
            s[c] += px.v[c];
            if (px.v[c] > m[c]) m[c] = px.v[c];
        }
    }
    res_T y;
    const typename CONFIG_T::recip_t recip = CONFIG_T::recip;
    for (int c = 0; c < C; c++) {
        if (CONFIG_T::is_max) {
            y.v[c] = m[c];
        } else {
            y.v[c] = s[c] * recip;
        }
    }
    out.write(y);
}

// Zero padding that could not be folded into a convolution (e.g. before max pooling).
template <class data_T, class res_T, typename CONFIG_T>
void zeropad_stream(hls::stream<data_T> &in, hls::stream<res_T> &out) {
    typedef window<CONFIG_T> win;
    for (int pr = 0; pr < win::PH; pr++) {
        for (int pc = 0; pc < win::PW; pc++) {
#pragma HLS PIPELINE II = 1
            res_T y;
            if (win::is_pad(pr, pc)) {
                for (int c = 0; c < CONFIG_T::n_chan; c++) y.v[c] = 0;
            } else {
                const data_T px = in.read();
                for (int c = 0; c < CONFIG_T::n_chan; c++) y.v[c] = px.v[c];
            }
            out.write(y);
        }
    }
}

// Element-wise sum of any number of streams: exact sum (sum_t), relu when fused, then one cast.
template <class res_T, typename CONFIG_T, class... P>
inline void add_pixels(res_T &y, const P &...px) {
    for (int c = 0; c < CONFIG_T::n_chan; c++) {
#pragma HLS UNROLL
        typename CONFIG_T::sum_t s = 0;
        ((s += px.v[c]), ...);
        if (CONFIG_T::relu && s < 0) {
            s = 0;
        }
        y.v[c] = s;
    }
}

template <class res_T, typename CONFIG_T, class... in_T>
void add_stream(hls::stream<res_T> &out, hls::stream<in_T> &...ins) {
    for (int p = 0; p < CONFIG_T::n_pixels; p++) {
#pragma HLS PIPELINE II = 1
#ifdef N2F_BOUNDED_STREAMS  // one pipeline stage reads every input: it stalls until all of them hold a pixel
        (ins.wait_data(), ...);
#endif
        res_T y;
        add_pixels<res_T, CONFIG_T>(y, ins.read()...);
        out.write(y);
    }
}

// Concatenation along channels; each input value is cast to the result type.
template <class res_T, class P>
inline void concat_one(res_T &y, int &k, const P &px) {
    for (int c = 0; c < P::size; c++) y.v[k + c] = px.v[c];
    k += P::size;
}

template <class res_T, class... in_T>
inline void concat_read(res_T &y, hls::stream<in_T> &...ins) {
    int k = 0;
    int order[] = {0, (concat_one(y, k, ins.read()), 0)...};  // braced list: evaluated left to right
    (void)order;
}

template <class res_T, typename CONFIG_T, class... in_T>
void concat_stream(hls::stream<res_T> &out, hls::stream<in_T> &...ins) {
    for (int p = 0; p < CONFIG_T::n_pixels; p++) {
#pragma HLS PIPELINE II = 1
#ifdef N2F_BOUNDED_STREAMS  // as add_stream: all inputs are read in one stage
        (ins.wait_data(), ...);
#endif
        res_T y;
        concat_read(y, ins...);
        out.write(y);
    }
}

// Fork: one producer feeding several consumers (skip connections) gets one stream per consumer.
template <class T, typename CONFIG_T, class... S>
void fork_stream(hls::stream<T> &in, S &...outs) {
    for (int p = 0; p < CONFIG_T::n_pixels; p++) {
#pragma HLS PIPELINE II = 1
        const T px = in.read();
#ifdef N2F_BOUNDED_STREAMS  // one pipeline stage writes every output: it stalls until all of them have room
        (outs.wait_room(), ...);
#endif
        (outs.write(px), ...);
    }
}

// Whole-vector layers in a stream: gather n_in values, apply, emit the result pixel(s).
template <class data_T, class res_T, typename CONFIG_T>
void dense_stream(hls::stream<data_T> &in, hls::stream<res_T> &out,
                  const typename CONFIG_T::weight_t w[CONFIG_T::n_in * CONFIG_T::n_out],
                  const typename CONFIG_T::bias_t b[CONFIG_T::n_out]) {
    typename data_T::value_type x[CONFIG_T::n_in];
    for (int p = 0; p < CONFIG_T::n_in / data_T::size; p++) {
        const data_T px = in.read();
        for (int c = 0; c < data_T::size; c++) x[p * data_T::size + c] = px.v[c];
    }
    res_T y;
    dense<typename data_T::value_type, typename res_T::value_type, CONFIG_T>(x, y.v, w, b);
    out.write(y);
}

// Reshape / Flatten: values keep their row-major order; only the pixel size changes.
template <class data_T, class res_T, typename CONFIG_T>
void reshape_stream(hls::stream<data_T> &in, hls::stream<res_T> &out) {
    res_T y;
    int k = 0;
    for (int p = 0; p < CONFIG_T::n_total / data_T::size; p++) {
        const data_T px = in.read();
        for (int c = 0; c < data_T::size; c++) {
            y.v[k++] = px.v[c];
            if (k == res_T::size) {
                out.write(y);
                k = 0;
            }
        }
    }
}

}  // namespace n2f

// Pixel-wise wrappers of the array activations: <name>_stream(in, out, constants...).
#define N2F_PIXELWISE(fn)                                                                                     \
    namespace n2f {                                                                                           \
    template <class data_T, class res_T, typename CONFIG_T, class... K>                                       \
    void fn##_stream(hls::stream<data_T> &in, hls::stream<res_T> &out, const K *...consts) {                   \
        for (int p = 0; p < CONFIG_T::n_pixels; p++) {                                                        \
            const data_T x = in.read();                                                                       \
            res_T y;                                                                                          \
            fn<typename data_T::value_type, typename res_T::value_type, CONFIG_T>(x.v, y.v, consts...);       \
            out.write(y);                                                                                     \
        }                                                                                                     \
    }                                                                                                         \
    }
N2F_PIXELWISE(linear)
N2F_PIXELWISE(relu)
N2F_PIXELWISE(leaky_relu)
N2F_PIXELWISE(hard_sigmoid)
N2F_PIXELWISE(table_activation)
N2F_PIXELWISE(softmax)
N2F_PIXELWISE(batchnorm)
#undef N2F_PIXELWISE

#endif
