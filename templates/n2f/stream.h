// io_stream layers: every layer is a function over hls::stream of words, each carrying `lanes` channels
// of one pixel (a pixel is n_chan / lanes consecutive words, feature map row-major), called inside a
// #pragma HLS DATAFLOW region. Every loop that touches the stream is pipelined at II = 1 and its body is
// bounded: PE x SIMD multiplications (convolution, dense), lanes x kh x kw values (pooling), lanes values
// (everything else). Convolutions and pooling keep only a line buffer of KH rows (never a whole map).
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

// One stream word: N lanes (channels) of a pixel of CHAN channels; a pixel is CHAN / N words.
template <class T, int N, int CHAN = N>
struct pix {
    typedef T value_type;
    static const int size = N;
    static const int chan = CHAN;
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

// The line buffer's words at padded position (pr, pc): the position's n_chan / lanes words from the
// stream, or zeros in the padding; one word per clock.
template <class data_T, typename CONFIG_T>
inline void read_position(hls::stream<data_T> &in, data_T slot[], int pr, int pc) {
#pragma HLS INLINE
Read:
    for (int ci = 0; ci < CONFIG_T::n_chan / data_T::size; ci++) {
#pragma HLS PIPELINE II = 1
        N2F_COUNT(CONFIG_T)
        data_T px;
        if (window<CONFIG_T>::is_pad(pr, pc)) {
            for (int l = 0; l < data_T::size; l++) px.v[l] = 0;
        } else {
            px = in.read();
        }
        slot[ci] = px;
    }
}

// Weights of a folded layer, one step's PE x SIMD values at a time: value s * PE + p of step (fo, st) is
// w[st * SIMD + s][fo * PE + p] (rows, columns as in n2f/dense.h). On-chip layers (BRAM, LUTRAM) read the
// matrix, a constant array passed as `w`. Streamed layers get an hls::stream of these words from a
// weight_reader process instead: WeightStorage offchip consumes one word per step (the matrix again for
// every output pixel); uram copies the words into its URAM bank when the kernel is called with load set,
// and reads the bank afterwards (UltraScale+ cannot initialize URAM from the bitstream).
template <typename CONFIG_T>
struct wword {
    typename CONFIG_T::weight_t v[CONFIG_T::pe * CONFIG_T::simd];
};

// The default C simulation (neither synthesis nor bounded FIFOs) keeps an off-chip layer's words decoded in
// offchip_bank, filled once from the memory image by the bridge (n2f_load_weights), and its weight_reader
// sends nothing: the same values in the same order without copying the matrix through a stream for every
// output pixel. The bounded-FIFO simulation and synthesis use the stream.
#if !defined(__SYNTHESIS__) && !defined(N2F_BOUNDED_STREAMS)
#define N2F_CACHED_OFFCHIP 1
#else
#define N2F_CACHED_OFFCHIP 0
#endif

template <typename CONFIG_T>
struct offchip_bank {
    static wword<CONFIG_T> mem[CONFIG_T::uram ? 1 : CONFIG_T::w_words];
};
template <typename CONFIG_T>
wword<CONFIG_T> offchip_bank<CONFIG_T>::mem[CONFIG_T::uram ? 1 : CONFIG_T::w_words];

template <typename CONFIG_T, int R, int C>
inline void weights_begin(const typename CONFIG_T::weight_t (&)[R][C], wword<CONFIG_T> *, bool) {}  // on-chip

template <typename CONFIG_T>
inline void weights_begin(hls::stream<wword<CONFIG_T> > &ws, wword<CONFIG_T> *bank, bool load) {
    if (!CONFIG_T::uram || !load) return;
Load:
    for (int k = 0; k < CONFIG_T::w_words; k++) {
#pragma HLS PIPELINE II = 1
        bank[k] = ws.read();
    }
}

// The values of step (fo, st): on-chip layers read the matrix directly (none), streamed layers a word.
template <typename CONFIG_T, int R, int C>
inline const typename CONFIG_T::weight_t *weights_fetch(const typename CONFIG_T::weight_t (&)[R][C],
                                                        const wword<CONFIG_T> *, wword<CONFIG_T> &, int, int) {
    return 0;
}

template <typename CONFIG_T>
inline const typename CONFIG_T::weight_t *weights_fetch(hls::stream<wword<CONFIG_T> > &ws, const wword<CONFIG_T> *bank,
                                                        wword<CONFIG_T> &word, int fo, int st) {
    const int k = fo * CONFIG_T::steps + st;
    if (CONFIG_T::uram) return bank[k].v;
    if (N2F_CACHED_OFFCHIP) return offchip_bank<CONFIG_T>::mem[k].v;
    word = ws.read();
    return word.v;
}

template <typename CONFIG_T, int R, int C>
inline const typename CONFIG_T::weight_t *weights_row(const typename CONFIG_T::weight_t (&w)[R][C],
                                                      const typename CONFIG_T::weight_t *, int fo, int st, int s) {
    return w[st * CONFIG_T::simd + s] + fo * CONFIG_T::pe;
}

template <typename CONFIG_T>
inline const typename CONFIG_T::weight_t *weights_row(hls::stream<wword<CONFIG_T> > &,
                                                      const typename CONFIG_T::weight_t *word, int, int, int s) {
    return word + s * CONFIG_T::pe;
}

// One word from its w_lines 512-bit lines of w_per_line raw containers of w_bits bits (docs/host.md).
template <typename CONFIG_T>
inline void decode_word(const ap_uint<512> *lines, wword<CONFIG_T> &word) {
    const int N = CONFIG_T::pe * CONFIG_T::simd, B = CONFIG_T::w_bits, W = CONFIG_T::weight_t::width;
    for (int l = 0; l < CONFIG_T::w_lines; l++) {
        for (int f = 0; f < CONFIG_T::w_per_line; f++) {
            const int i = l * CONFIG_T::w_per_line + f;
            if (i < N) word.v[i].range(W - 1, 0) = ap_uint<W>(lines[l].range(f * B + W - 1, f * B));
        }
    }
}

// Off-chip words to a streamed layer: `words` words, cycling over the layer's w_words (docs/host.md,
// "Weights in memory"); one 512-bit line per clock.
template <typename CONFIG_T>
void weight_reader(const ap_uint<512> *mem, hls::stream<wword<CONFIG_T> > &ws, int words) {
    if (N2F_CACHED_OFFCHIP && !CONFIG_T::uram) return;
Words:
    for (int k = 0, next = 0; k < words; k++) {
        ap_uint<512> lines[CONFIG_T::w_lines];
    Lines:
        for (int l = 0; l < CONFIG_T::w_lines; l++) {
#pragma HLS PIPELINE II = 1
            N2F_COUNT_ID(CONFIG_T::reader_id)
            lines[l] = mem[next * CONFIG_T::w_lines + l];
        }
        wword<CONFIG_T> word;
        decode_word<CONFIG_T>(lines, word);
        ws.write(word);
        next = next + 1 == CONFIG_T::w_words ? 0 : next + 1;
    }
}

// Folded convolution. Input words carry the stream's lanes of one pixel (channel groups innermost), the
// line buffer keeps KH rows of words. Per input position, Read stores its n_chan / lanes_in words; per
// output pixel, fold fo computes PE outputs in `steps` pipelined iterations of PE x SIMD multiplications:
//   Conv2D:          lanes_in = SIMD, steps = kh * kw * n_chan / SIMD (one tap's SIMD channels per step),
//                    output word = filters fo*PE .. fo*PE+PE-1;
//   DepthwiseConv2D: lanes_in = PE (channel group fo), steps = kh * kw / SIMD (SIMD taps per step).
// Weights (rows, columns) = (kh * kw * n_chan, n_filt) or (kh * kw, n_chan); see n2f/dense.h.
template <class data_T, class res_T, typename CONFIG_T, class W>
void conv2d_stream(hls::stream<data_T> &in, hls::stream<res_T> &out, W &w,
                   const typename CONFIG_T::bias_t b[CONFIG_T::n_filt], bool load = false) {
    typedef window<CONFIG_T> win;
    static wword<CONFIG_T> bank[CONFIG_T::uram ? CONFIG_T::w_words : 1];
#pragma HLS BIND_STORAGE variable = bank type = ram_2p impl = uram
    weights_begin<CONFIG_T>(w, bank, load);
    const int C = CONFIG_T::n_chan, KH = CONFIG_T::kh, KW = CONFIG_T::kw, PE = CONFIG_T::pe, SIMD = CONFIG_T::simd;
    const int L = data_T::size, CF = C / L;
    data_T buf[KH][win::PW][CF];
#pragma HLS ARRAY_PARTITION variable = buf complete dim = 1
#pragma HLS ARRAY_PARTITION variable = buf cyclic factor = CONFIG_T::kw dim = 2
Rows:
    for (int pr = 0; pr < win::PH; pr++) {
    Cols:
        for (int pc = 0; pc < win::PW; pc++) {
            read_position<data_T, CONFIG_T>(in, buf[pr % KH][pc], pr, pc);
            if (!win::emits(pr, pc)) continue;
        Folds:
            for (int fo = 0; fo < CONFIG_T::n_filt / PE; fo++) {
                typename CONFIG_T::accum_t acc[PE];
#pragma HLS ARRAY_PARTITION variable = acc complete
                for (int p = 0; p < PE; p++) acc[p] = b[fo * PE + p];
            Steps:
                for (int st = 0; st < CONFIG_T::steps; st++) {
#pragma HLS PIPELINE II = 1
                    N2F_COUNT(CONFIG_T)
                    wword<CONFIG_T> word;
                    const typename CONFIG_T::weight_t *wp = weights_fetch<CONFIG_T>(w, bank, word, fo, st);
                    if (CONFIG_T::depthwise) {  // SIMD taps of channel group fo
                        for (int s = 0; s < SIMD; s++) {
                            const int t = st * SIMD + s, ky = t / KW, kx = t % KW;
                            const data_T &x = buf[(pr - (KH - 1) + ky) % KH][pc - (KW - 1) + kx][fo];
                            const typename CONFIG_T::weight_t *row = weights_row<CONFIG_T>(w, wp, fo, st, s);
                            for (int p = 0; p < PE; p++) acc[p] += multiply<CONFIG_T::fabric>::run(x.v[p], row[p]);
                        }
                    } else if (SIMD > L) {  // SIMD = TP x n_chan: TP neighbouring taps of one kernel row per step
                        const int TP = SIMD / L;  // TP divides KW, so the taps sit in distinct column banks
                        for (int j = 0; j < TP; j++) {
                            const int t = st * TP + j, ky = t / KW, kx = t % KW;
                            const data_T &x = buf[(pr - (KH - 1) + ky) % KH][pc - (KW - 1) + kx][0];
                            for (int c = 0; c < L; c++) {
                                const typename CONFIG_T::weight_t *row = weights_row<CONFIG_T>(w, wp, fo, st, j * L + c);
                                mac_lanes<CONFIG_T::fabric, CONFIG_T::packed, PE>(acc, x.v[c], row);
                            }
                        }
                    } else {  // SIMD channels of one tap: st = tap * CF + ci
                        const int t = st / CF, ci = st % CF, ky = t / KW, kx = t % KW;
                        const data_T &x = buf[(pr - (KH - 1) + ky) % KH][pc - (KW - 1) + kx][ci];
                        for (int s = 0; s < SIMD; s++) {
                            const typename CONFIG_T::weight_t *row = weights_row<CONFIG_T>(w, wp, fo, st, s);
                            mac_lanes<CONFIG_T::fabric, CONFIG_T::packed, PE>(acc, x.v[s % L], row);  // s < L
                        }
                    }
                }
                res_T y;
                for (int p = 0; p < PE; p++) y.v[p] = fold_output<typename res_T::value_type, CONFIG_T>(acc[p]);
                out.write(y);
            }
        }
    }
}

// Max pooling (padded positions never win) and average pooling (exact sum times recip), lanes channels
// per word: Read stores a position's n_chan / lanes words, then each output word takes lanes x kh x kw
// values from the line buffer (rows partitioned, columns cyclic by kw: one read per bank).
template <class data_T, class res_T, typename CONFIG_T, class... K>
void pool2d_stream(hls::stream<data_T> &in, hls::stream<res_T> &out, const K *...recips) {
    typedef window<CONFIG_T> win;
    typedef typename data_T::value_type in_t;
    const int KH = CONFIG_T::kh, KW = CONFIG_T::kw, L = data_T::size, CF = CONFIG_T::n_chan / L;
    data_T buf[KH][win::PW][CF];
#pragma HLS ARRAY_PARTITION variable = buf complete dim = 1
#pragma HLS ARRAY_PARTITION variable = buf cyclic factor = CONFIG_T::kw dim = 2
Rows:
    for (int pr = 0; pr < win::PH; pr++) {
    Cols:
        for (int pc = 0; pc < win::PW; pc++) {
            read_position<data_T, CONFIG_T>(in, buf[pr % KH][pc], pr, pc);
            if (!win::emits(pr, pc)) continue;
        Words:
            for (int ci = 0; ci < CF; ci++) {
#pragma HLS PIPELINE II = 1
                N2F_COUNT(CONFIG_T)
                res_T y;
                for (int l = 0; l < L; l++) {
                    typename CONFIG_T::sum_t s = 0;
                    in_t m = 0;
                    bool first = true;
                    int count = 0;
                    for (int ky = 0; ky < KH; ky++) {
                        for (int kx = 0; kx < KW; kx++) {
                            const int r = pr - (KH - 1) + ky, col = pc - (KW - 1) + kx;
                            const in_t x = buf[r % KH][col][ci].v[l];
                            if (CONFIG_T::is_max) {
                                if (win::is_pad(r, col)) continue;
                                if (first || x > m) m = x;
                                first = false;
                            } else {
                                s += x;  // padding holds zeros
                                count += !win::is_pad(r, col);
                            }
                        }
                    }
                    if (CONFIG_T::is_max) {
                        y.v[l] = m;
                    } else {
                        y.v[l] = s * pool_recip<CONFIG_T>(count, recips...);
                    }
                }
                out.write(y);
            }
        }
    }
}

// Global max / average over all pixels, per channel; n_chan / lanes words per pixel.
template <class data_T, class res_T, typename CONFIG_T>
void global_pool_stream(hls::stream<data_T> &in, hls::stream<res_T> &out) {
    const int L = data_T::size, CF = CONFIG_T::n_chan / L;
    typename CONFIG_T::sum_t s[CF][L];
    typename data_T::value_type m[CF][L];
#pragma HLS ARRAY_PARTITION variable = s complete dim = 2
#pragma HLS ARRAY_PARTITION variable = m complete dim = 2
Pixels:
    for (int p = 0; p < CONFIG_T::n_pixels; p++) {
    Read:
        for (int ci = 0; ci < CF; ci++) {
#pragma HLS PIPELINE II = 1
            N2F_COUNT(CONFIG_T)
            const data_T px = in.read();
            for (int l = 0; l < L; l++) {
                if (p == 0) {
                    s[ci][l] = 0;
                    m[ci][l] = px.v[l];
                }
                s[ci][l] += px.v[l];
                if (px.v[l] > m[ci][l]) m[ci][l] = px.v[l];
            }
        }
    }
    const typename CONFIG_T::recip_t recip = CONFIG_T::recip;
Write:
    for (int ci = 0; ci < CF; ci++) {
#pragma HLS PIPELINE II = 1
        N2F_COUNT(CONFIG_T)
        res_T y;
        for (int l = 0; l < L; l++) {
            if (CONFIG_T::is_max) {
                y.v[l] = m[ci][l];
            } else {
                y.v[l] = s[ci][l] * recip;
            }
        }
        out.write(y);
    }
}

// Zero padding that could not be folded into a convolution (e.g. before max pooling).
template <class data_T, class res_T, typename CONFIG_T>
void zeropad_stream(hls::stream<data_T> &in, hls::stream<res_T> &out) {
    typedef window<CONFIG_T> win;
    const int L = data_T::size, CF = CONFIG_T::n_chan / L;
    for (int pr = 0; pr < win::PH; pr++) {
        for (int pc = 0; pc < win::PW; pc++) {
            for (int ci = 0; ci < CF; ci++) {
#pragma HLS PIPELINE II = 1
                N2F_COUNT(CONFIG_T)
                res_T y;
                if (win::is_pad(pr, pc)) {
                    for (int l = 0; l < L; l++) y.v[l] = 0;
                } else {
                    const data_T px = in.read();
                    for (int l = 0; l < L; l++) y.v[l] = px.v[l];
                }
                out.write(y);
            }
        }
    }
}

// Cropping: every input word is read once; those of pixels inside the crop are written, in order.
template <class data_T, class res_T, typename CONFIG_T>
void crop_stream(hls::stream<data_T> &in, hls::stream<res_T> &out) {
    const int L = data_T::size, CF = CONFIG_T::n_chan / L;
    for (int r = 0; r < CONFIG_T::in_h; r++) {
        for (int c = 0; c < CONFIG_T::in_w; c++) {
            for (int ci = 0; ci < CF; ci++) {
#pragma HLS PIPELINE II = 1
                N2F_COUNT(CONFIG_T)
                const data_T px = in.read();
                if (r >= CONFIG_T::crop_t && r < CONFIG_T::crop_t + CONFIG_T::out_h && c >= CONFIG_T::crop_l &&
                    c < CONFIG_T::crop_l + CONFIG_T::out_w) {
                    res_T y;
                    for (int l = 0; l < L; l++) y.v[l] = px.v[l];
                    out.write(y);
                }
            }
        }
    }
}

// Nearest-neighbour upsampling: a buffer of one input row (in_w pixels); the first of each row's up_h
// output rows reads the input as it goes, the others replay the buffer. One output word per clock.
template <class data_T, class res_T, typename CONFIG_T>
void upsample_stream(hls::stream<data_T> &in, hls::stream<res_T> &out) {
    const int L = data_T::size, CF = CONFIG_T::n_chan / L;
    data_T row[CONFIG_T::in_w * CF];
    for (int r = 0; r < CONFIG_T::in_h; r++) {
        for (int k = 0; k < CONFIG_T::up_h; k++) {
            for (int ox = 0; ox < CONFIG_T::out_w; ox++) {
                for (int ci = 0; ci < CF; ci++) {
#pragma HLS PIPELINE II = 1
                    N2F_COUNT(CONFIG_T)
                    const int slot = (ox / CONFIG_T::up_w) * CF + ci;
                    const bool fresh = k == 0 && ox % CONFIG_T::up_w == 0;
                    const data_T px = fresh ? in.read() : row[slot];
                    if (fresh) row[slot] = px;
                    res_T y;
                    for (int l = 0; l < L; l++) y.v[l] = px.v[l];
                    out.write(y);
                }
            }
        }
    }
}

// Permuted axes: the whole map is read into a buffer of words, then written in the new order; output word
// (a, b, c) of the (d0, d1, d2) words is buffer word a * s0 + b * s1 + c * s2 (lanes channels a word when the
// channel axis stays last, one value otherwise). A word in or out per clock: 2 x words cycles an image.
template <class data_T, class res_T, typename CONFIG_T>
void transpose_stream(hls::stream<data_T> &in, hls::stream<res_T> &out) {
    const int W = CONFIG_T::d0 * CONFIG_T::d1 * CONFIG_T::d2;
    data_T buf[W];
Read:
    for (int w = 0; w < W; w++) {
#pragma HLS PIPELINE II = 1
        N2F_COUNT(CONFIG_T)
        buf[w] = in.read();
    }
Write:
    for (int a = 0; a < CONFIG_T::d0; a++) {
        for (int b = 0; b < CONFIG_T::d1; b++) {
            for (int c = 0; c < CONFIG_T::d2; c++) {
#pragma HLS PIPELINE II = 1
                N2F_COUNT(CONFIG_T)
                const data_T px = buf[a * CONFIG_T::s0 + b * CONFIG_T::s1 + c * CONFIG_T::s2];
                res_T y;
                for (int l = 0; l < data_T::size; l++) y.v[l] = px.v[l];
                out.write(y);
            }
        }
    }
}

// Embedding: the n_in indices are read (lanes a word), then each index's table row is written, lanes values a
// word; the table is partitioned cyclically by lanes so that a word's values come from different banks.
template <class data_T, class res_T, typename CONFIG_T>
void embedding_stream(hls::stream<data_T> &in, hls::stream<res_T> &out,
                      const typename CONFIG_T::weight_t table[CONFIG_T::rows * CONFIG_T::dim]) {
#pragma HLS ARRAY_PARTITION variable = table cyclic factor = res_T::size
    const int LI = data_T::size, L = res_T::size, DF = CONFIG_T::dim / L;
    typename data_T::value_type idx[CONFIG_T::n_in];
Read:
    for (int w = 0; w < CONFIG_T::n_in / LI; w++) {
#pragma HLS PIPELINE II = 1
        N2F_COUNT(CONFIG_T)
        const data_T px = in.read();
        for (int l = 0; l < LI; l++) idx[w * LI + l] = px.v[l];
    }
Write:
    for (int p = 0; p < CONFIG_T::n_in; p++) {
        for (int k = 0; k < DF; k++) {
#pragma HLS PIPELINE II = 1
            N2F_COUNT(CONFIG_T)
            const unsigned row = idx[p].to_uint();
            res_T y;
            for (int l = 0; l < L; l++) y.v[l] = table[row * CONFIG_T::dim + k * L + l];
            out.write(y);
        }
    }
}

// Element-wise merge of any number of streams, word by word (merge_values: exact, relu when fused, one cast).
template <class res_T, typename CONFIG_T, class... P>
inline void add_words(res_T &y, const P &...px) {
    for (int l = 0; l < res_T::size; l++) {
#pragma HLS UNROLL
        merge_values<typename res_T::value_type, CONFIG_T>(y.v[l], px.v[l]...);
    }
}

template <class res_T, typename CONFIG_T, class... in_T>
void add_stream(hls::stream<res_T> &out, hls::stream<in_T> &...ins) {
    for (int p = 0; p < CONFIG_T::n_words; p++) {
#pragma HLS PIPELINE II = 1
        N2F_COUNT(CONFIG_T)
#ifdef N2F_BOUNDED_STREAMS  // one pipeline stage reads every input: it stalls until all of them hold a word
        int waits[] = {0, (ins.wait_data(), 0)...};
        (void)waits;
#endif
        res_T y;
        add_words<res_T, CONFIG_T>(y, ins.read()...);
        out.write(y);
    }
}

// A feature map times a per-channel vector (squeeze-and-excitation): the vector's n_chan / lanes words first
// (its producer needs the whole map before it has them: the map's stream buffers it, FIFO depth), then a word
// of the map per clock, times the vector's word of its channel group.
template <class res_T, typename CONFIG_T, class x_T, class v_T>
void channel_scale_stream(hls::stream<res_T> &out, hls::stream<x_T> &x, hls::stream<v_T> &v) {
    const int L = x_T::size, CF = CONFIG_T::n_chan / L;
    v_T scale[CF];
Vector:
    for (int ci = 0; ci < CF; ci++) {
#pragma HLS PIPELINE II = 1
        N2F_COUNT(CONFIG_T)
        scale[ci] = v.read();
    }
Map:
    for (int w = 0; w < CONFIG_T::n_pixels * CF; w++) {
#pragma HLS PIPELINE II = 1
        N2F_COUNT(CONFIG_T)
        const x_T px = x.read();
        res_T y;
        for (int l = 0; l < L; l++) y.v[l] = px.v[l] * scale[w % CF].v[l];
        out.write(y);
    }
}

// Dot of two vectors: a word of each per clock (lanes values), products summed exactly in sum_t; the one result
// word after the last.
template <class res_T, typename CONFIG_T, class a_T, class b_T>
void dot_stream(hls::stream<res_T> &out, hls::stream<a_T> &a, hls::stream<b_T> &b) {
    typename CONFIG_T::sum_t s = 0;
    for (int w = 0; w < CONFIG_T::n_words; w++) {
#pragma HLS PIPELINE II = 1
        N2F_COUNT(CONFIG_T)
        const a_T x = a.read();
        const b_T z = b.read();
        for (int l = 0; l < a_T::size; l++) s += x.v[l] * z.v[l];
    }
    res_T y;
    y.v[0] = s;
    out.write(y);
}

// Concatenation along channels: per pixel, each input's n_chan / lanes words in turn, cast to the result.
template <class res_T, typename CONFIG_T, class in_T>
inline void concat_words(hls::stream<res_T> &out, hls::stream<in_T> &in, int words) {
    for (int k = 0; k < words; k++) {
#pragma HLS PIPELINE II = 1
        N2F_COUNT(CONFIG_T)
        const in_T px = in.read();
        res_T y;
        for (int l = 0; l < res_T::size; l++) y.v[l] = px.v[l];
        out.write(y);
    }
}

template <class res_T, typename CONFIG_T, class... in_T>
void concat_stream(hls::stream<res_T> &out, hls::stream<in_T> &...ins) {
    for (int p = 0; p < CONFIG_T::n_pixels; p++) {
        int order[] = {0, (concat_words<res_T, CONFIG_T>(out, ins, in_T::chan / res_T::size), 0)...};
        (void)order;
    }
}

// Fork: one producer feeding several consumers (skip connections) gets one stream per consumer.
template <class T, typename CONFIG_T, class... S>
void fork_stream(hls::stream<T> &in, S &...outs) {
    for (int p = 0; p < CONFIG_T::n_words; p++) {
#pragma HLS PIPELINE II = 1
        N2F_COUNT(CONFIG_T)
        const T px = in.read();
#ifdef N2F_BOUNDED_STREAMS  // one pipeline stage writes every output: it stalls until all of them have room
        int waits[] = {0, (outs.wait_room(), 0)...};
        (void)waits;
#endif
        int order[] = {0, (outs.write(px), 0)...};
        (void)order;
    }
}

// Width converter between streams whose words carry different lanes (a -> b values per word): per group
// of lcm(a, b) values, lcm / a reads then lcm / b writes. n_values / a + n_values / b iterations.
template <class data_T, class res_T, typename CONFIG_T>
void convert_stream(hls::stream<data_T> &in, hls::stream<res_T> &out) {
    const int A = data_T::size, B = res_T::size, G = CONFIG_T::group;
    typename res_T::value_type buf[G];
#pragma HLS ARRAY_PARTITION variable = buf complete
Groups:
    for (int g = 0; g < CONFIG_T::n_values / G; g++) {
    Read:
        for (int i = 0; i < G / A; i++) {
#pragma HLS PIPELINE II = 1
            N2F_COUNT(CONFIG_T)
            const data_T px = in.read();
            for (int l = 0; l < A; l++) buf[i * A + l] = px.v[l];
        }
    Write:
        for (int o = 0; o < G / B; o++) {
#pragma HLS PIPELINE II = 1
            N2F_COUNT(CONFIG_T)
            res_T y;
            for (int l = 0; l < B; l++) y.v[l] = buf[o * B + l];
            out.write(y);
        }
    }
}

// Dense in a stream: Read gathers the n_in / SIMD input words, then each fold computes PE outputs in
// n_in / SIMD pipelined steps of PE x SIMD multiplications and writes one PE-lane word.
template <class data_T, class res_T, typename CONFIG_T, class W>
void dense_stream(hls::stream<data_T> &in, hls::stream<res_T> &out, W &w,
                  const typename CONFIG_T::bias_t b[CONFIG_T::n_out], bool load = false) {
    const int PE = CONFIG_T::pe, SIMD = CONFIG_T::simd, STEPS = CONFIG_T::n_in / SIMD;
    static wword<CONFIG_T> bank[CONFIG_T::uram ? CONFIG_T::w_words : 1];
#pragma HLS BIND_STORAGE variable = bank type = ram_2p impl = uram
    weights_begin<CONFIG_T>(w, bank, load);
    data_T x[STEPS];
Read:
    for (int si = 0; si < STEPS; si++) {
#pragma HLS PIPELINE II = 1
        N2F_COUNT(CONFIG_T)
        x[si] = in.read();
    }
Folds:
    for (int fo = 0; fo < CONFIG_T::n_out / PE; fo++) {
        typename CONFIG_T::accum_t acc[PE];
#pragma HLS ARRAY_PARTITION variable = acc complete
        for (int p = 0; p < PE; p++) acc[p] = b[fo * PE + p];
    Steps:
        for (int si = 0; si < STEPS; si++) {
#pragma HLS PIPELINE II = 1
            N2F_COUNT(CONFIG_T)
            wword<CONFIG_T> word;
            const typename CONFIG_T::weight_t *wp = weights_fetch<CONFIG_T>(w, bank, word, fo, si);
            for (int s = 0; s < SIMD; s++) {
                const typename CONFIG_T::weight_t *row = weights_row<CONFIG_T>(w, wp, fo, si, s);
                mac_lanes<CONFIG_T::fabric, CONFIG_T::packed, PE>(acc, x[si].v[s], row);
            }
        }
        res_T y;
        for (int p = 0; p < PE; p++) y.v[p] = fold_output<typename res_T::value_type, CONFIG_T>(acc[p]);
        out.write(y);
    }
}

// Reshape / Flatten: values keep their row-major order and words their lanes: a copy, word by word.
template <class data_T, class res_T, typename CONFIG_T>
void reshape_stream(hls::stream<data_T> &in, hls::stream<res_T> &out) {
    for (int k = 0; k < CONFIG_T::n_total / data_T::size; k++) {
#pragma HLS PIPELINE II = 1
        N2F_COUNT(CONFIG_T)
        const data_T px = in.read();
        res_T y;
        for (int l = 0; l < data_T::size; l++) y.v[l] = px.v[l];
        out.write(y);
    }
}

// The configuration a pixel-wise array function sees on one word: n = n_chan = lanes.
template <class CONFIG_T, unsigned L>
struct word_config : CONFIG_T {
    static constexpr unsigned n = L, n_chan = L;
};

}  // namespace n2f

