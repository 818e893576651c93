// Dense layer: acc = cast<accum_t>(bias) + sum(x_i * w_i) (exact products), optional ReLU on acc,
// then cast<res_T>(acc). CONFIG_T: n_in, n_out, reuse_factor, strategy, relu, accum_t, weight_t, bias_t.
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
                   const typename CONFIG_T::weight_t w[CONFIG_T::n_in * CONFIG_T::n_out],
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
            acc[o] += xi * w[i * CONFIG_T::n_out + o];
        }
    }
    dense_output<res_T, CONFIG_T>(acc, y);
}

// Resource strategy: block = n_in * n_out / reuse_factor multipliers, each used reuse_factor times,
// one reuse step per clock. Step r reads the contiguous slice w[r * block .. r * block + block - 1].
// The pragma reshapes w by `block factor = block`, which puts w[j], w[j + reuse_factor], ... in word j;
// a cyclic reshape by the same factor would put exactly step j's slice in word j. Which one reaches
// II = 1 has not been checked with Vitis HLS here.
template <class data_T, class res_T, typename CONFIG_T>
void dense_resource(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_out],
                    const typename CONFIG_T::weight_t w[CONFIG_T::n_in * CONFIG_T::n_out],
                    const typename CONFIG_T::bias_t b[CONFIG_T::n_out]) {
    const unsigned block = CONFIG_T::n_in * CONFIG_T::n_out / CONFIG_T::reuse_factor;
#pragma HLS ARRAY_RESHAPE variable = w block factor = block
    typename CONFIG_T::accum_t acc[CONFIG_T::n_out];
#pragma HLS ARRAY_PARTITION variable = acc complete
Init:
    for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
#pragma HLS UNROLL
        acc[o] = b[o];
    }
Reuse:
    for (unsigned r = 0; r < CONFIG_T::reuse_factor; r++) {
#pragma HLS PIPELINE II = 1
    Multiply:
        for (unsigned k = 0; k < block; k++) {
#pragma HLS UNROLL
            const unsigned idx = r * block + k;  // = i * n_out + o
            acc[idx % CONFIG_T::n_out] += x[idx / CONFIG_T::n_out] * w[idx];
        }
    }
    dense_output<res_T, CONFIG_T>(acc, y);
}

template <class data_T, class res_T, typename CONFIG_T>
void dense(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_out],
           const typename CONFIG_T::weight_t w[CONFIG_T::n_in * CONFIG_T::n_out],
           const typename CONFIG_T::bias_t b[CONFIG_T::n_out]) {
#pragma HLS INLINE
    if (CONFIG_T::strategy == resource) {
        dense_resource<data_T, res_T, CONFIG_T>(x, y, w, b);
    } else {
        dense_latency<data_T, res_T, CONFIG_T>(x, y, w, b);
    }
}

}  // namespace n2f

#endif
