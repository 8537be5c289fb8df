"""Fitting a candidate top and judging it against its parent on the same images.

Every fit starts from the parent's weights. With a held-out set, a first candidate is
fitted without it and judged on it (gate.py's rule); per-class thresholds come from
scores of images the scoring candidate was not trained on; then the candidate to publish
is fitted on `publish_on` with those thresholds (or the first one is kept, when it was
already trained on exactly that and no threshold changed).
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tagloop.evaluation import evaluate, label_changes, mean_log_loss
from tagloop.training.fit import Anchors, FitResult
from tagloop.training.gate import HELD_OUT, GateDecision, decide
from tagloop.training.thresholds import calibrate_thresholds, threshold_vector
from tagloop.version_meta import Evaluation, EvaluationSet

if TYPE_CHECKING:
    from tagloop.training.loaded import LoadedModel
    from tagloop.training.retrain import Candidate, Progress, RetrainData, RetrainPolicy


@dataclass
class _Fitter:
    """Fits of the loaded top from the parent's weights, reporting progress."""

    loaded: "LoadedModel"
    data: "RetrainData"
    policy: "RetrainPolicy"
    progress: "Progress"
    parent_weights: list[np.ndarray]
    anchors: Anchors | None = None

    def fit(self, indices: list[int], *, name: str, thresholds: np.ndarray | float = 0.5) -> FitResult:
        self.loaded.top.set_weights(self.parent_weights)
        self.progress("training", fit=name, epoch=0, epochs=self.policy.fit.epochs, loss=None)
        report: Callable[[int, int, float], None] = lambda epoch, epochs, loss: self.progress(  # noqa: E731
            "training", fit=name, epoch=epoch, epochs=epochs, loss=loss
        )
        return self.loaded.trainer.fit(
            self.data.x[indices],
            self.data.y[indices],
            config=self.policy.fit,
            on_epoch=report,
            thresholds=thresholds,
            anchors=self.anchors,
        )

    def scores(self, indices: list[int] | None = None) -> np.ndarray:
        x = self.data.x if indices is None else self.data.x[indices]
        return self.loaded.trainer.predict(x)


def fit_and_judge(
    loaded: "LoadedModel",
    data: "RetrainData",
    policy: "RetrainPolicy",
    *,
    parent_thresholds: np.ndarray,
    force: bool,
    progress: "Progress",
) -> "Candidate":
    """Fit the candidate to publish (left in `loaded.top`), judge it, measure what changed."""
    from tagloop.training.retrain import Candidate

    fitter = _Fitter(loaded, data, policy, progress, loaded.top.get_weights())
    parent_scores = fitter.scores()
    if data.anchor_x is not None and len(data.anchor_x):
        fitter.anchors = Anchors(data.anchor_x, loaded.trainer.predict(data.anchor_x))
    split = data.split
    judged: dict[int, np.ndarray] = {}  # out-of-sample scores by fold, first the held-out set's
    first_fit = None
    if split.basis == HELD_OUT:
        first_fit = fitter.fit(split.train, name="held-out test")
        judged[0] = fitter.scores(split.evaluate)
    thresholds, calibration = _calibrate(fitter, judged)
    vector = threshold_vector(thresholds)
    if first_fit is not None and split.train == data.publish_on and not thresholds:
        fit = first_fit  # the judged candidate is the one to publish: its weights are still loaded
    else:
        fit = fitter.fit(data.publish_on, name="final", thresholds=vector)
    final_scores = fitter.scores()
    judged_scores = judged[0] if split.basis == HELD_OUT else final_scores[split.evaluate]
    progress("evaluating", epoch=fit.epochs_run, epochs=policy.fit.epochs, loss=fit.final_loss)
    y_eval = data.y[split.evaluate]
    decision = _decide(data, policy, judged_scores, parent_scores[split.evaluate], force=force)
    return Candidate(
        decision=decision,
        fit=fit,
        samples=len(data.publish_on),
        metrics={
            "basis": split.basis,
            "candidate": evaluate(y_eval, judged_scores, threshold=vector),
            "active": evaluate(y_eval, parent_scores[split.evaluate], threshold=parent_thresholds),
        },
        evaluation=_evaluation(data, parent_scores, parent_thresholds, judged.get(0), final_scores, vector),
        changes=label_changes(
            data.y, parent_scores, final_scores, before_threshold=parent_thresholds, after_threshold=vector
        ),
        thresholds=thresholds,
        calibration=calibration,
    )


