"""One retrain, whoever asks for it: the worker's job (corrections) and `tagloop train` (a folder).

    features -> fit a candidate -> evaluate it and its parent on the same images ->
    the one promotion rule (gate.py) -> per-class thresholds (thresholds.py) -> publish

The caller brings the parent loaded (LoadedModel) and the labelled images as features
(RetrainData: which images the judged candidate trains on, which judge it, which the
published one trains on); everything after that is here, the same for both callers.
The loaded model's top is trained in place: after run_retrain it holds the published
candidate if that was promoted, else the parent's weights again.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tagloop.settings import RetrainSettings
from tagloop.training.candidate import fit_and_judge
from tagloop.training.fit import FitConfig, FitResult
from tagloop.training.gate import HELD_OUT, GateDecision, Split, hash_fold, held_out_rule, split_indices
from tagloop.training.thresholds import threshold_vector
from tagloop.version_meta import Calibration, Changes, Evaluation, TrainingRun, VersionMeta

if TYPE_CHECKING:  # keeps this module importable without loading TensorFlow
    from tagloop.store import ModelStore
    from tagloop.training.features import Features, LoadImage
    from tagloop.training.loaded import LoadedModel

Progress = Callable[..., None]
"""progress(stage, **fields): where the retrain is; it may raise to cancel it."""


def no_progress(stage: str, **fields: Any) -> None:
    return None


@dataclass(frozen=True)
class RetrainPolicy:
    fit: FitConfig
    min_holdout: int
    tolerance: float
    min_positives: int
    min_negatives: int

    @classmethod
    def from_settings(cls, settings: RetrainSettings, **fit_overrides: Any) -> "RetrainPolicy":
        """The settings' policy; `fit_overrides` (epochs, learning_rate...) that are not None win."""
        fit: dict[str, Any] = {
            "epochs": settings.retrain_epochs,
            "learning_rate": settings.learning_rate,
            "batch_size": settings.batch_size,
            "gamma": settings.focal_gamma,
            "alpha": settings.focal_alpha,
            "margin": settings.fit_margin,
            "anchor_weight": settings.anchor_weight,
        }
        fit.update({k: v for k, v in fit_overrides.items() if v is not None})
        return cls(
            fit=FitConfig(**fit),
            min_holdout=settings.min_holdout,
            tolerance=settings.gate_tolerance,
            min_positives=settings.calibrate_min_positives,
            min_negatives=settings.calibrate_min_negatives,
        )


@dataclass(frozen=True)
class RetrainData:
    """Labelled images as backbone features, and the part each plays.

    split: the judged candidate trains on split.train and is judged on split.evaluate.
    publish_on: what the published candidate trains on.
    folds: disjoint sets of images scored by a candidate not trained on them, for the
        per-class thresholds (the held-out set is one of them).
    anchor_x: features of images nobody labelled, kept near the parent's outputs (fit.Anchors).
    """

    keys: list[str]
    x: np.ndarray
    y: np.ndarray
    split: Split
    publish_on: list[int]
    folds: list[list[int]]
    rule: str
    noun: str
    anchor_x: np.ndarray | None = None


def corrections_data(
    keys: list[str],
    x: np.ndarray,
    y: np.ndarray,
    *,
    modulus: int,
    min_holdout: int,
    anchor_x: np.ndarray | None = None,
) -> RetrainData:
    """Corrections: held out by image hash; the published candidate learns every correction."""
    folds = [
        [i for i, key in enumerate(keys) if hash_fold(key, modulus=modulus) == f] for f in range(modulus)
    ]
    split = split_indices(len(keys), folds[0], min_holdout=min_holdout)
    every = list(range(len(keys)))
    return RetrainData(
        keys, x, y, split, every, [f for f in folds if f], held_out_rule(modulus), "corrections", anchor_x
    )


def split_data(
    keys: list[str], x: np.ndarray, y: np.ndarray, *, test_from: int, min_holdout: int, rule: str
) -> RetrainData:
    """A labelled folder: images from `test_from` on are its test split, never trained on
    (unless it is smaller than min_holdout: then the rule judges on everything)."""
    split = split_indices(len(keys), list(range(test_from, len(keys))), min_holdout=min_holdout)
    folds = [split.evaluate] if split.basis == HELD_OUT else []
    return RetrainData(keys, x, y, split, split.train, folds, rule, "images")


@dataclass
class Candidate:
    """What fitting and judging found; published as the version's meta."""

    decision: GateDecision
    fit: FitResult
    samples: int
    metrics: dict[str, Any]
    evaluation: Evaluation
    changes: Changes
    thresholds: dict[str, float]
    calibration: dict[str, Calibration]