// Word-wise wrappers of the array activations: <name>_stream(in, out, constants...). Per-channel
// constants (BatchNorm: CONFIG_T::per_channel) are offset to the word's channel group; softmax words hold
// whole pixels (its lanes are the channels).
#define N2F_PIXELWISE(fn)                                                                                     \
    namespace n2f {                                                                                           \
    template <class data_T, class res_T, typename CONFIG_T, class... K>                                       \
    void fn##_stream(hls::stream<data_T> &in, hls::stream<res_T> &out, const K *...consts) {                   \
        const int L = data_T::size, CF = CONFIG_T::n_chan / L;                                                \
        for (int p = 0; p < CONFIG_T::n_pixels * CF; p++) {                                                   \
            _Pragma("HLS PIPELINE II = 1")                                                                    \
            N2F_COUNT(CONFIG_T)                                                                               \
            const data_T x = in.read();                                                                       \
            res_T y;                                                                                          \
            const int off = CONFIG_T::per_channel ? (p % CF) * L : 0;                                         \
            fn<typename data_T::value_type, typename res_T::value_type, word_config<CONFIG_T, L> >(x.v, y.v,  \
                                                                                      (consts + off)...);     \
            out.write(y);                                                                                     \
        }                                                                                                     \
    }                                                                                                         \
    }
N2F_PIXELWISE(linear)
N2F_PIXELWISE(relu)
N2F_PIXELWISE(leaky_relu)
N2F_PIXELWISE(hard_sigmoid)
N2F_PIXELWISE(table_activation)
N2F_PIXELWISE(relu_clip)
N2F_PIXELWISE(tail_table_activation)
N2F_PIXELWISE(softmax)
N2F_PIXELWISE(batchnorm)
N2F_PIXELWISE(prelu)
N2F_PIXELWISE(layernorm)
#undef N2F_PIXELWISE

#endif
