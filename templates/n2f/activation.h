// Element-wise activations, batch normalization and softmax (io_parallel arrays).
// Table-based functions index tables computed in Python (nn2fpga.ir.tables) with n2f::table_index.
#ifndef N2F_ACTIVATION_H
#define N2F_ACTIVATION_H

#include "n2f/common.h"

namespace n2f {

template <class data_T, class res_T, typename CONFIG_T>
void linear(const data_T x[CONFIG_T::n], res_T y[CONFIG_T::n]) {
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        y[i] = x[i];
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void relu(const data_T x[CONFIG_T::n], res_T y[CONFIG_T::n]) {
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        if (x[i] > 0) {
            y[i] = x[i];
        } else {
            y[i] = 0;
        }
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void leaky_relu(const data_T x[CONFIG_T::n], res_T y[CONFIG_T::n]) {
    const typename CONFIG_T::alpha_t alpha = CONFIG_T::alpha;
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        if (x[i] >= 0) {
            y[i] = x[i];
        } else {
            y[i] = x[i] * alpha;
        }
    }
}

// clip(slope * x + offset, 0, 1), computed exactly before the cast.
template <class data_T, class res_T, typename CONFIG_T>
void hard_sigmoid(const data_T x[CONFIG_T::n], res_T y[CONFIG_T::n]) {
    const typename CONFIG_T::slope_t slope = CONFIG_T::slope;
    const typename CONFIG_T::offset_t offset = CONFIG_T::offset;
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        const auto t = x[i] * slope + offset;
        if (t < 0) {
            y[i] = 0;
        } else if (t > 1) {
            y[i] = 1;
        } else {
            y[i] = t;
        }
    }
}

// Keras ReLU(max_value, threshold, negative_slope): max_value from there up, x above the threshold, at and
// below it alpha * (x - threshold); the constants in their own types (threshold_t, max_value_t, alpha_t), exact.
template <class data_T, class res_T, typename CONFIG_T>
void relu_clip(const data_T x[CONFIG_T::n], res_T y[CONFIG_T::n]) {
    const typename CONFIG_T::threshold_t threshold = CONFIG_T::threshold;
    const typename CONFIG_T::max_value_t max_value = CONFIG_T::max_value;
    const typename CONFIG_T::alpha_t alpha = CONFIG_T::alpha;
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        if (CONFIG_T::has_max && x[i] >= max_value) {
            y[i] = max_value;
        } else if (x[i] > threshold) {
            y[i] = x[i];
        } else {
            y[i] = (x[i] - threshold) * alpha;
        }
    }
}

// elu, selu, softplus, swish, gelu, hard_swish: a table lookup below tail_from, x (selu: slope * x) from there on.
template <class data_T, class res_T, typename CONFIG_T>
void tail_table_activation(const data_T x[CONFIG_T::n], res_T y[CONFIG_T::n],
                           const typename CONFIG_T::table_t table[CONFIG_T::table_size]) {
    const typename CONFIG_T::slope_t slope = CONFIG_T::slope;
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        if (x[i] >= CONFIG_T::tail_from) {
            if (CONFIG_T::scaled_tail) {
                y[i] = x[i] * slope;
            } else {
                y[i] = x[i];
            }
        } else {
            y[i] = table[table_index<CONFIG_T::table_k, CONFIG_T::table_offset, CONFIG_T::table_size>(x[i])];
        }
    }
}

// sigmoid / tanh: one table lookup per element.
template <class data_T, class res_T, typename CONFIG_T>
void table_activation(const data_T x[CONFIG_T::n], res_T y[CONFIG_T::n],
                      const typename CONFIG_T::table_t table[CONFIG_T::table_size]) {
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        y[i] = table[table_index<CONFIG_T::table_k, CONFIG_T::table_offset, CONFIG_T::table_size>(x[i])];
    }
}

