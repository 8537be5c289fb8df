"""Publishing a Keras model as a store version: contract check, .h5, ONNX, parity check."""

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from tagloop.contract import check_input_shape, check_outputs, probe_images
from tagloop.errors import ModelContractError
from tagloop.model.detector import IMAGE_INPUT, DetectorScores
from tagloop.model.onnx_export import INPUT_NAME, DetectorMissingError, Probes, export_checked, split_parts
from tagloop.model.onnx_graph import keras_input_names
from tagloop.store import ModelStore
from tagloop.version_meta import VersionMeta

log = logging.getLogger(__name__)

MODEL_FILE = "model.h5"
ONNX_FILE = "model.onnx"


@dataclass(frozen=True)
class TopOnly:
    """What a caller that trained only the model's top (its backbone frozen) already has.

    loaded_from: the .h5 the model was loaded from; the new .h5 is a copy of it with the
        top's weights rewritten (milliseconds, where saving the whole model takes ~0.25 s).
    probe_outputs: the model's outputs on probe_images(), computed through the top alone
        from the backbone's features of the probes (no Keras pass over the backbone).
    backbone_key: export.backbone_key() of the backbone, computed when it was loaded.
    detector: the wrapped detector's ONNX the model was loaded with (two-prior models).
    """

    loaded_from: Path
    probe_outputs: np.ndarray
    backbone_key: str | None = None
    detector: Path | None = None


def publish_model(
    store: ModelStore,
    model: keras.Model,
    meta: VersionMeta,
    *,
    activate: bool,
    cache_dir: Path | None = None,
    top_only: TopOnly | None = None,
    detector: Path | None = None,
) -> int:
    """Publish `model` with `meta` (parent, samples, backbone, metrics...); returns the version.

    Anything wrong (contract, export, parity) raises before the version becomes visible.
    `cache_dir` (settings.cache_dir): where the converted backbone is cached, so that a
    model split into backbone + top exports only its top (export.export_onnx); without it
    every publish converts the whole model (seconds). `top_only`: see TopOnly; the probe
    outputs are checked against the contract, then against the ONNX export, either way.
    `detector`: the wrapped detector's ONNX (detector.py) that a two-prior model takes its
    scores from; joined into the served file (default: the one in `top_only`).
    """
    started = time.perf_counter()
    detector = detector or (top_only.detector if top_only else None)
    probes, keras_probes = probe_inputs(model, detector)
    expected = check_model_contract(model, keras_probes, outputs=top_only.probe_outputs if top_only else None)
    # write() adds the measured parity; the caller's meta stays as it was
    meta = meta.model_copy(
        update={"prior": meta.prior or prior_of(model), "inputs": served_inputs(model, probes)}
    )

    def write(folder: Path) -> None:
        if top_only is None or not _rewrite_top(model, top_only.loaded_from, folder / MODEL_FILE):
            model.save(folder / MODEL_FILE)
        meta.onnx_max_abs_diff = export_checked(
            model,
            folder / ONNX_FILE,
            probes,
            cache_dir=cache_dir,
            expected=expected,
            key=top_only.backbone_key if top_only else None,
            detector=detector,
            keras_probes=keras_probes,
        )

    version = store.publish(write, meta, activate=activate)
    log.info("published version %d in %.2f s", version, time.perf_counter() - started)
    return version


def probe_inputs(model: keras.Model, detector: Path | None) -> tuple[Probes, np.ndarray | list[np.ndarray]]:
    """(probes as the served file takes them, the same as the Keras model takes them).

    For a two-prior model the Keras model takes the detector's scores of the 512 px probes,
    computed by the detector's ONNX: exactly what the served file computes inside.
    """
    image = probe_images()
    if len(model.inputs) == 1:
        return image, image
    if detector is None:
        raise DetectorMissingError("this model takes the COCO detector's scores, but no detector was given")
    scores = DetectorScores(detector)
    big = probe_images(size=scores.side)
    return {INPUT_NAME: image, IMAGE_INPUT: big}, [image, scores(big)]


