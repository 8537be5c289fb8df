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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tagloop.training.candidate import Candidate, fit_and_judge
from tagloop.training.policy import ProgressCallback, RetrainData, RetrainPolicy, no_progress
from tagloop.version_meta import TrainingRun, VersionMeta

if TYPE_CHECKING:  # for type hints only (candidate.py loads TensorFlow anyway)
    from tagloop.store import ModelStore
    from tagloop.training.features import Features, LoadImage
    from tagloop.training.loaded import LoadedModel


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
            "gate": c.decision.stats.model_dump(),
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
    progress: ProgressCallback = no_progress,
    corrections_through: int | None = None,
) -> RetrainOutcome:
    """Fit, judge and publish a candidate from `loaded` (version `parent` of `store`);
    `corrections_through`: the newest correction in `data` (a retrain from corrections)."""
    from tagloop.model.publish import MODEL_FILE, publish_model

    parent_meta = store.meta(parent)
    snapshot = loaded.top.get_weights()
    started = time.monotonic()
    try:
        candidate = fit_and_judge(
            loaded,
            data,
            policy,
            parent_thresholds=parent_meta.thresholds,
            force=force,
            progress=progress,
        )
        judged_at = time.monotonic()
        progress("publishing")
        meta = version_meta(
            candidate,
            parent=parent,
            parent_meta=parent_meta,
            loaded=loaded,
            policy=policy,
            source=source,
            corrections_through=corrections_through,
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
    corrections_through: int | None = None,
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
        gate=candidate.decision.stats,
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
            corrections_through=corrections_through,
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
    progress: ProgressCallback = no_progress,
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
