// nn2fpga C++ layer library: shared definitions.
// Everything here is synthesizable by Vitis HLS: static sizes, no dynamic memory, no recursion.
#ifndef N2F_COMMON_H
#define N2F_COMMON_H

#include <ap_fixed.h>
#include <ap_int.h>

namespace n2f {

enum strategy_t { latency = 0, resource = 1 };

// Loop-trip instrumentation of bounded C simulation (nn2fpga simulate): N2F_COUNT(CONFIG_T) in a pipelined
// loop body adds one to the layer's counter (CONFIG_T::id); the cycle model is tested against these counts.
// Every other build compiles it to nothing.
#if defined(N2F_BOUNDED_STREAMS) && !defined(__SYNTHESIS__)
const int max_layers = 4096;
extern long long trip_count[max_layers];
#define N2F_COUNT(CONFIG_T) n2f::trip_count[CONFIG_T::id]++;
#else
#define N2F_COUNT(CONFIG_T)
#endif

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

#endif
