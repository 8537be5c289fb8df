"""Multi-label evaluation in numpy (no TensorFlow): AP per class, mAP, F1, mean loss.

Conventions:
- AP of a class is the mean of the precision at the rank of each positive (the
  "uninterpolated" AP of scikit-learn's average_precision_score). A class with no
  positive example has no AP (None) and is left out of the mAP.
- F1 is computed at a threshold: micro (over every image x class decision) and macro (the
  mean over classes that have a positive or a predicted positive).
- `loss` is the mean binary cross-entropy over every image x class, the gate's measure.
"""

from typing import Any

import numpy as np

from tagloop.classes import VOC_CLASSES
from tagloop.version_meta import Changes, ClassChange

Threshold = float | np.ndarray
"""One threshold for every class, or (20,) thresholds in classes.json order."""

EPSILON = 1e-7
"""Clip probabilities away from 0 and 1 so that the log-loss stays finite."""


def average_precision(y_true: np.ndarray, scores: np.ndarray) -> float | None:
    """AP of one class: y_true (N,) in {0, 1}, scores (N,); None without positives."""
    positives = int(np.sum(y_true))
    if positives == 0:
        return None
    order = np.argsort(-scores, kind="stable")
    hits = y_true[order] > 0.5
    precision_at_rank = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(np.sum(precision_at_rank[hits]) / positives)


def per_class_ap(y_true: np.ndarray, scores: np.ndarray) -> dict[str, float | None]:
    """{class name: AP or None} for the 20 classes."""
    return {name: average_precision(y_true[:, i], scores[:, i]) for i, name in enumerate(VOC_CLASSES)}


def mean_ap(aps: dict[str, float | None]) -> float | None:
    values = [ap for ap in aps.values() if ap is not None]
    return float(np.mean(values)) if values else None


def f1_scores(y_true: np.ndarray, scores: np.ndarray, *, threshold: Threshold = 0.5) -> dict[str, Any]:
    """Micro, macro and per-class F1 of the decisions `scores >= threshold` (a class that
    is neither present nor predicted anywhere has no F1: None)."""
    truth = y_true > 0.5
    predicted = scores >= threshold
    tp = np.sum(truth & predicted, axis=0)
    fp = np.sum(~truth & predicted, axis=0)
    fn = np.sum(truth & ~predicted, axis=0)
    micro = _f1(tp.sum(), fp.sum(), fn.sum())
    present = (tp + fp + fn) > 0
    macro = (
        float(np.mean([_f1(t, p, n) for t, p, n in zip(tp[present], fp[present], fn[present], strict=True)]))
        if present.any()
        else 1.0
    )
    per_class = {name: _f1(tp[i], fp[i], fn[i]) if present[i] else None for i, name in enumerate(VOC_CLASSES)}
    return {"f1_micro": micro, "f1_macro": macro, "per_class_f1": per_class}


def _f1(tp: float, fp: float, fn: float) -> float:
    denominator = 2 * tp + fp + fn
    return float(2 * tp / denominator) if denominator else 1.0