// Softmax over the last axis (rows of n_last values): e_i = exp_table[max - x_i], s = sum e_i
// (exact), y_i = e_i * inv_table[s].
template <class data_T, class res_T, typename CONFIG_T>
void softmax(const data_T x[CONFIG_T::n], res_T y[CONFIG_T::n],
             const typename CONFIG_T::exp_table_t exp_table[CONFIG_T::table_size],
             const typename CONFIG_T::inv_table_t inv_table[CONFIG_T::table_size]) {
    for (unsigned row = 0; row < CONFIG_T::n / CONFIG_T::n_last; row++) {
        const unsigned base = row * CONFIG_T::n_last;
        data_T m = x[base];
        for (unsigned i = 1; i < CONFIG_T::n_last; i++) {
#pragma HLS UNROLL
            if (x[base + i] > m) m = x[base + i];
        }
        typename CONFIG_T::exp_table_t e[CONFIG_T::n_last];
#pragma HLS ARRAY_PARTITION variable = e complete
        typename CONFIG_T::sum_t s = 0;
        for (unsigned i = 0; i < CONFIG_T::n_last; i++) {
#pragma HLS UNROLL
            e[i] = exp_table[table_index<CONFIG_T::exp_k, 0, CONFIG_T::table_size>(m - x[base + i])];
            s += e[i];
        }
        const typename CONFIG_T::inv_table_t inv =
            inv_table[table_index<CONFIG_T::inv_k, CONFIG_T::inv_offset, CONFIG_T::table_size>(s)];
        for (unsigned i = 0; i < CONFIG_T::n_last; i++) {
#pragma HLS UNROLL
            y[base + i] = e[i] * inv;
        }
    }
}

// y = x * scale[c] + bias[c] over the last axis (channels), exact before the cast.
template <class data_T, class res_T, typename CONFIG_T>
void batchnorm(const data_T x[CONFIG_T::n], res_T y[CONFIG_T::n],
               const typename CONFIG_T::scale_t scale[CONFIG_T::n_chan],
               const typename CONFIG_T::bias_t bias[CONFIG_T::n_chan]) {
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        const unsigned c = i % CONFIG_T::n_chan;
        y[i] = x[i] * scale[c] + bias[c];
    }
}

// LayerNorm over each group of n_chan values (docs/arithmetic.md): the exact sum, the mean rounded to mean_t,
// the exact differences and sum of their squares, 1 / sqrt(var + epsilon) from the table at the sum of squares'
// raw bits shifted right by `shift`, the normalized value rounded to norm_t, then scale and bias, one cast.
template <class data_T, class res_T, typename CONFIG_T>
void layernorm(const data_T x[CONFIG_T::n], res_T y[CONFIG_T::n],
               const typename CONFIG_T::scale_t scale[CONFIG_T::n_chan],
               const typename CONFIG_T::bias_t bias[CONFIG_T::n_chan],
               const typename CONFIG_T::table_t table[CONFIG_T::table_size]) {
    const int C = CONFIG_T::n_chan;
    const typename CONFIG_T::recip_t recip = CONFIG_T::recip;
    for (int p = 0; p < CONFIG_T::n / C; p++) {
        typename CONFIG_T::sum_t s = 0;
        for (int c = 0; c < C; c++) {
#pragma HLS UNROLL
            s += x[p * C + c];
        }
        const typename CONFIG_T::mean_t mean = s * recip;
        typename CONFIG_T::diff_t d[CONFIG_T::n_chan];
#pragma HLS ARRAY_PARTITION variable = d complete
        typename CONFIG_T::sq_t q = 0;
        for (int c = 0; c < C; c++) {
#pragma HLS UNROLL
            d[c] = x[p * C + c] - mean;
            q += d[c] * d[c];
        }
        const auto index = raw_bits(q) >> CONFIG_T::shift;
        const typename CONFIG_T::table_t inv = table[index > CONFIG_T::table_size - 1 ? CONFIG_T::table_size - 1 : (int)index.to_int64()];
        for (int c = 0; c < C; c++) {
#pragma HLS UNROLL
            const typename CONFIG_T::norm_t z = d[c] * inv;
            y[p * C + c] = z * scale[c] + bias[c];
        }
    }
}

// PReLU: x, or x * alpha[c] below zero (one slope per channel, alpha_t), exact before the cast.
template <class data_T, class res_T, typename CONFIG_T>
void prelu(const data_T x[CONFIG_T::n], res_T y[CONFIG_T::n], const typename CONFIG_T::alpha_t alpha[CONFIG_T::n_chan]) {
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        if (x[i] >= 0) {
            y[i] = x[i];
        } else {
            y[i] = x[i] * alpha[i % CONFIG_T::n_chan];
        }
    }
}

}  // namespace n2f

#endif
