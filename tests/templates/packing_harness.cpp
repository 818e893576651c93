// Every operand pair of n2f::multiply_packed against the plain products x * w0 and x * w1, for the operand
// types PACK_X and PACK_W (given on the command line). Prints "<cases> <mismatches>".
#include <cstdio>

#include "n2f/common.h"

typedef PACK_X x_t;
typedef PACK_W w_t;

int main() {
    const long nx = 1L << x_t::width, nw = 1L << w_t::width;
    long cases = 0, bad = 0;
    for (long i = 0; i < nx; i++) {
        x_t x;
        x.range(x_t::width - 1, 0) = ap_uint<x_t::width>(i);
        for (long j = 0; j < nw; j++) {
            w_t w0;
            w0.range(w_t::width - 1, 0) = ap_uint<w_t::width>(j);
            for (long k = 0; k < nw; k++) {
                w_t w1;
                w1.range(w_t::width - 1, 0) = ap_uint<w_t::width>(k);
                decltype(x * w0) p0, p1;
                n2f::multiply_packed(x, w0, w1, p0, p1);
                cases++;
                bad += (p0 != x * w0) || (p1 != x * w1);
            }
        }
    }
    std::printf("%ld %ld\n", cases, bad);
    return 0;
}