def mean_log_loss(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Mean binary cross-entropy over every image x class."""
    p = np.clip(scores.astype(np.float64), EPSILON, 1.0 - EPSILON)
    return float(-np.mean(y_true * np.log(p) + (1.0 - y_true) * np.log(1.0 - p)))


def exact_match(y_true: np.ndarray, scores: np.ndarray, *, threshold: Threshold = 0.5) -> float:
    """Share of images whose thresholded label set equals their true label set."""
    if len(y_true) == 0:
        return 1.0
    return float(np.mean(np.all((scores >= threshold) == (y_true > 0.5), axis=1)))


def evaluate(y_true: np.ndarray, scores: np.ndarray, *, threshold: Threshold = 0.5) -> dict[str, Any]:
    """Every metric at once, JSON-ready: mAP, per-class AP, F1 at `threshold`, loss.

    With per-class thresholds, "threshold" is recorded as their list.
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    aps = per_class_ap(y_true, scores)
    return {
        "samples": len(y_true),
        "threshold": _json_threshold(threshold),
        "mAP": mean_ap(aps),
        "per_class_ap": aps,
        **f1_scores(y_true, scores, threshold=threshold),
        "exact_match": exact_match(y_true, scores, threshold=threshold),
        "loss": mean_log_loss(y_true, scores) if len(y_true) else None,
    }


def _json_threshold(threshold: Threshold) -> float | list[float]:
    if isinstance(threshold, np.ndarray):
        if np.all(threshold == threshold.flat[0]):
            return float(threshold.flat[0])  # one threshold for every class
        return [round(float(t), 4) for t in threshold]
    return float(threshold)


def format_report(metrics: dict[str, Any]) -> str:
    """A console table: mAP, F1, then AP per class."""

    def num(x: float | None) -> str:
        return "  n/a" if x is None else f"{x:.3f}"

    at = "per-class thresholds" if isinstance(metrics["threshold"], list) else f"{metrics['threshold']:g}"
    lines = [
        f"samples: {metrics['samples']}   mAP: {num(metrics['mAP'])}   "
        f"F1@{at} micro: {num(metrics['f1_micro'])} macro: {num(metrics['f1_macro'])}",
        "class            AP     F1",
    ]
    f1 = metrics.get("per_class_f1", {})
    lines += [f"{name:<15} {num(ap)}  {num(f1.get(name))}" for name, ap in metrics["per_class_ap"].items()]
    return "\n".join(lines)


def label_changes(
    y_true: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    *,
    before_threshold: Threshold = 0.5,
    after_threshold: Threshold = 0.5,
) -> Changes:
    """Per image, is its label set right before and after (each at its own thresholds)?

    fixed: wrong before, right after; broke: right before, wrong after; and per class, F1
    and AP before -> after.
    """
    truth = y_true > 0.5
    right_before = np.all((before >= before_threshold) == truth, axis=1)
    right_after = np.all((after >= after_threshold) == truth, axis=1)
    f1_before = f1_scores(y_true, before, threshold=before_threshold)["per_class_f1"]
    f1_after = f1_scores(y_true, after, threshold=after_threshold)["per_class_f1"]
    ap_before, ap_after = per_class_ap(y_true, before), per_class_ap(y_true, after)
    per_class = {
        name: ClassChange(
            positives=int(truth[:, i].sum()),
            f1_before=f1_before[name],
            f1_after=f1_after[name],
            ap_before=ap_before[name],
            ap_after=ap_after[name],
        )
        for i, name in enumerate(VOC_CLASSES)
        if f1_before[name] is not None or f1_after[name] is not None
    }
    return Changes(
        photos=len(truth),
        fixed=int(np.sum(~right_before & right_after)),
        broke=int(np.sum(right_before & ~right_after)),
        unchanged_right=int(np.sum(right_before & right_after)),
        unchanged_wrong=int(np.sum(~right_before & ~right_after)),
        per_class=per_class,
    )


def decisions(y_true: np.ndarray, scores: np.ndarray, *, threshold: Threshold = 0.5) -> dict[str, Any]:
    """Micro precision and recall, keys per photo (the wrong labels to toggle, plus the key
    that saves), and per class: positives, precision, recall at `threshold` (precision None
    where nothing was predicted) and the toggles per photo the class costs."""
    truth = np.asarray(y_true) > 0.5
    predicted = np.asarray(scores) >= threshold
    tp, fp, fn = (np.sum(a, axis=0) for a in (truth & predicted, ~truth & predicted, truth & ~predicted))

    def ratio(hits: float, total: float) -> float | None:
        return float(hits / total) if total else None

    return {
        "precision": ratio(tp.sum(), tp.sum() + fp.sum()),
        "recall": ratio(tp.sum(), tp.sum() + fn.sum()),
        "keys_per_photo": float((truth != predicted).sum(axis=1).mean() + 1) if len(truth) else 0.0,
        "per_class_positives": {name: int(truth[:, i].sum()) for i, name in enumerate(VOC_CLASSES)},
        "per_class_precision": {name: ratio(tp[i], tp[i] + fp[i]) for i, name in enumerate(VOC_CLASSES)},
        "per_class_recall": {name: ratio(tp[i], tp[i] + fn[i]) for i, name in enumerate(VOC_CLASSES)},
        "per_class_keys": {name: (fp[i] + fn[i]) / max(len(truth), 1) for i, name in enumerate(VOC_CLASSES)},
    }


def format_parts(parts: dict[str, dict[str, Any]]) -> str:
    """Side-by-side figures of several parts of a set (e.g. held-out, then tuning): the
    totals, then per class the positives, AP, precision, recall, F1 and keys per photo (the
    toggles the class costs) of each part."""

    def num(x: float | None) -> str:
        return "  n/a" if x is None else f"{x:.3f}"

    names = list(parts)
    lines = []
    for name, m in parts.items():
        lines.append(
            f"{name:<9} photos {m['samples']:>3}  mAP {num(m['mAP'])}  P {num(m['precision'])}  "
            f"R {num(m['recall'])}  F1 {num(m['f1_micro'])}  keys/photo {m['keys_per_photo']:.2f}"
        )
    head = f"| {'pos':>3} {'AP':>5} {'P':>5} {'R':>5} {'F1':>5} {'keys':>5} "
    lines.append(f"{'class':<15}" + "".join(f"| {n:<{len(head) - 2}}" for n in names))
    lines.append(" " * 15 + head * len(names))
    for c in VOC_CLASSES:
        cells = []
        for m in parts.values():
            figures = (m[f"per_class_{k}"][c] for k in ("ap", "precision", "recall", "f1", "keys"))
            cells.append(f"| {m['per_class_positives'][c]:>3} " + "".join(f"{num(x)} " for x in figures))
        lines.append(f"{c:<15}" + "".join(cells))
    return "\n".join(lines)
