"""A candidate top (Candidate) and its builder: fitted, then judged against its parent on
the same images.

Every fit starts from the parent's weights. With a held-out set, a first candidate is
fitted without it and judged on it (gate.py's rule). Each other fold of the data is then
scored by a candidate fitted without it: these out-of-fold scores give the per-class
thresholds and the label audit (tagloop.training.suspects). Last, the candidate to publish
is fitted once on `publish_on` with those thresholds (or the first one is kept, when it
was already trained on exactly that and no threshold changed).

A class the corrections cannot calibrate keeps its parent's threshold (version 1's were
fitted on its tuning photos), and every fit trains toward the thresholds it will be served
at: a retrain does not undo what calibration found before it.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tagloop.evaluation import evaluate, label_changes
from tagloop.training.fit import Anchors, FitResult
from tagloop.training.gate import HELD_OUT, GateDecision, GateRule, Judged, decide
from tagloop.training.policy import ProgressCallback, RetrainData, RetrainPolicy
from tagloop.training.thresholds import calibrate_thresholds, threshold_vector
from tagloop.version_meta import Calibration, Changes, Evaluation, EvaluationSet

if TYPE_CHECKING:
    from tagloop.training.loaded import LoadedModel


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
    out_of_fold: dict[str, list[float]]
    """image key -> its 20 scores by a candidate that did not train on it (the label audit's input)."""


@dataclass
class _Fitter:
    """Fits of the loaded top from the parent's weights, reporting progress."""

    loaded: "LoadedModel"
    data: RetrainData
    policy: RetrainPolicy
    progress: ProgressCallback
    parent_weights: list[np.ndarray]
    thresholds: np.ndarray
    """What the held-out and out-of-fold fits train toward: the parent's thresholds."""
    anchors: Anchors | None = None

    def fit(self, indices: list[int], *, name: str, thresholds: np.ndarray | None = None) -> FitResult:
        self.loaded.top.set_weights(self.parent_weights)
        self.progress("training", fit=name, epoch=0, epochs=self.policy.fit.epochs, loss=None)
        report: Callable[[int, int, float], None] = lambda epoch, epochs, loss: self.progress(  # noqa: E731
            "training", fit=name, epoch=epoch, epochs=epochs, loss=loss
        )
        return self.loaded.top_trainer.fit(
            self.data.x[indices],
            self.data.y[indices],
            config=self.policy.fit,
            on_epoch=report,
            thresholds=self.thresholds if thresholds is None else thresholds,
            anchors=self.anchors,
        )

    def scores(self, indices: list[int] | None = None) -> np.ndarray:
        x = self.data.x if indices is None else self.data.x[indices]
        return self.loaded.top_trainer.predict(x)


def fit_and_judge(
    loaded: "LoadedModel",
    data: RetrainData,
    policy: RetrainPolicy,
    *,
    parent_thresholds: dict[str, float],
    force: bool,
    progress: ProgressCallback,
) -> Candidate:
    """Fit the candidate to publish (left in `loaded.top`), judge it, measure what changed.
    `parent_thresholds`: the parent's own (its meta's), kept where nothing calibrates anew."""
    parent_vector = threshold_vector(parent_thresholds)
    fitter = _Fitter(loaded, data, policy, progress, loaded.top.get_weights(), parent_vector)
    parent_scores = fitter.scores()
    if data.anchor_x is not None and len(data.anchor_x):
        fitter.anchors = Anchors(data.anchor_x, loaded.top_trainer.predict(data.anchor_x))
    split = data.split
    held_out_scores, first_fit = None, None
    if split.basis == HELD_OUT:
        first_fit = fitter.fit(split.train, name="held-out test")
        held_out_scores = fitter.scores(split.evaluate)
    covered, oof = _out_of_fold(fitter, held_out_scores)
    calibrated, calibration = _calibrate(data.y[covered], oof, policy)
    thresholds = parent_thresholds | calibrated
    vector = threshold_vector(thresholds)
    if first_fit is not None and split.train == data.publish_on and not calibrated:
        fit = first_fit  # the judged candidate is the one to publish: its weights are still loaded
    else:
        fit = fitter.fit(data.publish_on, name="final", thresholds=vector)
    final_scores = fitter.scores()
    judged_scores = held_out_scores if held_out_scores is not None else final_scores[split.evaluate]
    progress("evaluating", epoch=fit.epochs_run, epochs=policy.fit.epochs, loss=fit.final_loss)
    y_eval = data.y[split.evaluate]
    changed = followed = 0
    if fitter.anchors is not None:
        after = loaded.top_trainer.predict(fitter.anchors.x)
        changed, followed = anchor_changes(
            fitter.anchors, after, data, parent_vector, vector, margin=policy.anchor_flip_margin
        )
    judged = Judged(
        y=y_eval,
        candidate=judged_scores,
        parent=parent_scores[split.evaluate],
        candidate_thresholds=vector,
        parent_thresholds=parent_vector,
        anchors=0 if fitter.anchors is None else len(fitter.anchors),
        anchors_changed=changed,
        anchors_followed=followed,
    )
    return Candidate(
        decision=_decide(data, policy, judged, force=force),
        fit=fit,
        samples=len(data.publish_on),
        metrics={
            "basis": split.basis,
            "candidate": evaluate(y_eval, judged_scores, threshold=vector),
            "active": evaluate(y_eval, parent_scores[split.evaluate], threshold=parent_vector),
        },
        evaluation=_evaluation(data, parent_scores, parent_vector, held_out_scores, final_scores, vector),
        changes=label_changes(
            data.y, parent_scores, final_scores, before_threshold=parent_vector, after_threshold=vector
        ),
        thresholds=thresholds,
        calibration=calibration,
        out_of_fold={
            data.keys[i]: [round(float(v), 5) for v in row] for i, row in zip(covered, oof, strict=True)
        },
    )


def changed_label_sets(
    before: np.ndarray,
    before_thresholds: np.ndarray,
    after: np.ndarray,
    thresholds: np.ndarray,
    *,
    margin: float = 0.0,
) -> np.ndarray:
    """Per photo (rows of the scores): does its label set change, a label counting as flipped
    only when its new score is at least `margin` past the threshold (a score that sat on a
    threshold flips either way on noise)?"""
    flipped = ((before >= before_thresholds) != (after >= thresholds)) & (
        np.abs(after - thresholds) >= margin
    )
    return np.any(flipped, axis=1)


def anchor_changes(
    anchors: Anchors,
    after: np.ndarray,
    data: RetrainData,
    before_thresholds: np.ndarray,
    thresholds: np.ndarray,
    *,
    margin: float = 0.0,
) -> tuple[int, int]:
    """(changed, followed): anchors whose label set the candidate changes (a label flipped
    and its new score at least `margin` past the threshold), and among them those whose new
    label set is that of the correction they look most alike (cosine of features). A photo
    like a corrected one may rightly follow its correction; the others are what a correction
    spilled onto."""
    new = after >= thresholds
    moved = np.flatnonzero(changed_label_sets(anchors.p, before_thresholds, after, thresholds, margin=margin))
    if not len(moved) or not len(data.x):
        return len(moved), 0
    a = anchors.x[moved] / np.maximum(np.linalg.norm(anchors.x[moved], axis=1, keepdims=True), 1e-12)
    c = data.x / np.maximum(np.linalg.norm(data.x, axis=1, keepdims=True), 1e-12)
    nearest = np.argmax(a @ c.T, axis=1)
    followed = int(np.sum(np.all(new[moved] == (data.y[nearest] > 0.5), axis=1)))
    return len(moved) - followed, followed


def _decide(data: RetrainData, policy: RetrainPolicy, judged: Judged, *, force: bool) -> GateDecision:
    """gate.py's rule on the judged candidate's and the parent's scores of the evaluated images."""
    rule = GateRule(
        min_holdout=policy.min_holdout,
        min_paired=policy.min_paired,
        confidence=policy.confidence,
        rounds=policy.bootstrap_rounds,
        anchor_change_limit=policy.anchor_change_limit,
    )
    decision = decide(judged, split=data.split, rule=rule, force=force, noun=data.noun)
    if data.split.basis == HELD_OUT and data.publish_on != data.split.train:
        learned = f"; the published version then learned all {len(data.publish_on)} {data.noun}"
        return GateDecision(decision.promoted, decision.reason + learned, decision.stats)
    return decision


def _out_of_fold(fitter: _Fitter, held_out_scores: np.ndarray | None) -> tuple[list[int], np.ndarray]:
    """(images, their scores) for every image of a fold, each scored by a candidate fitted
    without its fold; the held-out fold reuses the judged candidate's scores."""
    data = fitter.data
    covered = sorted(i for fold in data.folds for i in fold)
    scores = np.zeros((len(covered), data.y.shape[1]), dtype=np.float32)
    position = {image: row for row, image in enumerate(covered)}
    for number, fold in enumerate(data.folds, start=1):
        if fold == data.split.evaluate and held_out_scores is not None:
            fold_scores = held_out_scores
        else:
            kept = set(fold)
            train = [i for i in data.publish_on if i not in kept]
            if train:
                fitter.fit(train, name=f"out-of-fold {number}/{len(data.folds)}")
            else:  # nothing else to learn from: the parent's scores
                fitter.loaded.top.set_weights(fitter.parent_weights)
            fold_scores = fitter.scores(fold)
        scores[[position[i] for i in fold]] = fold_scores
    return covered, scores


def _calibrate(
    y: np.ndarray, scores: np.ndarray, policy: RetrainPolicy
) -> tuple[dict[str, float], dict[str, Any]]:
    """Per-class thresholds from out-of-fold scores, for the classes with enough labels of both kinds."""
    if not len(y) or not _any_class_calibratable(y, policy):
        return {}, {}
    return calibrate_thresholds(
        y, scores, min_positives=policy.min_positives, min_negatives=policy.min_negatives
    )


def _any_class_calibratable(y: np.ndarray, policy: RetrainPolicy) -> bool:
    positives = y.sum(axis=0)
    return bool(np.any((positives >= policy.min_positives) & (len(y) - positives >= policy.min_negatives)))


def _evaluation(
    data: RetrainData,
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


def digest(data: RetrainData, indices: list[int]) -> str | None:
    """A name for a set of labelled images: equal digests, same images with the same labels."""
    if not indices:
        return None
    h = hashlib.sha256()
    for key, labels in sorted((data.keys[i], data.y[i].astype(np.uint8).tobytes()) for i in indices):
        h.update(key.encode() + b":" + labels)
    return h.hexdigest()[:16]
