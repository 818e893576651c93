"""Loading Keras models: an in-memory Keras 3 / tf_keras model, or a `.keras` / `.h5` file or SavedModel
directory, with the Keras version picked from the file itself. Before anything is deserialized, the stored
config is scanned and Lambda layers are refused, so no code from the file runs; the Keras loaders also
run with `safe_mode=True`. QKeras models need tf_keras as `tf.keras` (`require_legacy_keras`)."""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nn2fpga.frontend.archive import h5_config, keras_zip, one_line
from nn2fpga.frontend.screening import QKERAS_LAYERS, QUANTIZERS, check_config, objects
from nn2fpga.ir.errors import ModelError

log = logging.getLogger(__name__)

ACCEPTED = "expected a .keras or .h5 file or a SavedModel directory"
KERAS3, TF_KERAS = "keras", "tf_keras"  # the two flavors, named by their top-level module
# Class names QKeras serializes (layers and quantizers): a stored config naming one of them needs QKeras.
QKERAS_CLASSES = QKERAS_LAYERS | QUANTIZERS
_LEGACY = "TF_USE_LEGACY_KERAS"

# ---- loading ---------------------------------------------------------------------------------------------


def load_model(source: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """The Keras model behind `source`: an in-memory Keras 3 / tf_keras model, or a path to one.

    `custom_objects` goes to the Keras loader (QKeras layers and quantizers, for instance).
    Raises ModelError naming the file for missing, unreadable or unsafe (Lambda) models.
    """
    if flavor_of(source) is not None:
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise ModelError(f"cannot convert a {type(source).__name__}: expected a Keras model, or a path ({ACCEPTED})")
    path = Path(source)
    if not path.exists():
        raise ModelError(f"{path}: no such file or directory ({ACCEPTED})")
    flavor, config = (TF_KERAS, _saved_model_config(path)) if path.is_dir() else file_config(path)
    refuse_lambdas(config, path)
    if flavor == TF_KERAS and QKERAS_CLASSES & {cls for _, cls, _, _ in objects(config)}:
        custom_objects = qkeras_objects(str(path), custom_objects)  # sets TF_USE_LEGACY_KERAS first
    with native_stderr_logged():  # TensorFlow's start-up lines (absl, oneDNN, CUDA) go to the log, not the terminal
        module = importlib.import_module(flavor)
        loader = module.saving.load_model if flavor == KERAS3 else module.models.load_model
        try:
            # safe_mode: both loaders refuse serialized lambdas themselves too (it matters for .keras files)
            return loader(str(path), custom_objects=custom_objects, compile=False, safe_mode=True)
        except Exception as e:  # Keras raises anything from ValueError to KeyError on bad files
            raise ModelError(f"{path}: {flavor} could not load the model: {one_line(e)}") from e


@contextlib.contextmanager
def native_stderr_logged() -> Iterator[None]:
    """Send what is written to file descriptor 2 meanwhile (TensorFlow's C++ logging, which neither
    TF_CPP_MIN_LOG_LEVEL nor Python silences before absl is initialized) to this module's log at DEBUG level
    (`nn2fpga -v` shows it), so that a refused file gives one line. Python exceptions are not affected."""
    sys.stderr.flush()
    with tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode(errors="replace").strip()
            if text:
                log.debug("%s", text)


def require_legacy_keras(what: str) -> None:
    """Make `tf.keras` tf_keras for QKeras: set TF_USE_LEGACY_KERAS=1 if TensorFlow is not imported yet,
    else check that it was imported that way (ModelError naming `what` and the remedy otherwise)."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        if os.environ.get(_LEGACY) not in (None, "1", "true", "True"):
            log.warning("%s=%s overridden with 1: QKeras needs tf_keras as tf.keras", _LEGACY, os.environ[_LEGACY])
        os.environ[_LEGACY] = "1"
        return
    if not getattr(tf, "_tf_uses_legacy_keras", False):
        raise ModelError(
            f"{what} needs QKeras, which needs {_LEGACY}=1 before TensorFlow is imported, but TensorFlow is "
            f"already imported with Keras 3 as tf.keras; set {_LEGACY}=1 in the environment (or in os.environ "
            "before importing tensorflow), or convert in a fresh process (e.g. with the nn2fpga command)"
        )


def qkeras_objects(what: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """QKeras layers and quantizers for the tf_keras loader (after `require_legacy_keras`), plus `extra`."""
    require_legacy_keras(what)
    from qkeras.utils import _add_supported_quantized_objects

    objects: dict[str, Any] = {}
    _add_supported_quantized_objects(objects)
    return objects | dict(extra or {})


def file_config(path: Path) -> tuple[str, Any]:
    """(flavor, model config) of a `.keras` zip or an `.h5` file, sniffed by content; the containers are checked
    (`nn2fpga.frontend.archive`) and the config screened (`nn2fpga.frontend.screening`) before anything else."""
    import h5py

    if zipfile.is_zipfile(path):
        version, config = keras_zip(path)
    elif h5py.is_hdf5(path):
        version, config = h5_config(path)
        if config is None:
            raise ModelError(f"{path}: the .h5 file holds no model_config (weights only?); save the whole model")
    else:
        raise ModelError(f"{path}: neither a .keras (zip) nor an .h5 (HDF5) file; {ACCEPTED}")
    check_config(config, path)
    return _flavor_of_version(version), config


def _saved_model_config(path: Path) -> list[Any]:
    """The per-object Keras configs stored in a tf_keras SavedModel directory."""
    if not (path / "saved_model.pb").is_file():
        raise ModelError(f"{path}: a directory without saved_model.pb is not a SavedModel; {ACCEPTED}")
    if not (path / "keras_metadata.pb").is_file():
        raise ModelError(f"{path}: a SavedModel without keras_metadata.pb was not saved by Keras; {ACCEPTED}")
    from tf_keras.protobuf import saved_metadata_pb2

    meta = saved_metadata_pb2.SavedMetadata()
    try:
        meta.ParseFromString((path / "keras_metadata.pb").read_bytes())
        return [json.loads(node.metadata) for node in meta.nodes]
    except Exception as e:  # protobuf DecodeError, JSON errors
        raise ModelError(f"{path}: unreadable keras_metadata.pb ({e}); {ACCEPTED}") from e


def refuse_lambdas(config: Any, path: Path) -> None:
    """Raise ModelError if the stored config holds a Lambda layer or a serialized Python lambda."""
    for owner, cls, _, _ in objects(config):
        if cls in ("Lambda", "__lambda__"):
            what = f"layer {owner!r} (Lambda)" if cls == "Lambda" else f"layer {owner!r} (a Python lambda)"
            raise ModelError(f"{path}: {what} runs arbitrary Python code; nn2fpga refuses it without loading the file")


def _flavor_of_version(version: str) -> str:
    """Keras 3 for keras_version 3.x and later, else tf_keras (Keras 2)."""
    try:
        major = int(str(version).split(".")[0])
    except ValueError:
        major = 2
    return KERAS3 if major >= 3 else TF_KERAS


def flavor_of(obj: Any) -> str | None:
    """KERAS3 / TF_KERAS for Keras models (subclasses included, by the defining modules), else None."""
    for cls in type(obj).__mro__:
        root = cls.__module__.split(".")[0]
        if root in (KERAS3, TF_KERAS) and cls.__name__ in ("Model", "Functional", "Sequential"):
            return root
    return None
