// Dense layer: acc = cast<accum_t>(bias) + sum(x_i * w_i) (exact products), optional ReLU on acc,
// then cast<res_T>(acc). CONFIG_T: n_in, n_out, pe, simd, reuse_factor, strategy, relu, depthwise,
// accum_t, weight_t, bias_t. The sums are exact, so any fold gives the same result bit for bit.
#ifndef N2F_DENSE_H
#define N2F_DENSE_H

#include "n2f/common.h"

namespace n2f {

template <class res_T, typename CONFIG_T>
inline void dense_output(const typename CONFIG_T::accum_t acc[CONFIG_T::n_out], res_T y[CONFIG_T::n_out]) {
Output:
    for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
#pragma HLS UNROLL
        if (CONFIG_T::relu && acc[o] < 0) {
            y[o] = 0;
        } else {
            y[o] = acc[o];
        }
    }
}

// Latency strategy: every multiplication in parallel, the reuse factor sets the pipeline interval
// and limits the multipliers to n_in * n_out / reuse_factor.
template <class data_T, class res_T, typename CONFIG_T>
void dense_latency(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_out],
                   const typename CONFIG_T::weight_t w[CONFIG_T::n_in][CONFIG_T::n_out],
                   const typename CONFIG_T::bias_t b[CONFIG_T::n_out]) {
#pragma HLS PIPELINE II = CONFIG_T::reuse_factor
#pragma HLS ALLOCATION operation instances = mul limit = CONFIG_T::multiplier_limit
    typename CONFIG_T::accum_t acc[CONFIG_T::n_out];
#pragma HLS ARRAY_PARTITION variable = acc complete
Init:
    for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
#pragma HLS UNROLL
        acc[o] = b[o];
    }
Product:
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
#pragma HLS UNROLL
        const data_T xi = x[i];
        for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
#pragma HLS UNROLL
            acc[o] += xi * w[i][o];
        }
    }
    dense_output<res_T, CONFIG_T>(acc, y);
}

// Folded matrix-vector unit (every strategy except the io_parallel Latency Dense): PE outputs x SIMD
// inputs per clock. The matrix has n_in rows (terms per output) and n_out columns (outputs). Fold fo
// computes outputs fo*PE .. fo*PE+PE-1; step si adds rows si*SIMD .. si*SIMD+SIMD-1. The pipelined Steps
// loop runs n_in/SIMD times per fold at II = 1 and its body is the PE x SIMD multiplications, nothing
// more. Weight memory: w[n_in][n_out] reshaped cyclic by SIMD on the rows (one SIMD-wide word per step)
// and partitioned cyclic by PE on the columns: PE banks, each read once per clock (the pragmas, with the
// memory kind, are in the generated top function, where the weight arrays are named).
// Depthwise (CONFIG_T::depthwise): rows are the kh*kw taps, columns the channels, and the input is the
// (tap, channel) window x[row * n_out + col].
template <typename CONFIG_T>
struct fold {
    static const unsigned folds = CONFIG_T::n_out / CONFIG_T::pe;
    static const unsigned steps = CONFIG_T::n_in / CONFIG_T::simd;
};

template <class res_T, typename CONFIG_T>
inline res_T fold_output(const typename CONFIG_T::accum_t &acc) {
    res_T y;
    if (CONFIG_T::relu && acc < 0) {
        y = 0;
    } else {
        y = acc;
    }
    return y;
}

template <class data_T, class res_T, typename CONFIG_T>
void dense_folded(const data_T x[CONFIG_T::n_in * (CONFIG_T::depthwise ? CONFIG_T::n_out : 1)],
                  res_T y[CONFIG_T::n_out], const typename CONFIG_T::weight_t w[CONFIG_T::n_in][CONFIG_T::n_out],
                  const typename CONFIG_T::bias_t b[CONFIG_T::n_out]) {
#pragma HLS ARRAY_PARTITION variable = x cyclic factor = CONFIG_T::simd
    const unsigned PE = CONFIG_T::pe, SIMD = CONFIG_T::simd;
Folds:
    for (unsigned fo = 0; fo < fold<CONFIG_T>::folds; fo++) {
        typename CONFIG_T::accum_t acc[PE];
#pragma HLS ARRAY_PARTITION variable = acc complete
        for (unsigned p = 0; p < PE; p++) acc[p] = b[fo * PE + p];
    Steps:
        for (unsigned si = 0; si < fold<CONFIG_T>::steps; si++) {
#pragma HLS PIPELINE II = 1
            N2F_COUNT(CONFIG_T)
            for (unsigned p = 0; p < PE; p++) {
                const unsigned col = fo * PE + p;
                for (unsigned s = 0; s < SIMD; s++) {
                    const unsigned row = si * SIMD + s;
                    acc[p] += multiply<CONFIG_T::fabric>::run(x[CONFIG_T::depthwise ? row * CONFIG_T::n_out + col : row], w[row][col]);
                }
            }
        }
        for (unsigned p = 0; p < PE; p++) y[fo * PE + p] = fold_output<res_T, CONFIG_T>(acc[p]);
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void dense(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_out],
           const typename CONFIG_T::weight_t w[CONFIG_T::n_in][CONFIG_T::n_out],
           const typename CONFIG_T::bias_t b[CONFIG_T::n_out]) {
#pragma HLS INLINE
    if (CONFIG_T::strategy == resource) {
        dense_folded<data_T, res_T, CONFIG_T>(x, y, w, b);
    } else {
        dense_latency<data_T, res_T, CONFIG_T>(x, y, w, b);
    }
}

}  // namespace n2f

#endif