def _decide(
    data: "RetrainData", policy: "RetrainPolicy", judged: np.ndarray, parent: np.ndarray, *, force: bool
) -> GateDecision:
    """gate.py's rule on the judged candidate's and the parent's scores of the evaluated images."""
    split, y = data.split, data.y[data.split.evaluate]
    decision = decide(
        candidate_loss=mean_log_loss(y, judged),
        parent_loss=mean_log_loss(y, parent),
        split=split,
        min_holdout=policy.min_holdout,
        tolerance=policy.tolerance,
        force=force,
        noun=data.noun,
    )
    if split.basis == HELD_OUT and data.publish_on != split.train:
        learned = f"; the published version then learned all {len(data.publish_on)} {data.noun}"
        return GateDecision(decision.promoted, decision.reason + learned)
    return decision


def _calibrate(fitter: _Fitter, judged: dict[int, np.ndarray]) -> tuple[dict[str, float], dict[str, Any]]:
    """Per-class thresholds from out-of-sample scores of every fold, when a class has enough
    labels of both kinds; the folds' candidates are fitted only then."""
    data, policy = fitter.data, fitter.policy
    covered = sorted(i for fold in data.folds for i in fold)
    if not covered or not _any_class_calibratable(data.y[covered], policy):
        return {}, {}
    scores = np.zeros_like(data.y[covered], dtype=np.float32)
    position = {image: row for row, image in enumerate(covered)}
    for number, fold in enumerate(data.folds, start=1):
        if fold == data.split.evaluate and 0 in judged:
            fold_scores = judged[0]
        else:
            kept = set(fold)
            train = [i for i in data.publish_on if i not in kept]
            if not train:
                continue
            fitter.fit(train, name=f"calibration {number}/{len(data.folds)}")
            fold_scores = fitter.scores(fold)
        scores[[position[i] for i in fold]] = fold_scores
    return calibrate_thresholds(
        data.y[covered], scores, min_positives=policy.min_positives, min_negatives=policy.min_negatives
    )


def _any_class_calibratable(y: np.ndarray, policy: "RetrainPolicy") -> bool:
    positives = y.sum(axis=0)
    return bool(np.any((positives >= policy.min_positives) & (len(y) - positives >= policy.min_negatives)))


def _evaluation(
    data: "RetrainData",
    parent_scores: np.ndarray,
    parent_thresholds: np.ndarray,
    held_out_scores: np.ndarray | None,
    final_scores: np.ndarray,
    thresholds: np.ndarray,
) -> Evaluation:
    """The held-out set (judged candidate vs parent) and every image (published vs parent)."""
    held = data.split.evaluate if held_out_scores is not None else []
    held_out = EvaluationSet(images=data.split.held_out, rule=data.rule, digest=digest(data, held))
    if held_out_scores is not None:
        held_out.parent = evaluate(data.y[held], parent_scores[held], threshold=parent_thresholds)
        held_out.candidate = evaluate(data.y[held], held_out_scores, threshold=thresholds)
    every = list(range(len(data.keys)))
    corrections = EvaluationSet(
        images=len(every),
        rule=f"all {data.noun}",
        digest=digest(data, every),
        parent=evaluate(data.y, parent_scores, threshold=parent_thresholds),
        candidate=evaluate(data.y, final_scores, threshold=thresholds),
    )
    return Evaluation(held_out=held_out, corrections=corrections)


def digest(data: "RetrainData", indices: list[int]) -> str | None:
    """A name for a set of labelled images: equal digests, same images with the same labels."""
    if not indices:
        return None
    h = hashlib.sha256()
    for key, labels in sorted((data.keys[i], data.y[i].astype(np.uint8).tobytes()) for i in indices):
        h.update(key.encode() + b":" + labels)
    return h.hexdigest()[:16]
