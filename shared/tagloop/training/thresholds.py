"""Per-class decision thresholds, calibrated on out-of-sample scores of labelled images.

A class gets its own threshold once it has enough labelled images on both sides
(`min_positives` and `min_negatives`): the threshold that maximises the class's F1 on
scores of images the scoring model was not trained on (held-out corrections). Among
equally good thresholds the one nearest 0.5 wins, so a class whose F1 at 0.5 is already
the best keeps 0.5. Classes without enough labels use 0.5 (version_meta.DEFAULT_THRESHOLD).
numpy only.
"""

import numpy as np

from tagloop.classes import VOC_CLASSES
from tagloop.version_meta import DEFAULT_THRESHOLD, Calibration

THRESHOLD_RANGE = (0.05, 0.95)
"""Calibrated thresholds stay inside this range: a threshold at 0 or 1 would say every
image has (or lacks) the class, whatever the model's score."""


def calibrate_thresholds(
    y: np.ndarray, scores: np.ndarray, *, min_positives: int, min_negatives: int
) -> tuple[dict[str, float], dict[str, Calibration]]:
    """({class: threshold}, {class: why}) for the classes with enough labels of both kinds."""
    thresholds: dict[str, float] = {}
    calibration: dict[str, Calibration] = {}
    for c, name in enumerate(VOC_CLASSES):
        truth = y[:, c] > 0.5
        positives, negatives = int(truth.sum()), int((~truth).sum())
        if positives < min_positives or negatives < min_negatives:
            continue
        threshold, f1 = best_f1_threshold(truth, scores[:, c])
        thresholds[name] = threshold
        calibration[name] = Calibration(
            positives=positives,
            negatives=negatives,
            f1_at_default=round(f1_at(truth, scores[:, c], DEFAULT_THRESHOLD), 4),
            f1=round(f1, 4),
        )
    return thresholds, calibration


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


def threshold_vector(thresholds: dict[str, float]) -> np.ndarray:
    """(20,) thresholds in classes.json order, DEFAULT_THRESHOLD where none was calibrated."""
    return np.array([thresholds.get(name, DEFAULT_THRESHOLD) for name in VOC_CLASSES], np.float32)