@dataclass(frozen=True)
class RetrainOutcome:
    version: int
    parent: int
    candidate: Candidate
    meta: VersionMeta
    timings: dict[str, float]
    """Seconds of each stage: training_and_evaluating, publishing."""

    def result(self) -> dict[str, Any]:
        """JSON-ready summary (the job's result)."""
        c = self.candidate
        return {
            "version": self.version,
            "parent_version": self.parent,
            "samples": c.samples,
            "final_loss": c.fit.final_loss,
            "epochs_run": c.fit.epochs_run,
            "loss_curve": self.meta.loss_curve,
            "promoted": c.decision.promoted,
            "reason": c.decision.reason,
            "metrics": c.metrics,
            "evaluation": c.evaluation.model_dump(),
            "changes": c.changes.model_dump(),
            "thresholds": c.thresholds,
        }


def run_retrain(
    *,
    store: "ModelStore",
    loaded: "LoadedModel",
    parent: int,
    data: RetrainData,
    policy: RetrainPolicy,
    cache_dir: Path,
    source: str,
    force: bool = False,
    progress: Progress = no_progress,
) -> RetrainOutcome:
    """Fit, judge and publish a candidate from `loaded` (version `parent` of `store`)."""
    from tagloop.model.publish import MODEL_FILE, publish_model

    parent_meta = store.meta(parent)
    snapshot = loaded.top.get_weights()
    started = time.monotonic()
    try:
        candidate = fit_and_judge(
            loaded,
            data,
            policy,
            parent_thresholds=threshold_vector(parent_meta.thresholds),
            force=force,
            progress=progress,
        )
        judged_at = time.monotonic()
        progress("publishing")
        meta = version_meta(
            candidate, parent=parent, parent_meta=parent_meta, loaded=loaded, policy=policy, source=source
        )
        version = publish_model(
            store,
            loaded.model,
            meta,
            activate=candidate.decision.promoted,
            cache_dir=cache_dir,
            top_only=loaded.top_only(store.path(parent) / MODEL_FILE),
        )
    except BaseException:
        loaded.top.set_weights(snapshot)
        raise
    if not candidate.decision.promoted:
        loaded.top.set_weights(snapshot)  # the loaded model stays the live version
    timings = {
        "training_and_evaluating": round(judged_at - started, 2),
        "publishing": round(time.monotonic() - judged_at, 2),
    }
    return RetrainOutcome(version, parent, candidate, meta, timings)


def version_meta(
    candidate: Candidate,
    *,
    parent: int,
    parent_meta: VersionMeta,
    loaded: "LoadedModel",
    policy: RetrainPolicy,
    source: str,
) -> VersionMeta:
    fit, config = candidate.fit, policy.fit
    return VersionMeta(
        parent=parent,
        samples=candidate.samples,
        backbone=parent_meta.backbone,
        backbone_id=loaded.backbone.id,
        source=source,
        metrics=candidate.metrics,
        loss_curve=[round(v, 6) for v in fit.loss_curve],
        promoted=candidate.decision.promoted,
        reason=candidate.decision.reason,
        training=TrainingRun(
            epochs_run=fit.epochs_run,
            max_epochs=config.epochs,
            stopped_early=fit.stopped_early,
            learning_rate=config.learning_rate,
            batch_size=config.batch_size,
            focal_gamma=config.gamma,
            focal_alpha=config.alpha,
            seconds=round(fit.seconds, 2),
            held_out=candidate.evaluation.held_out.images,
            evaluated_on=candidate.metrics["candidate"]["samples"],
        ),
        evaluation=candidate.evaluation,
        changes=candidate.changes,
        thresholds=candidate.thresholds,
        calibration=candidate.calibration,
    )


def features_of(
    loaded: "LoadedModel",
    *,
    cache_dir: Path,
    keys: list[str],
    load_image: "LoadImage",
    progress: Progress = no_progress,
) -> "Features":
    """Backbone features of the images named by `keys` (their sha256), computing only the
    ones not cached; an image that cannot be decoded (damaged, over the decode limits) is
    skipped and named in the result's `skipped`."""
    from tagloop.training.features import FeatureCache, cached_features

    progress("features", done=0, total=len(keys))
    return cached_features(
        cache=FeatureCache(cache_dir, loaded.backbone.id),
        extract=loaded.backbone,
        keys=keys,
        load_image=load_image,
        on_progress=lambda done, total: progress("features", done=done, total=total),
    )


def load_parent(store: "ModelStore", *, cache_dir: Path) -> tuple[int, "LoadedModel"]:
    """The active version, loaded to be retrained (the CLI; the worker keeps one warm)."""
    from tagloop.training.loaded import LoadedModel

    parent = store.require_active()
    return parent, LoadedModel.load(
        parent_model_file(store, parent), backbone=backbone_name(store.meta(parent)), cache_dir=cache_dir
    )


def parent_model_file(store: "ModelStore", version: int) -> Path:
    from tagloop.model.publish import MODEL_FILE

    return store.path(version) / MODEL_FILE


def backbone_name(meta: VersionMeta) -> str:
    """The name a version's backbone has in the feature cache."""
    return meta.backbone or "backbone"
