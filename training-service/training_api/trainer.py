"""One retrain, start to end: features -> training -> evaluating -> publishing.

Plain functions over explicit inputs; jobs.py wires them to RQ (progress, cancel).
TensorFlow is imported lazily, so the API process (which imports jobs.py to enqueue)
never loads it.
"""

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tagloop.errors import TagloopError
from tagloop.evaluation import evaluate
from tagloop.store import ModelStore
from tagloop.uploads import UploadStore

from training_api.config import Settings
from training_api.gate import Split, decide, split_examples

if TYPE_CHECKING:  # the API process imports this module and must not load TensorFlow
    from tagloop.training.loaded import LoadedModel

log = logging.getLogger(__name__)

Progress = Callable[..., None]
"""progress(stage, **fields): records where the job is; may raise to cancel it."""


class NoCorrectionsError(TagloopError):
    """There is nothing to train on (422 at the API; the job fails with this message)."""


class WarmModels:
    """The last loaded model, keyed by its file (path + mtime), kept between jobs.

    Loading the .h5 and building graphs costs seconds; the worker runs one job at a
    time (rq SimpleWorker), so one entry is enough.
    """

    def __init__(self) -> None:
        self._key: tuple[str, float] | None = None
        self._loaded: LoadedModel | None = None

    def get(self, model_file: Path, *, backbone: str, cache_dir: Path) -> "LoadedModel":
        from tagloop.training.loaded import LoadedModel

        key = (str(model_file), model_file.stat().st_mtime)
        if self._key != key or self._loaded is None:
            self._loaded = None  # free the old model before loading the next
            self._loaded = LoadedModel.load(model_file, backbone=backbone, cache_dir=cache_dir)
            self._key = key
        return self._loaded

    def adopt(self, model_file: Path, loaded: "LoadedModel") -> None:
        """The in-memory model *is* the version just published at `model_file`."""
        self._key = (str(model_file), model_file.stat().st_mtime)
        self._loaded = loaded

    def forget(self) -> None:
        self._key, self._loaded = None, None


