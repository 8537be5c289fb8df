"""Publishing a Keras model as a store version: contract check, .h5, ONNX, parity check."""

from pathlib import Path
from typing import Any

import keras
import numpy as np

from tagloop.contract import check_input_shape, check_outputs, probe_images
from tagloop.model.export import check_onnx_parity, export_onnx
from tagloop.store import ModelStore

MODEL_FILE = "model.h5"
ONNX_FILE = "model.onnx"


def publish_model(store: ModelStore, model: keras.Model, meta: dict[str, Any], *, activate: bool) -> int:
    """Publish `model` with `meta` (parent, samples, backbone, metrics...); returns the version.

    Anything wrong (contract, export, parity) raises before the version becomes visible.
    """
    probes = probe_images()
    check_model_contract(model, probes)
    meta = dict(meta)  # write() adds the measured parity; the caller's dict stays as it was

    def write(folder: Path) -> None:
        model.save(folder / MODEL_FILE)
        export_onnx(model, folder / ONNX_FILE)
        meta["onnx_max_abs_diff"] = check_onnx_parity(model, folder / ONNX_FILE, probes)

    return store.publish(write, meta, activate=activate)


def check_model_contract(model: keras.Model, probes: np.ndarray) -> None:
    """ModelContractError unless `model` maps (N, 224, 224, 3) to (N, 20) probabilities."""
    check_input_shape(model.input_shape)
    check_outputs(np.asarray(model(probes, training=False)), len(probes))
