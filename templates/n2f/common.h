// nn2fpga C++ layer library: shared definitions.
// Everything here is synthesizable by Vitis HLS: static sizes, no dynamic memory, no recursion.
#ifndef N2F_COMMON_H
#define N2F_COMMON_H

#include <ap_fixed.h>
#include <ap_int.h>
#include <stdint.h>

#if defined(NN2FPGA_AP_CORE_H) && !defined(__SYNTHESIS__)
// nn2fpga's C-simulation ap_uint stops at 64 bits. Memory words (the kernel's ports, streamed weights) are eight 64-bit limbs here, with
// the part of the ap_uint<512> interface the kernel, the bridge and the testbench use: range(hi, lo) of at
// most 64 bits, read from a const word and assigned on a mutable one.
template <>
struct ap_uint<512> {
    uint64_t limb[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // bits 64k+63..64k in limb[k]

    ap_uint() = default;
    ap_uint(int zero) : limb{uint64_t(zero), 0, 0, 0, 0, 0, 0, 0} {}  // 0 (the kernel writes every other bit)

    ap_uint<64> range(int hi, int lo) const {
        const int n = hi - lo + 1, k = lo / 64, sh = lo % 64;
        uint64_t v = limb[k] >> sh;
        if (sh + n > 64) v |= limb[k + 1] << (64 - sh);
        return ap_uint<64>(n == 64 ? v : v & ((uint64_t(1) << n) - 1));
    }
    void set(int hi, int lo, uint64_t v) {
        const int n = hi - lo + 1, k = lo / 64, sh = lo % 64;
        const uint64_t mask = n == 64 ? ~uint64_t(0) : (uint64_t(1) << n) - 1;
        v &= mask;
        limb[k] = (limb[k] & ~(mask << sh)) | (v << sh);
        if (sh + n > 64) limb[k + 1] = (limb[k + 1] & ~(mask >> (64 - sh))) | (v >> (64 - sh));
    }
    struct range_ref {
        ap_uint &word;
        int hi, lo;
        template <class V>
        range_ref &operator=(const V &v) {
            word.set(hi, lo, ap_uint<64>(v).to_uint64());
            return *this;
        }
    };
    range_ref range(int hi, int lo) { return {*this, hi, lo}; }
};
#endif

namespace n2f {

enum strategy_t { latency = 0, resource = 1 };

// Loop-trip instrumentation of bounded C simulation (nn2fpga simulate): N2F_COUNT(CONFIG_T) in a pipelined
// loop body adds one to the layer's counter (CONFIG_T::id); the cycle model is tested against these counts.
// Every other build compiles it to nothing.
#if defined(N2F_BOUNDED_STREAMS) && !defined(__SYNTHESIS__)
const int max_layers = 4096;
extern long long trip_count[max_layers];
#define N2F_COUNT_ID(ID) n2f::trip_count[ID]++;
#else
#define N2F_COUNT_ID(ID)
#endif
#define N2F_COUNT(CONFIG_T) N2F_COUNT_ID(CONFIG_T::id)

// Table index: clip(floor(x * 2^K) + OFFSET, 0, N - 1). floor() is exact: the product with a
// power of two is exact and AP_TRN truncates toward -inf; saturation keeps huge x at the ends.
// The NumPy reference (nn2fpga.ir.tables.Table.index) computes the same.
template <int K, int OFFSET, int N, class T>
inline int table_index(const T &x) {
    ap_fixed<32, 32, AP_TRN, AP_SAT> f = x * ap_uint<K + 1>(1u << K);
    long long i = (long long)f.to_int() + OFFSET;
    return i < 0 ? 0 : (i > N - 1 ? N - 1 : (int)i);
}

}  // namespace n2f

namespace n2f {

// One product of a folded layer's PE x SIMD body. multiply<true> asks Vitis HLS to build it in LUTs
// (BIND_OP impl=fabric, Multipliers: lut), multiply<false> leaves the choice to the tool (DSP48 for products
// wider than a few bits). Both compute a * b exactly: C simulation does not see the difference.
template <bool FABRIC>
struct multiply {
    template <class A, class B>
    static auto run(const A &a, const B &b) -> decltype(a * b) {
#pragma HLS INLINE
        return a * b;
    }
};

template <>
struct multiply<true> {
    template <class A, class B>
    static auto run(const A &a, const B &b) -> decltype(a * b) {
#pragma HLS INLINE
        decltype(a * b) p = a * b;
#pragma HLS BIND_OP variable = p op = mul impl = fabric
        return p;
    }
};

// The signed integer behind a fixed-point value (its raw bits; an unsigned type gains a zero sign bit).
template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N>
inline ap_int<W + !S> raw_bits(const ap_fixed_base<W, I, S, Q, O, N> &v) {
#pragma HLS INLINE
    const ap_uint<W> bits = v.range(W - 1, 0);
    return bits;
}

// Two products of one input in one DSP48E2 (Multipliers: packed; AMD WP486's INT8 scheme): the pre-adder forms
// w1 * 2^18 + w0 from the A and D ports (27 bits), B carries x (18 bits), so the product is
// x * w1 * 2^18 + x * w0. Its low 18 bits read as signed are x * w0; the bits above, plus the sign bit of the
// low field, are x * w1. Exact whenever w0, w1 take at most 8 signed bits and x * w0 at most 18 (the fold pass
// checks both), so p0 and p1 equal x * w0 and x * w1 bit for bit.
template <class X, class W, class P>
inline void multiply_packed(const X &x, const W &w0, const W &w1, P &p0, P &p1) {
#pragma HLS INLINE
    const ap_int<27> a = ap_int<27>(raw_bits(w1)) << 18;
    const ap_int<27> d = raw_bits(w0);
    const ap_int<18> b = raw_bits(x);
    ap_int<45> m = (a + d) * b;
#pragma HLS BIND_OP variable = m op = mul impl = dsp
    const ap_int<18> lo = m.range(17, 0);
    const ap_int<27> hi = (m >> 18) + ap_int<2>(lo[17] ? 1 : 0);
    p0.range(P::width - 1, 0) = ap_int<P::width>(lo);
    p1.range(P::width - 1, 0) = ap_int<P::width>(hi);
}

// acc[p] += x * row[p] for the PE lanes of one input x: the tool's multipliers, LUTs (FABRIC) or, PACKED,
// lane pairs (p, p + 1) sharing a DSP48E2 and an odd PE's last lane a product of its own.
template <bool FABRIC, bool PACKED, int PE, class Acc, class X, class W>
inline void mac_lanes(Acc *acc, const X &x, const W *row) {
#pragma HLS INLINE
    if (PACKED) {
        for (int p = 0; p + 1 < PE; p += 2) {
            decltype(x * row[0]) lo, hi;
            multiply_packed(x, row[p], row[p + 1], lo, hi);
            acc[p] += lo;
            acc[p + 1] += hi;
        }
        if (PE % 2) acc[PE - 1] += x * row[PE - 1];
    } else {
        for (int p = 0; p < PE; p++) acc[p] += multiply<FABRIC>::run(x, row[p]);
    }
}

// The reciprocal an average pooling multiplies by: CONFIG_T::recip (every window whole), or with padding the
// entry of the 1/count table for the window's taps inside the input (Keras divides by those).
template <typename CONFIG_T>
inline typename CONFIG_T::recip_t pool_recip(int) {
    return CONFIG_T::recip;
}
template <typename CONFIG_T>
inline typename CONFIG_T::recip_t pool_recip(int count, const typename CONFIG_T::recip_t *table) {
    return table[count];
}

// One value of an Add (Keras Add, Subtract, Multiply, Average, Maximum, Minimum): CONFIG_T::op 0 add, 1 subtract
// (first - second), 2 multiply, 3 average (the sum times recip = 1/n), 4 maximum, 5 minimum; exact in sum_t
// (the sum, the product or the union of the input types), then ReLU when fused, then one cast to res_T.
template <class res_T, typename CONFIG_T, class... X>
inline void merge_values(res_T &y, const X &...xs) {
#pragma HLS INLINE
    typename CONFIG_T::sum_t s = 0;
    if (CONFIG_T::op == 1) {
        s = (xs - ...);  // two inputs
    } else if (CONFIG_T::op == 2) {
        s = (xs * ...);
    } else if (CONFIG_T::op == 4 || CONFIG_T::op == 5) {
        bool first = true;
        int order[] = {0, ((s = first || (CONFIG_T::op == 4 ? xs > s : xs < s) ? typename CONFIG_T::sum_t(xs) : s,
                            first = false),
                           0)...};
        (void)order;
    } else {
        int order[] = {0, ((s += xs), 0)...};
        (void)order;
    }
    if (CONFIG_T::relu && s < 0) s = 0;
    if (CONFIG_T::op == 3) {
        const typename CONFIG_T::recip_t recip = CONFIG_T::recip;
        y = s * recip;
    } else {
        y = s;
    }
}

}  // namespace n2f

#endif