def run_retrain(
    *,
    settings: Settings,
    store: ModelStore,
    examples: list[tuple[str, list[str]]],
    warm: WarmModels,
    progress: Progress,
    epochs: int | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Train a candidate from the active version on `examples`, gate it, publish it."""
    from tagloop.model.publish import MODEL_FILE

    if not examples:
        raise NoCorrectionsError("there are no corrections to train on; save some corrections first")
    started = time.monotonic()
    laps = _Laps()
    parent = store.require_active()
    parent_meta = store.meta(parent)
    loaded = warm.get(
        store.path(parent) / MODEL_FILE,
        backbone=str(parent_meta.get("backbone", "backbone")),
        cache_dir=settings.cache_dir,
    )
    laps.mark("load")
    image_ids = [image_id for image_id, _ in examples]
    x = _features(settings=settings, loaded=loaded, image_ids=image_ids, progress=progress)
    laps.mark("features")
    y = _labels([labels for _, labels in examples])
    split = split_examples(image_ids, modulus=settings.holdout_modulus, min_holdout=settings.min_holdout)
    snapshot = loaded.top.get_weights()
    adopted = False
    try:
        outcome = _train_and_gate(
            settings=settings,
            loaded=loaded,
            x=x,
            y=y,
            split=split,
            progress=progress,
            epochs=epochs,
            force=force,
        )
        laps.mark("training_and_evaluating")
        progress("publishing")
        version = _publish(
            store=store,
            loaded=loaded,
            parent=parent,
            parent_meta=parent_meta,
            outcome=outcome,
            split=split,
            cache_dir=settings.cache_dir,
        )
        laps.mark("publishing")
        if outcome["promoted"]:
            warm.adopt(store.path(version) / MODEL_FILE, loaded)
            adopted = True
    finally:
        if not adopted:
            loaded.top.set_weights(snapshot)  # the warm model stays the parent version
    return {
        **_result(outcome, split=split),
        "version": version,
        "parent_version": parent,
        "seconds": round(time.monotonic() - started, 2),
        "timings": laps.seconds,
    }


class _Laps:
    """Seconds spent in each stage, for the job result and the benchmark."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.monotonic()

    def mark(self, stage: str) -> None:
        now = time.monotonic()
        self.seconds[stage] = round(now - self._last, 2)
        self._last = now


def _features(
    *, settings: Settings, loaded: "LoadedModel", image_ids: list[str], progress: Progress
) -> np.ndarray:
    from tagloop.training.features import FeatureCache, cached_features

    uploads = UploadStore(settings.uploads_dir)
    progress("features", done=0, total=len(image_ids))
    x, computed = cached_features(
        cache=FeatureCache(settings.cache_dir, loaded.backbone.id),
        extract=loaded.backbone,
        keys=image_ids,
        load_image=lambda image_id: loaded.backbone.prepare(uploads.read(image_id)),
        on_progress=lambda done, total: progress("features", done=done, total=total),
    )
    log.info(
        "features of %d images (%d computed by %s, %d cached)",
        len(image_ids),
        computed,
        loaded.backbone.engine,
        len(image_ids) - computed,
    )
    return x


def _labels(label_sets: list[list[str]]) -> np.ndarray:
    from tagloop.training.voc import label_matrix

    return label_matrix(label_sets)


def _train_and_gate(
    *,
    settings: Settings,
    loaded: "LoadedModel",
    x: np.ndarray,
    y: np.ndarray,
    split: Split,
    progress: Progress,
    epochs: int | None,
    force: bool,
) -> dict[str, Any]:
    from tagloop.training.fit import FitConfig

    config = FitConfig(
        epochs=epochs or settings.retrain_epochs,
        learning_rate=settings.learning_rate,
        batch_size=settings.batch_size,
        gamma=settings.focal_gamma,
        alpha=settings.focal_alpha,
        margin=settings.fit_margin,
    )
    x_eval, y_eval = x[split.evaluate], y[split.evaluate]
    active_metrics = evaluate(y_eval, loaded.trainer.predict(x_eval))
    progress("training", epoch=0, epochs=config.epochs, loss=None)
    fit = loaded.trainer.fit(
        x[split.train],
        y[split.train],
        config=config,
        on_epoch=lambda epoch, total, loss: progress("training", epoch=epoch, epochs=total, loss=loss),
    )
    progress("evaluating", epoch=fit.epochs_run, epochs=config.epochs, loss=fit.final_loss)
    candidate_metrics = evaluate(y_eval, loaded.trainer.predict(x_eval))
    decision = decide(
        candidate=candidate_metrics,
        active=active_metrics,
        split=split,
        min_holdout=settings.min_holdout,
        tolerance=settings.gate_tolerance,
        force=force,
    )
    return {
        "promoted": decision.promoted,
        "reason": decision.reason,
        "forced": force,
        "metrics": {"basis": split.basis, "candidate": candidate_metrics, "active": active_metrics},
        "fit": fit,
        "config": config,
    }


def _publish(
    *,
    store: ModelStore,
    loaded: "LoadedModel",
    parent: int,
    parent_meta: dict,
    outcome: dict,
    split: Split,
    cache_dir: Path,
) -> int:
    from tagloop.model.publish import MODEL_FILE, publish_model

    fit, config = outcome["fit"], outcome["config"]
    meta = {
        "parent": parent,
        "samples": len(split.train),
        "backbone": parent_meta.get("backbone"),
        "backbone_id": loaded.backbone.id,
        "source": "retrain",
        "metrics": outcome["metrics"],
        "loss_curve": [round(v, 6) for v in fit.loss_curve],
        "promoted": outcome["promoted"],
        "reason": outcome["reason"],
        "training": {
            "epochs_run": fit.epochs_run,
            "max_epochs": config.epochs,
            "stopped_early": fit.stopped_early,
            "learning_rate": config.learning_rate,
            "batch_size": config.batch_size,
            "focal_gamma": config.gamma,
            "focal_alpha": config.alpha,
            "seconds": round(fit.seconds, 2),
            "held_out": split.held_out,
            "evaluated_on": len(split.evaluate),
        },
    }
    # cache_dir: the backbone's ONNX is converted once and reused, only the top is new.
    return publish_model(
        store,
        loaded.model,
        meta,
        activate=outcome["promoted"],
        cache_dir=cache_dir,
        top_only=loaded.top_only(store.path(parent) / MODEL_FILE),
    )


def _result(outcome: dict, *, split: Split) -> dict[str, Any]:
    fit = outcome["fit"]
    return {
        "samples": len(split.train),
        "final_loss": fit.final_loss,
        "epochs_run": fit.epochs_run,
        "loss_curve": [round(v, 6) for v in fit.loss_curve],
        "promoted": outcome["promoted"],
        "reason": outcome["reason"],
        "metrics": outcome["metrics"],
    }
