"""nn2fpga: Keras/QKeras models to FPGA accelerators (Vitis HLS), bit-accurate C simulation, Triton serving.

`import nn2fpga` never imports TensorFlow; only `nn2fpga.frontend` does, lazily.
"""

__version__ = "0.1.0"

from nn2fpga.ir.types import FixedType, Overflow, Rounding  # noqa: E402

__all__ = ["FixedType", "Overflow", "Rounding", "__version__"]


def convert(*args, **kwargs):  # noqa: D103 - documented in nn2fpga.project.convert
    from nn2fpga.project import convert as _convert

    return _convert(*args, **kwargs)


def load_project(path):  # noqa: D103
    from nn2fpga.project import Project

    return Project.load(path)
