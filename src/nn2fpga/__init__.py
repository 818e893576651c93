"""nn2fpga: Keras/QKeras models to FPGA accelerators (Vitis HLS), bit-accurate C simulation, Triton serving.

`import nn2fpga` never imports TensorFlow; only `nn2fpga.frontend` does, lazily.
"""

__version__ = "0.1.0"

from nn2fpga.ir.types import FixedType, Overflow, Rounding  # noqa: E402

__all__ = ["FixedType", "Overflow", "Rounding", "__version__"]
