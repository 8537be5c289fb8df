"""Training and evaluation from a labelled folder, outside the services (the `tagloop` CLI).

- train_from_voc: a Pascal VOC folder -> cached features -> the retrain core
  (tagloop.training.retrain), judged on the test (or val) split by the same promotion
  rule as the worker's retrain -> publish.
- evaluate_version: a stored version's ONNX export (exactly what inference serves) on a
  VOC split or on a folder + labels CSV -> mAP, per-class AP, F1 at a threshold.
"""

import csv
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tagloop.classes import CLASS_INDEX
from tagloop.contract import session_inputs
from tagloop.errors import TagloopError
from tagloop.evaluation import evaluate
from tagloop.images import DEFAULT_LIMITS, DecodeLimits, load_image_arrays
from tagloop.settings import RetrainSettings
from tagloop.store import ModelStore
from tagloop.training.voc import VocLayoutError, available_splits, label_matrix, read_split

if TYPE_CHECKING:  # TensorFlow only when training
    from tagloop.training.policy import ProgressCallback, RetrainPolicy
    from tagloop.training.retrain import RetrainOutcome

log = logging.getLogger(__name__)

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
    onnx_file: Path,
    paths: list[Path],
    *,
    batch: int = 16,
    tick: Callable[[int], None] | None = None,
    limits: DecodeLimits = DEFAULT_LIMITS,
) -> np.ndarray:
    """Probabilities (N, 20) of an ONNX export on image files, with the serving preprocessing."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    inputs = session_inputs(session)
    sizes = [size for _, size in inputs]
    out = []
    for start in range(0, len(paths), batch):
        chunk = paths[start : start + batch]
        images = [load_image_arrays(p.read_bytes(), sizes, limits=limits) for p in chunk]
        feed = {name: np.stack([image[i] for image in images]) for i, (name, _) in enumerate(inputs)}
        out.append(session.run(None, feed)[0])
        if tick:
            tick(len(chunk))
    return np.concatenate(out) if out else np.zeros((0, len(CLASS_INDEX)), np.float32)


def evaluate_version(
    *,
    store: ModelStore,
    version: int,
    data: LabelledImages,
    threshold: float | None = None,
    tick=None,
    limits: DecodeLimits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    """Metrics at `threshold`, or at the version's own per-class thresholds (as inference serves)."""
    scores = onnx_scores(store.path(version) / "model.onnx", data.paths, tick=tick, limits=limits)
    at = np.array(store.meta(version).threshold_list()) if threshold is None else threshold
    return evaluate(data.y, scores, threshold=at)


def train_from_voc(
    *,
    store: ModelStore,
    settings: RetrainSettings,
    train: LabelledImages,
    test: LabelledImages,
    policy: "RetrainPolicy",
    force: bool = False,
    progress: "ProgressCallback | None" = None,
) -> "RetrainOutcome":
    """Train the active version's top on `train`, judged on `test` by the one promotion
    rule (tagloop.training.gate), and publish it; force=True activates it whatever the rule said."""
    from tagloop.training.loaded import LoadedModel
    from tagloop.training.policy import no_progress, split_data
    from tagloop.training.retrain import features_of, run_retrain

    progress = progress or no_progress
    parent = store.require_active()
    loaded = LoadedModel.from_store(store, parent, cache_dir=settings.cache_dir)
    paths = train.paths + test.paths
    keys = [file_key(p) for p in paths]
    by_key = dict(zip(keys, paths, strict=True))
    limits = settings.decode_limits
    features = features_of(
        loaded,
        cache_dir=settings.cache_dir,
        keys=keys,
        load_image=lambda k: loaded.backbone.prepare(by_key[k].read_bytes(), limits=limits),
        progress=progress,
    )
    for key, reason in features.skipped.items():
        log.warning("%s left out: %s", by_key[key], reason)
    usable = np.array([key not in features.skipped for key in keys], dtype=bool)
    data = split_data(
        features.keys,
        features.x,
        np.concatenate([train.y, test.y])[usable],
        test_from=int(usable[: len(train.paths)].sum()),
        min_holdout=policy.min_holdout,
        rule="the folder's test split",
    )
    return run_retrain(
        store=store,
        loaded=loaded,
        parent=parent,
        data=data,
        policy=policy,
        cache_dir=settings.cache_dir,
        source="voc",
        force=force,
        progress=progress,
    )
