"""Frontends: Keras / QKeras models -> nn2fpga IR. TensorFlow is imported lazily, inside the functions."""

from nn2fpga.frontend.keras import from_keras, load_model

__all__ = ["from_keras", "load_model"]