def prior_of(model: keras.Model) -> str:
    """The frozen priors a model answers from: "imagenet+coco", "imagenet" (tagloop's own
    one-input models) or "none" (an imported model)."""
    if len(model.inputs) == 2:
        return "imagenet+coco"
    return "imagenet" if split_parts(model) is not None else "none"


def served_inputs(model: keras.Model, probes: Probes) -> list[dict[str, Any]]:
    """The served file's inputs, for meta.json: [{"name", "size": [H, W]}, ...]."""
    inputs = [{"name": INPUT_NAME, "size": [224, 224]}]
    if len(model.inputs) == 2 and isinstance(probes, dict):
        side = int(probes[IMAGE_INPUT].shape[1])
        inputs.append({"name": IMAGE_INPUT, "size": [side, side]})
    return inputs


def check_model_contract(
    model: keras.Model, probes: np.ndarray | list[np.ndarray], *, outputs: np.ndarray | None = None
) -> np.ndarray:
    """ModelContractError unless `model` maps (N, 224, 224, 3) [and the detector's (N, 20)
    scores] to (N, 20) probabilities.

    Returns the model's outputs on `probes` (`outputs` when the caller computed them).
    """
    shapes = model.input_shape if len(model.inputs) == 1 else model.input_shape[0]
    check_input_shape(shapes)
    if len(model.inputs) > 1:
        try:
            keras_input_names(model)
        except Exception as exc:
            raise ModelContractError(str(exc)) from exc
    if outputs is None:
        outputs = np.asarray(model(probes, training=False))
    check_outputs(outputs, len(probes[0]) if isinstance(probes, list) else len(probes))
    return outputs


def _rewrite_top(model: keras.Model, loaded_from: Path, path: Path) -> bool:
    """Write `path` as a copy of `loaded_from` holding the top's current weights.

    False (and nothing written) unless the file has the layout Keras' .h5 saving gives
    this model's top (see _top_datasets).
    """
    import h5py

    parts = split_parts(model)
    if parts is None:
        return False
    top = parts[1]
    shutil.copyfile(loaded_from, path)
    try:
        with h5py.File(path, "r+") as f:
            for dataset, weight in _top_datasets(f, top):
                dataset[...] = keras.ops.convert_to_numpy(weight)
    except (KeyError, ValueError, OSError) as exc:
        log.warning("saving the whole model: %s cannot be reused (%s)", loaded_from.name, exc)
        path.unlink(missing_ok=True)
        return False
    return True


def read_top_weights(path: Path, top: keras.Model) -> list[np.ndarray]:
    """The weights another version's .h5 holds for a top of `top`'s layout, in
    `top.get_weights()` order; ValueError when the file's top is laid out otherwise."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            found = {id(weight): dataset[...] for dataset, weight in _top_datasets(f, top)}
    except (KeyError, OSError) as exc:
        raise ValueError(f"{path.name} has no top like this model's ({exc})") from exc
    return [found[id(weight)] for weight in top.weights]


def _top_datasets(f: Any, top: keras.Model) -> list[tuple[Any, Any]]:
    """(dataset, weight) of each of `top`'s weights in an open .h5 saved by Keras: the
    dataset its layer's group lists under the weight's path, of the same shape and type."""
    listed = {}
    for group in f["model_weights"].values():
        for raw in group.attrs.get("weight_names", []):
            name = raw.decode() if isinstance(raw, bytes) else str(raw)
            listed[name] = group[name]
    pairs = []
    for weight in top.trainable_weights + top.non_trainable_weights:
        dataset = listed.get(weight.path)
        if dataset is None:
            raise ValueError(f"the file holds no weight {weight.path}")
        if dataset.shape != tuple(weight.shape) or dataset.dtype != np.dtype(weight.dtype):
            raise ValueError(f"{weight.path} is {dataset.dtype}{dataset.shape} in the file")
        pairs.append((dataset, weight))
    return pairs
