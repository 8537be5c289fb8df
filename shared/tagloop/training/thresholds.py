"""Per-class decision thresholds, calibrated on out-of-sample scores of labelled images.

A class gets its own threshold once it has enough labelled images on both sides
(`min_positives` and `min_negatives`): the threshold that maximises the class's F1 on
scores of images the scoring model was not trained on (held-out corrections). Among
equally good thresholds the one nearest 0.5 wins, so a class whose F1 at 0.5 is already
the best keeps 0.5. Classes without enough labels use 0.5 (version_meta.DEFAULT_THRESHOLD).

A class's own best threshold is noisy when it has few positives (with three, one photo
moves it anywhere), so it is shrunk toward the global threshold, the one that maximises
F1 over every class's decisions at once: with p positives and a strength k the threshold
is (p * own + k * global) / (p + k), so a class with k positives lands halfway. Version 1's
thresholds (tagloop.model.v1_thresholds) choose k by cross-validation on the evaluation
set's tuning part. numpy only.
"""

import numpy as np

from tagloop.classes import VOC_CLASSES
from tagloop.version_meta import DEFAULT_THRESHOLD, Calibration

SHRINK_STRENGTH = 10.0
"""Calibration from corrections: a class with 10 positives lands halfway to the global threshold."""

THRESHOLD_RANGE = (0.05, 0.95)
"""Calibrated thresholds stay inside this range: a threshold at 0 or 1 would say every
image has (or lacks) the class, whatever the model's score."""


def calibrate_thresholds(
    y: np.ndarray,
    scores: np.ndarray,
    *,
    min_positives: int,
    min_negatives: int,
    strength: float = SHRINK_STRENGTH,
) -> tuple[dict[str, float], dict[str, Calibration]]:
    """({class: threshold}, {class: why}) for the classes with enough labels of both kinds,
    each class's best threshold shrunk toward the global one by `strength` (0: not at all)."""
    thresholds: dict[str, float] = {}
    calibration: dict[str, Calibration] = {}
    toward = global_threshold(y, scores)
    for c, name in enumerate(VOC_CLASSES):
        truth = y[:, c] > 0.5
        positives, negatives = int(truth.sum()), int((~truth).sum())
        if positives < min_positives or negatives < min_negatives:
            continue
        own, _ = best_f1_threshold(truth, scores[:, c])
        threshold = shrink(own, toward, positives=positives, strength=strength)
        thresholds[name] = threshold
        calibration[name] = Calibration(
            positives=positives,
            negatives=negatives,
            f1_at_default=round(f1_at(truth, scores[:, c], DEFAULT_THRESHOLD), 4),
            f1=round(f1_at(truth, scores[:, c], threshold), 4),
        )
    return thresholds, calibration


def global_threshold(y: np.ndarray, scores: np.ndarray) -> float:
    """The one threshold that maximises F1 over every image x class decision."""
    return best_f1_threshold(np.asarray(y).ravel() > 0.5, np.asarray(scores).ravel())[0]


def shrink(own: float, toward: float, *, positives: int, strength: float) -> float:
    """(positives * own + strength * toward) / (positives + strength), rounded like the thresholds."""
    if positives + strength <= 0:
        return own
    return round((positives * own + strength * toward) / (positives + strength), 4)


def cross_validated_strength(
    y: np.ndarray, scores: np.ndarray, strengths: tuple[float, ...], *, folds: int = 5, seed: int = 0
) -> tuple[float, dict[float, float]]:
    """(the strength with the best out-of-fold micro F1, {strength: out-of-fold F1}).

    Each fold's decisions are taken at thresholds calibrated (every class with a positive)
    on the other folds only; ties go to the larger strength, the more cautious one.
    """
    order = np.random.default_rng(seed).permutation(len(y))
    fold_of = np.empty(len(y), int)
    fold_of[order] = np.arange(len(y)) % folds
    results: dict[float, float] = {}
    for strength in strengths:
        decided = np.zeros(y.shape, bool)
        for k in range(folds):
            fit, out = fold_of != k, fold_of == k
            thresholds, _ = calibrate_thresholds(
                y[fit], scores[fit], min_positives=1, min_negatives=1, strength=strength
            )
            decided[out] = scores[out] >= threshold_vector(
                thresholds, default=global_threshold(y[fit], scores[fit])
            )
        truth = y > 0.5
        tp = float(np.sum(truth & decided))
        results[strength] = 2 * tp / max(float(decided.sum() + truth.sum()), 1.0)
    best = max(results.values())
    return max(s for s, f1 in results.items() if f1 >= best - 1e-12), results


def f1_at(truth: np.ndarray, scores: np.ndarray, threshold: float) -> float:
    predicted = scores >= threshold
    tp = float(np.sum(truth & predicted))
    denominator = float(np.sum(predicted) + np.sum(truth))
    return 2 * tp / denominator if denominator else 1.0


def best_f1_threshold(truth: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) maximising F1 of `scores >= threshold`; O(n log n).

    Candidates lie halfway between consecutive distinct scores (and 0.5), so a small
    shift of a score does not flip the decision on the calibration images.
    """
    low, high = THRESHOLD_RANGE
    candidates = np.unique(np.concatenate([_midpoints(scores), [DEFAULT_THRESHOLD]]))
    candidates = candidates[(candidates >= low) & (candidates <= high)]
    order = np.sort(scores)
    positives_sorted = np.sort(scores[truth])
    # Images at or above each candidate, and positives among them, by binary search.
    predicted = len(order) - np.searchsorted(order, candidates, side="left")
    tp = len(positives_sorted) - np.searchsorted(positives_sorted, candidates, side="left")
    f1 = 2.0 * tp / np.maximum(predicted + int(truth.sum()), 1)
    best = np.flatnonzero(f1 >= f1.max() - 1e-12)
    pick = best[np.argmin(np.abs(candidates[best] - DEFAULT_THRESHOLD))]
    return round(float(candidates[pick]), 4), float(f1[pick])


def _midpoints(scores: np.ndarray) -> np.ndarray:
    distinct = np.unique(scores.astype(np.float64))
    return (distinct[:-1] + distinct[1:]) / 2.0 if len(distinct) > 1 else distinct


def threshold_vector(thresholds: dict[str, float], default: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """(20,) thresholds in classes.json order, `default` where none was calibrated."""
    return np.array([thresholds.get(name, default) for name in VOC_CLASSES], np.float32)
