// nn2fpga C-simulation ap_int<W> / ap_uint<W> (see nn2fpga_ap_core.h and docs/headers.md).
#ifndef NN2FPGA_AP_INT_H
#define NN2FPGA_AP_INT_H
#include "nn2fpga_ap_core.h"
#endif
