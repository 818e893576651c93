// nn2fpga C-simulation ap_fixed<W, I, Q, O> / ap_ufixed<W, I, Q, O> (see nn2fpga_ap_core.h and docs/headers.md).
#ifndef NN2FPGA_AP_FIXED_H
#define NN2FPGA_AP_FIXED_H
#include "nn2fpga_ap_core.h"
#endif
