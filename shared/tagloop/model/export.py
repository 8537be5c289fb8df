"""Serving export: Keras -> ONNX, refused when ONNX Runtime disagrees with Keras."""

import logging
from pathlib import Path

import keras
import numpy as np

from tagloop.contract import INPUT_SHAPE
from tagloop.errors import TagloopError

log = logging.getLogger(__name__)

OPSET = 17
INPUT_NAME = "image"

PARITY_TOLERANCE = 1e-4
"""Largest allowed |ONNX - Keras| on probe images, in probability units.

tf2onnx matched Keras within 5e-7 on EfficientNetB0 (MEASURED.md), float32 round-off of
a different op order. 1e-4 leaves two hundredfold room for that, yet a real conversion
error (a wrong padding, a dropped layer) moves probabilities by 1e-2 or more, and 1e-4 is
far below anything visible in the UI (two decimals).
"""


class ExportError(TagloopError):
    """The model could not be exported to ONNX as a one-input graph."""


class ExportMismatchError(ExportError):
    """The ONNX export's outputs differ from the Keras model's beyond the tolerance."""


def export_onnx(model: keras.Model, path: Path) -> None:
    """Write `model` as ONNX with one input "image" of shape (batch, 224, 224, 3)."""
    import tensorflow as tf
    import tf2onnx

    spec = [tf.TensorSpec((None, *INPUT_SHAPE), tf.float32, name=INPUT_NAME)]
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=OPSET, output_path=str(path))
    _check_single_input(path)


def _check_single_input(path: Path) -> None:
    # Some exporters turn layer state (e.g. Normalization's mean) into extra graph inputs.
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {init.name for init in graph.initializer}
    inputs = [i.name for i in graph.input if i.name not in initializers]
    if inputs != [INPUT_NAME]:
        raise ExportError(f"ONNX export must have the one input {INPUT_NAME!r}, got {inputs}")


def onnx_predict(onnx_path: Path, images: np.ndarray) -> np.ndarray:
    """Outputs of the ONNX file on `images`, through ONNX Runtime as inference runs it."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return session.run(None, {INPUT_NAME: images.astype(np.float32)})[0]


def check_onnx_parity(model: keras.Model, onnx_path: Path, probes: np.ndarray) -> float:
    """Max |ONNX - Keras| on `probes`; ExportMismatchError when above PARITY_TOLERANCE."""
    expected = np.asarray(model(probes, training=False))
    actual = onnx_predict(onnx_path, probes)
    if actual.shape != expected.shape:
        raise ExportMismatchError(f"ONNX output shape {actual.shape} differs from Keras' {expected.shape}")
    diff = float(np.max(np.abs(actual - expected)))
    if not diff <= PARITY_TOLERANCE:  # also refuses NaN
        raise ExportMismatchError(
            f"ONNX export differs from the Keras model by {diff:.3g} (tolerance {PARITY_TOLERANCE:g})"
        )
    log.info("ONNX parity on %d probes: max abs diff %.3g", len(probes), diff)
    return diff
