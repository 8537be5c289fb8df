"""Training and evaluation from a labelled folder, outside the services (the `tagloop` CLI).

- train_from_voc: a Pascal VOC folder -> cached features -> train the active model's
  top -> metrics on the test (or val) split for the active model and the candidate ->
  publish the candidate with those metrics.
- evaluate_version: a stored version's ONNX export (exactly what inference serves) on a
  VOC split or on a folder + labels CSV -> mAP, per-class AP, F1 at a threshold.
"""

import csv
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tagloop.classes import CLASS_INDEX
from tagloop.contract import session_inputs
from tagloop.errors import TagloopError
from tagloop.evaluation import evaluate
from tagloop.images import load_image_arrays
from tagloop.store import ModelStore
from tagloop.training.voc import VocLayoutError, available_splits, label_matrix, read_split

LABEL_SEPARATORS = (";", "|", ",", " ")


class LabelsFileError(TagloopError):
    """The labels CSV cannot be read or names unknown classes or missing images."""


@dataclass(frozen=True)
class LabelledImages:
    paths: list[Path]
    y: np.ndarray


def voc_images(voc_dir: Path, split: str) -> LabelledImages:
    items = read_split(voc_dir, split)
    return LabelledImages([i.image_path for i in items], label_matrix([i.labels for i in items]))


def default_splits(voc_dir: Path) -> tuple[str, str]:
    """(train on, evaluate on): trainval/test when there is a test split, else train/val."""
    splits = available_splits(voc_dir)
    if "test" in splits:
        return ("trainval" if "trainval" in splits else "train"), "test"
    if {"train", "val"} <= set(splits):
        return "train", "val"
    raise VocLayoutError(f"{voc_dir}/ImageSets/Main needs train.txt and val.txt (or a test.txt)")


def csv_images(images_dir: Path, labels_csv: Path) -> LabelledImages:
    """Rows `filename,labels` (labels separated by ; | or spaces); a header row is allowed."""
    paths, label_sets = [], []
    with open(labels_csv, newline="") as f:
        for row in csv.reader(f):
            if not row or row[0].strip().lower() in ("", "filename", "file", "image"):
                continue
            path = Path(images_dir) / row[0].strip()
            if not path.is_file():
                raise LabelsFileError(f"{labels_csv}: image {row[0]!r} is not in {images_dir}")
            labels = _split_labels(" ".join(row[1:]))
            unknown = [name for name in labels if name not in CLASS_INDEX]
            if unknown:
                raise LabelsFileError(f"{labels_csv}: unknown classes {unknown} for {row[0]!r}")
            paths.append(path)
            label_sets.append(labels)
    return LabelledImages(paths, label_matrix(label_sets))


def _split_labels(text: str) -> list[str]:
    for sep in LABEL_SEPARATORS:
        text = text.replace(sep, " ")
    return sorted({t.strip().lower() for t in text.split() if t.strip()})


def file_key(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def onnx_scores(
    onnx_file: Path, paths: list[Path], *, batch: int = 16, tick: Callable[[int], None] | None = None
) -> np.ndarray:
    """Probabilities (N, 20) of an ONNX export on image files, with the serving preprocessing."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    inputs = session_inputs(session)
    sizes = [size for _, size in inputs]
    out = []
    for start in range(0, len(paths), batch):
        chunk = paths[start : start + batch]
        images = [load_image_arrays(p.read_bytes(), sizes) for p in chunk]
        feed = {name: np.stack([image[i] for image in images]) for i, (name, _) in enumerate(inputs)}
        out.append(session.run(None, feed)[0])
        if tick:
            tick(len(chunk))
    return np.concatenate(out) if out else np.zeros((0, len(CLASS_INDEX)), np.float32)


def evaluate_version(
    *, store: ModelStore, version: int, data: LabelledImages, threshold: float, tick=None
) -> dict[str, Any]:
    scores = onnx_scores(store.path(version) / "model.onnx", data.paths, tick=tick)
    return evaluate(data.y, scores, threshold=threshold)


def train_from_voc(
    *,
    store: ModelStore,
    cache_dir: Path,
    train: LabelledImages,
    test: LabelledImages,
    config: Any,
    activate: bool | None,
    on_features=None,
    on_epoch=None,
) -> dict[str, Any]:
    """Train the active version's top on `train`; returns {version, promoted, metrics...}.

    activate=None promotes when the candidate's mAP on `test` is not below the active one's.
    """
    from tagloop.model.publish import MODEL_FILE, publish_model
    from tagloop.training.features import FeatureCache, cached_features
    from tagloop.training.loaded import LoadedModel

    parent = store.require_active()
    parent_meta = store.meta(parent)
    parent_file = store.path(parent) / MODEL_FILE
    loaded = LoadedModel.load(
        parent_file, backbone=str(parent_meta.get("backbone", "backbone")), cache_dir=cache_dir
    )
    cache = FeatureCache(cache_dir, loaded.backbone.id)

    def feats(data: LabelledImages) -> np.ndarray:
        keys = [file_key(p) for p in data.paths]
        by_key = dict(zip(keys, data.paths, strict=True))
        x, _ = cached_features(
            cache=cache,
            extract=loaded.backbone,
            keys=keys,
            load_image=lambda k: loaded.backbone.prepare(by_key[k].read_bytes()),
            on_progress=on_features,
        )
        return x

    x_train, x_test = feats(train), feats(test)
    active = evaluate(test.y, loaded.trainer.predict(x_test))
    fit = loaded.trainer.fit(x_train, train.y, config=config, on_epoch=on_epoch)
    candidate = evaluate(test.y, loaded.trainer.predict(x_test))
    better = (candidate["mAP"] or 0.0) >= (active["mAP"] or 0.0)
    promoted = better if activate is None else activate
    meta = {
        "parent": parent,
        "samples": len(train.paths),
        "backbone": parent_meta.get("backbone"),
        "source": "voc",
        "metrics": {"basis": "test", "candidate": candidate, "active": active},
        "loss_curve": [round(v, 6) for v in fit.loss_curve],
        "promoted": promoted,
        "reason": f"candidate mAP {candidate['mAP']} vs active {active['mAP']} "
        f"on {len(test.paths)} test images"
        + ("" if activate is None else " (activation chosen on the command line)"),
    }
    version = publish_model(
        store,
        loaded.model,
        meta,
        activate=promoted,
        cache_dir=cache_dir,
        top_only=loaded.top_only(parent_file),
    )
    return {
        "version": version,
        "parent": parent,
        "promoted": promoted,
        "candidate": candidate,
        "active": active,
        "fit": fit,
    }
