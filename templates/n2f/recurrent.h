// Recurrent layers (SimpleRNN, LSTM, GRU; nn2fpga.ir.recurrent): one cell step, then the time loop over arrays
// (io_parallel) or streams (io_stream). The cell's G x units pre-activations are unrolled: (n_in + units) x G x
// units multipliers, reused at every step (the time loop is the fold). tanh and sigmoid come from the activation
// tables (table_index, n2f/common.h); every product and sum before a cast is exact.
#ifndef N2F_RECURRENT_H
#define N2F_RECURRENT_H

#include "n2f/common.h"

namespace n2f {

template <typename CONFIG_T>
struct rnn_tables {
    template <class T>
    static int tanh_at(const T &v) {
        return table_index<CONFIG_T::tanh_k, CONFIG_T::tanh_offset, CONFIG_T::table_size>(v);
    }
    template <class T>
    static int sig_at(const T &v) {
        return table_index<CONFIG_T::sig_k, CONFIG_T::sig_offset, CONFIG_T::table_size>(v);
    }
};

// One step: h (and the LSTM cell c) from x_t and the previous h. Gates in Keras's order (LSTM i, f, c, o; GRU
// z, r, h with the recurrent bias inside r's product, reset_after).
template <class x_T, class h_T, typename CONFIG_T>
void rnn_step(const x_T x[CONFIG_T::n_in], h_T h[CONFIG_T::units], typename CONFIG_T::cell_t c[CONFIG_T::units],
              const typename CONFIG_T::weight_t *w, const typename CONFIG_T::weight_t *u,
              const typename CONFIG_T::bias_t *b, const typename CONFIG_T::bias_t *rb,
              const typename CONFIG_T::table_t *tanh_table, const typename CONFIG_T::rec_table_t *sig_table) {
#pragma HLS INLINE
    typedef rnn_tables<CONFIG_T> tab;
    const int U = CONFIG_T::units, GU = CONFIG_T::gates * CONFIG_T::units;
    typename CONFIG_T::accum_t ax[GU], ah[GU];
#pragma HLS ARRAY_PARTITION variable = ax complete
#pragma HLS ARRAY_PARTITION variable = ah complete
    for (int k = 0; k < GU; k++) {
#pragma HLS UNROLL
        typename CONFIG_T::accum_t sx = b[k], sh = rb[k];
        for (int i = 0; i < CONFIG_T::n_in; i++) sx += x[i] * w[i * GU + k];
        for (int j = 0; j < U; j++) sh += h[j] * u[j * GU + k];
        ax[k] = sx;
        ah[k] = sh;
    }
    h_T next[CONFIG_T::units];
#pragma HLS ARRAY_PARTITION variable = next complete
    for (int j = 0; j < U; j++) {
#pragma HLS UNROLL
        if (CONFIG_T::cell == 0) {  // SimpleRNN
            next[j] = tanh_table[tab::tanh_at(ax[j] + ah[j])];
        } else if (CONFIG_T::cell == 1) {  // LSTM
            const typename CONFIG_T::rec_table_t i = sig_table[tab::sig_at(ax[j] + ah[j])];
            const typename CONFIG_T::rec_table_t f = sig_table[tab::sig_at(ax[U + j] + ah[U + j])];
            const typename CONFIG_T::table_t g = tanh_table[tab::tanh_at(ax[2 * U + j] + ah[2 * U + j])];
            const typename CONFIG_T::rec_table_t o = sig_table[tab::sig_at(ax[3 * U + j] + ah[3 * U + j])];
            c[j] = f * c[j] + i * g;
            next[j] = o * tanh_table[tab::tanh_at(c[j])];
        } else {  // GRU
            const typename CONFIG_T::rec_table_t z = sig_table[tab::sig_at(ax[j] + ah[j])];
            const typename CONFIG_T::rec_table_t r = sig_table[tab::sig_at(ax[U + j] + ah[U + j])];
            const typename CONFIG_T::inner_t inner = ah[2 * U + j];
            const typename CONFIG_T::table_t hh = tanh_table[tab::tanh_at(ax[2 * U + j] + r * inner)];
            next[j] = z * h[j] + (ap_uint<1>(1) - z) * hh;
        }
    }
    for (int j = 0; j < U; j++) {
#pragma HLS UNROLL
        h[j] = next[j];
    }
}

// h = 0 and c = 0 before the first step.
template <typename CONFIG_T, class h_T>
void rnn_reset(h_T h[CONFIG_T::units], typename CONFIG_T::cell_t c[CONFIG_T::units]) {
#pragma HLS INLINE
    for (int j = 0; j < CONFIG_T::units; j++) {
#pragma HLS UNROLL
        h[j] = 0;
        c[j] = 0;
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void recurrent(const data_T x[CONFIG_T::steps * CONFIG_T::n_in], res_T y[CONFIG_T::n_out],
               const typename CONFIG_T::weight_t w[CONFIG_T::n_in * CONFIG_T::gates * CONFIG_T::units],
               const typename CONFIG_T::weight_t u[CONFIG_T::units * CONFIG_T::gates * CONFIG_T::units],
               const typename CONFIG_T::bias_t b[CONFIG_T::gates * CONFIG_T::units],
               const typename CONFIG_T::bias_t rb[CONFIG_T::gates * CONFIG_T::units],
               const typename CONFIG_T::table_t tanh_table[CONFIG_T::table_size],
               const typename CONFIG_T::rec_table_t sig_table[CONFIG_T::table_size]) {
    res_T h[CONFIG_T::units];
    typename CONFIG_T::cell_t c[CONFIG_T::units];
    rnn_reset<CONFIG_T>(h, c);
Steps:
    for (int t = 0; t < CONFIG_T::steps; t++) {
        rnn_step<data_T, res_T, CONFIG_T>(&x[t * CONFIG_T::n_in], h, c, w, u, b, rb, tanh_table, sig_table);
        for (int j = 0; j < CONFIG_T::units; j++) {
#pragma HLS UNROLL
            if (CONFIG_T::return_sequences) y[t * CONFIG_T::units + j] = h[j];
            if (!CONFIG_T::return_sequences && t == CONFIG_T::steps - 1) y[j] = h[j];
        }
    }
}

#ifdef N2F_STREAM_H  // io_stream projects (n2f/stream.h first)
// io_stream: per step, x_t's n_in / lanes words are read, the cell runs (one counted iteration), and h's
// units / lanes words are written (every step with return_sequences, else after the last).
template <class data_T, class res_T, typename CONFIG_T>
void recurrent_stream(hls::stream<data_T> &in, hls::stream<res_T> &out,
                      const typename CONFIG_T::weight_t w[CONFIG_T::n_in * CONFIG_T::gates * CONFIG_T::units],
                      const typename CONFIG_T::weight_t u[CONFIG_T::units * CONFIG_T::gates * CONFIG_T::units],
                      const typename CONFIG_T::bias_t b[CONFIG_T::gates * CONFIG_T::units],
                      const typename CONFIG_T::bias_t rb[CONFIG_T::gates * CONFIG_T::units],
                      const typename CONFIG_T::table_t tanh_table[CONFIG_T::table_size],
                      const typename CONFIG_T::rec_table_t sig_table[CONFIG_T::table_size]) {
    typedef typename data_T::value_type x_t;
    typedef typename res_T::value_type h_t;
    const int LI = data_T::size, LO = res_T::size;
    x_t x[CONFIG_T::n_in];
    h_t h[CONFIG_T::units];
    typename CONFIG_T::cell_t c[CONFIG_T::units];
#pragma HLS ARRAY_PARTITION variable = x complete
#pragma HLS ARRAY_PARTITION variable = h complete
#pragma HLS ARRAY_PARTITION variable = c complete
    rnn_reset<CONFIG_T>(h, c);
Steps:
    for (int t = 0; t < CONFIG_T::steps; t++) {
    Read:
        for (int k = 0; k < CONFIG_T::n_in / LI; k++) {
#pragma HLS PIPELINE II = 1
            N2F_COUNT(CONFIG_T)
            const data_T px = in.read();
            for (int l = 0; l < LI; l++) x[k * LI + l] = px.v[l];
        }
        N2F_COUNT(CONFIG_T)
        rnn_step<x_t, h_t, CONFIG_T>(x, h, c, w, u, b, rb, tanh_table, sig_table);
        if (!CONFIG_T::return_sequences && t != CONFIG_T::steps - 1) continue;
    Write:
        for (int k = 0; k < CONFIG_T::units / LO; k++) {
#pragma HLS PIPELINE II = 1
            N2F_COUNT(CONFIG_T)
            res_T y;
            for (int l = 0; l < LO; l++) y.v[l] = h[k * LO + l];
            out.write(y);
        }
    }
}

#endif  // N2F_STREAM_H

}  // namespace n2f

#endif
