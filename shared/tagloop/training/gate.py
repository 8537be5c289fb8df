"""The one promotion rule: a candidate goes live unless it is *significantly* worse than
its parent, or it changes what the parent said of photos nobody corrected.

Used by both ways of retraining, the worker's job (corrections) and `tagloop train` (a
labelled folder); tagloop.training.candidate calls it. numpy only.

Evaluation set. For corrections, an image is held out when int(sha256[:8], 16) %
holdout_modulus == 0 (1 in 5 by default): membership depends only on the image's
content, so an image never moves between the sides from one retrain to the next and
every version is judged on the held-out corrections that exist when it is trained. For a
labelled folder, it is the folder's test (or val) split. Beside it, the anchors: recent
uploads nobody corrected, with the parent's label sets as the reference ("don't break
what worked").

Rule (force=True promotes anyway; the reason records what the rule said):

- At least `min_paired` held-out images: a paired bootstrap over photos of the per-photo
  log-loss difference (candidate trained without them minus parent). Not promoted only
  when the whole `confidence` interval of the mean difference lies above 0: the candidate
  is then worse by more than chance on these photos explains. Measured on 7 photos, a 2 %
  log-loss tolerance rejected candidates that were right on every corrected photo.
- Fewer (or none held out): too few to tell noise from harm by loss, so it is not used to
  reject. The candidate is promoted when it reproduces at least as many label sets of the
  evaluated images as the parent (the held-out ones, scored by the candidate that did not
  train on them; with none held out, every image by the published one) and when at most
  `anchor_change_limit` of the anchor photos get another label set from the published
  candidate than from the parent, not counting those whose new label set is that of the
  correction they look most alike (uploads like a corrected photo may rightly follow it).
  The interval is still computed and recorded when there are two images or more. (With
  enough held-out photos the anchors are not a veto.)
"""

from dataclasses import dataclass

import numpy as np

from tagloop.version_meta import GateStats

HELD_OUT = "held-out"
ALL = "all"
EPSILON = 1e-7


def hash_fold(image_id: str, *, modulus: int) -> int:
    """The fold of an image (0..modulus-1) by its sha256; fold 0 is the held-out set."""
    return int(image_id[:8], 16) % modulus


def is_held_out(image_id: str, *, modulus: int) -> bool:
    return hash_fold(image_id, modulus=modulus) == 0


def held_out_rule(modulus: int) -> str:
    return f"int(sha256[:8], 16) % {modulus} == 0"


def hash_folds(image_ids: list[str], *, modulus: int) -> list[list[int]]:
    """Indices of the images of each fold 0..modulus-1 (fold 0: the held-out set)."""
    folds: list[list[int]] = [[] for _ in range(modulus)]
    for i, image_id in enumerate(image_ids):
        folds[hash_fold(image_id, modulus=modulus)].append(i)
    return folds


@dataclass(frozen=True)
class Split:
    """Indices into the examples: what the judged candidate trains on, what judges it."""

    train: list[int]
    evaluate: list[int]
    basis: str
    held_out: int


def split_indices(n: int, held: list[int], *, min_holdout: int) -> Split:
    if len(held) >= min_holdout and len(held) < n:
        kept = set(held)
        return Split(
            train=[i for i in range(n) if i not in kept], evaluate=held, basis=HELD_OUT, held_out=len(held)
        )
    everything = list(range(n))
    return Split(train=everything, evaluate=everything, basis=ALL, held_out=len(held))


@dataclass(frozen=True)
class GateDecision:
    promoted: bool
    reason: str
    stats: GateStats


@dataclass(frozen=True)
class Judged:
    """What the rule looks at: labels and both models' scores (and thresholds) of the
    evaluated images, and how many anchor photos changed their label set."""

    y: np.ndarray
    candidate: np.ndarray
    parent: np.ndarray
    candidate_thresholds: np.ndarray | float
    parent_thresholds: np.ndarray | float
    anchors: int = 0
    anchors_changed: int = 0
    """Anchors whose label set changed, less those that now carry the labels of the
    correction they look most alike (they followed it: see candidate.anchor_changes)."""
    anchors_followed: int = 0


@dataclass(frozen=True)
class GateRule:
    min_holdout: int
    min_paired: int
    confidence: float
    rounds: int
    anchor_change_limit: float


def per_photo_loss(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """(N,) mean binary cross-entropy of each image over the classes."""
    p = np.clip(scores.astype(np.float64), EPSILON, 1.0 - EPSILON)
    return -np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p), axis=1)


