"""nn2fpga: Keras/QKeras models to FPGA accelerators (Vitis HLS), bit-accurate C simulation, Triton serving.

`import nn2fpga` never imports TensorFlow; only `nn2fpga.frontend` does, lazily.
"""

from nn2fpga.ir.types import FixedType, Overflow, Rounding
from nn2fpga.version import __version__

__all__ = ["FixedType", "Overflow", "Rounding", "__version__"]


def convert(*args, **kwargs):  # noqa: D103 - documented in nn2fpga.project.convert
    from nn2fpga.project import convert as _convert

    return _convert(*args, **kwargs)


def load_project(path):  # noqa: D103
    from nn2fpga.project import Project

    return Project.load(path)
