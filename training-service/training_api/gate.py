"""The promotion gate: a retrained candidate goes live only if it is not worse than the active one.

Split. An image is *held out* when int(sha256[:8], 16) % holdout_modulus == 0 (1 in 5
by default). The split depends only on the image's content, so an image never moves
between the sides from one retrain to the next.

Rule. The measure is the mean binary cross-entropy (log-loss) of the 20 probabilities
against the corrected labels, which sees every image and class, unlike AP (undefined for
classes without positives) or F1 (blind to confidence). mAP, per-class AP and F1 at 0.5
are recorded for both models, for people to read.

- At least `min_holdout` held-out corrections (and at least one to train on): the
  candidate trains on the other corrections only, and is promoted iff
  loss(candidate, held-out) <= loss(active, held-out) * (1 + gate_tolerance).
- Fewer: there is too little unseen data to judge generalisation, and holding those few
  out would keep them from being learned. The candidate trains on every correction and
  is judged on all of them by the same inequality; the reason says so. Because the
  candidate starts from the active head and only adds to a frozen prior, this rule
  still refuses a candidate that training made worse (e.g. a diverged run).
- force=True promotes anyway; the reason records what the rule said.
"""

from dataclasses import dataclass
from typing import Any

HELD_OUT = "held-out"
ALL = "all"


def is_held_out(image_id: str, *, modulus: int) -> bool:
    return int(image_id[:8], 16) % modulus == 0


@dataclass(frozen=True)
class Split:
    train: list[int]
    evaluate: list[int]
    basis: str
    held_out: int


def split_examples(image_ids: list[str], *, modulus: int, min_holdout: int) -> Split:
    """Indices to train on and to evaluate on, and the basis of the evaluation."""
    held = [i for i, image_id in enumerate(image_ids) if is_held_out(image_id, modulus=modulus)]
    if len(held) >= min_holdout and len(held) < len(image_ids):
        rest = [i for i in range(len(image_ids)) if i not in set(held)]
        return Split(train=rest, evaluate=held, basis=HELD_OUT, held_out=len(held))
    everything = list(range(len(image_ids)))
    return Split(train=everything, evaluate=everything, basis=ALL, held_out=len(held))


@dataclass(frozen=True)
class GateDecision:
    promoted: bool
    reason: str


def decide(
    *,
    candidate: dict[str, Any],
    active: dict[str, Any],
    split: Split,
    min_holdout: int,
    tolerance: float,
    force: bool,
) -> GateDecision:
    """Apply the rule of this module's docstring to the two models' metrics."""
    cand, act = candidate["loss"], active["loss"]
    limit = act * (1.0 + tolerance)
    passed = cand <= limit
    where = (
        f"on {split.held_out} held-out corrections"
        if split.basis == HELD_OUT
        else f"on all {candidate['samples']} corrections (only {split.held_out} held out, fewer than "
        f"{min_holdout}: not enough unseen corrections for a held-out test, so the candidate "
        "trained on all of them)"
    )
    verdict = "not worse than" if passed else "worse than"
    reason = (
        f"candidate log-loss {cand:.4f} is {verdict} the active version's {act:.4f} "
        f"(limit {limit:.4f}, tolerance {tolerance:.0%}) {where}"
    )
    if force:
        return GateDecision(True, f"forced promotion; the gate said: {reason}")
    return GateDecision(passed, ("promoted: " if passed else "not promoted: ") + reason)