def paired_bootstrap(
    difference: np.ndarray, *, rounds: int, confidence: float, seed: int = 0
) -> tuple[float, float]:
    """The `confidence` percentile interval of the mean of `difference` (one value per
    photo), resampling photos with replacement; seeded, so a decision is reproducible."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(difference), size=(rounds, len(difference)))
    means = difference[draws].mean(axis=1)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def label_sets_right(y: np.ndarray, scores: np.ndarray, thresholds: np.ndarray | float) -> int:
    """How many images' thresholded label sets equal their labels."""
    return int(np.sum(np.all((scores >= thresholds) == (y > 0.5), axis=1)))


def decide(
    judged: Judged, *, split: Split, rule: GateRule, force: bool, noun: str = "images"
) -> GateDecision:
    """Apply the rule of this module's docstring; `noun` names what was labelled ("corrections")."""
    n = len(judged.y)
    diff = per_photo_loss(judged.y, judged.candidate) - per_photo_loss(judged.y, judged.parent)
    interval = (
        paired_bootstrap(diff, rounds=rule.rounds, confidence=rule.confidence) if n >= 2 else (None, None)
    )
    paired = split.basis == HELD_OUT and n >= rule.min_paired
    right = (
        label_sets_right(judged.y, judged.candidate, judged.candidate_thresholds),
        label_sets_right(judged.y, judged.parent, judged.parent_thresholds),
    )
    # Rounded to the nearest photo, and never under one: with a handful of anchors, one
    # photo's flip is noise, and a veto would throw the person's corrections away.
    anchor_limit = max(1, int(np.floor(rule.anchor_change_limit * judged.anchors + 0.5)))
    if paired:
        test, passed = "paired bootstrap", not (interval[0] is not None and interval[0] > 0)
        code = "not_worse" if passed else "significantly_worse"
    else:
        test, passed = "label sets reproduced", right[0] >= right[1]
        code = "reproduced" if passed else "not_reproduced"
    if not paired and passed and judged.anchors_changed > anchor_limit:
        passed, code = False, "anchors_changed"
    stats = GateStats(
        code=code,
        forced=force,
        test=test,
        basis=split.basis,
        photos=n,
        held_out=split.held_out,
        min_paired=rule.min_paired,
        loss_difference=round(float(diff.mean()), 6) if n else None,
        interval=[round(v, 6) for v in interval] if interval[0] is not None else None,
        confidence=rule.confidence,
        candidate_right=right[0],
        parent_right=right[1],
        anchors=judged.anchors,
        anchors_changed=judged.anchors_changed,
        anchors_followed=judged.anchors_followed,
        anchor_limit=anchor_limit,
        passed=passed,
    )
    reason = _reason(stats, noun=noun, min_holdout=rule.min_holdout)
    if force:
        return GateDecision(True, f"forced promotion; the gate said: {reason}", stats)
    return GateDecision(passed, ("promoted: " if passed else "not promoted: ") + reason, stats)


def _reason(s: GateStats, *, noun: str, min_holdout: int) -> str:
    where = (
        f"on {s.held_out} held-out {noun} it was not trained on"
        if s.basis == HELD_OUT
        else f"on all {s.photos} {noun} (only {s.held_out} held out, fewer than {min_holdout}: "
        f"not enough unseen {noun} for a held-out test, so the candidate trained on all of them)"
    )
    interval = (
        f", {s.confidence:.0%} interval {s.interval[0]:+.4f} to {s.interval[1]:+.4f}" if s.interval else ""
    )
    loss = f"log-loss difference {s.loss_difference:+.4f}{interval}" if s.loss_difference is not None else ""
    if s.test == "paired bootstrap":
        verdict = (
            "significantly worse than" if s.code == "significantly_worse" else "not significantly worse than"
        )
        body = f"the candidate is {verdict} the parent version {where} ({loss})"
    else:
        body = (
            f"the candidate gets {s.candidate_right} of {s.photos} label sets right against the parent "
            f"version's {s.parent_right} {where}; fewer than {s.min_paired} held out, so the log-loss "
            f"({loss}) is recorded but not used to reject"
        )
    anchors = (
        f"; {s.anchors_changed} of {s.anchors} photos nobody corrected changed their labels "
        f"(at most {s.anchor_limit} allowed; {s.anchors_followed} more took the labels of the "
        "corrected photo they look most alike)"
        if s.anchors
        else ""
    )
    return body + anchors
