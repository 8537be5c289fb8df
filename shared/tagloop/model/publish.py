"""Publishing a Keras model as a store version: contract check, .h5, ONNX, parity check."""

import logging
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from tagloop.contract import check_input_shape, check_outputs, probe_images
from tagloop.model.export import export_checked
from tagloop.store import ModelStore

log = logging.getLogger(__name__)

MODEL_FILE = "model.h5"
ONNX_FILE = "model.onnx"


def publish_model(
    store: ModelStore,
    model: keras.Model,
    meta: dict[str, Any],
    *,
    activate: bool,
    cache_dir: Path | None = None,
    probe_outputs: np.ndarray | None = None,
) -> int:
    """Publish `model` with `meta` (parent, samples, backbone, metrics...); returns the version.

    Anything wrong (contract, export, parity) raises before the version becomes visible.
    `cache_dir` (settings.cache_dir): where the converted backbone is cached, so that a
    model split into backbone + top exports only its top (export.export_onnx); without it
    every publish converts the whole model (seconds). `probe_outputs`: the model's outputs
    on probe_images() when the caller has them (a trainer with a frozen backbone computes
    them through the top alone); otherwise one Keras forward pass computes them here. They
    are checked against the contract, then against the ONNX export.
    """
    started = time.perf_counter()
    probes = probe_images()
    expected = check_model_contract(model, probes, outputs=probe_outputs)
    meta = dict(meta)  # write() adds the measured parity; the caller's dict stays as it was

    def write(folder: Path) -> None:
        model.save(folder / MODEL_FILE)
        meta["onnx_max_abs_diff"] = export_checked(
            model, folder / ONNX_FILE, probes, cache_dir=cache_dir, expected=expected
        )

    version = store.publish(write, meta, activate=activate)
    log.info("published version %d in %.2f s", version, time.perf_counter() - started)
    return version


def check_model_contract(
    model: keras.Model, probes: np.ndarray, *, outputs: np.ndarray | None = None
) -> np.ndarray:
    """ModelContractError unless `model` maps (N, 224, 224, 3) to (N, 20) probabilities.

    Returns the model's outputs on `probes` (`outputs` when the caller computed them).
    """
    check_input_shape(model.input_shape)
    if outputs is None:
        outputs = np.asarray(model(probes, training=False))
    check_outputs(outputs, len(probes))
    return outputs
