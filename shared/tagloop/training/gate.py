"""The one promotion rule: a candidate goes live only if it is not worse than its parent.

Used by both ways of retraining, the worker's job (corrections) and `tagloop train` (a
labelled folder); tagloop.training.retrain calls it.

Held-out set. For corrections, an image is held out when int(sha256[:8], 16) %
holdout_modulus == 0 (1 in 5 by default): the membership depends only on the image's
content, so an image never moves between the sides from one retrain to the next, and
every version is judged on the held-out corrections that exist when it is trained. For a
labelled folder, the held-out set is its test (or val) split.

Rule. The measure is the mean binary cross-entropy (log-loss) of the 20 probabilities
against the labels, which sees every image and class, unlike AP (undefined for classes
without positives) or F1 (blind to confidence). mAP, per-class AP and F1 are recorded
for people to read.

- At least `min_holdout` held-out images (and at least one to train on): a candidate
  trained without them is promoted iff
  loss(candidate, held-out) <= loss(parent, held-out) * (1 + tolerance).
  For corrections the published version is then trained on every correction (the
  held-out ones too: a person expects each correction to stick); the reason says so.
- Fewer: there is too little unseen data to judge generalisation, and holding those few
  out would keep them from being learned. The candidate trains on everything and is
  judged on everything by the same inequality. Because the candidate starts from the
  parent's head and only adds to a frozen prior, this still refuses a candidate that
  training made worse (e.g. a diverged run).
- force=True promotes anyway; the reason records what the rule said.
"""

from dataclasses import dataclass

HELD_OUT = "held-out"
ALL = "all"


def hash_fold(image_id: str, *, modulus: int) -> int:
    """The fold of an image (0..modulus-1) by its sha256; fold 0 is the held-out set."""
    return int(image_id[:8], 16) % modulus


def is_held_out(image_id: str, *, modulus: int) -> bool:
    return hash_fold(image_id, modulus=modulus) == 0


def held_out_rule(modulus: int) -> str:
    return f"int(sha256[:8], 16) % {modulus} == 0"


@dataclass(frozen=True)
class Split:
    """Indices into the examples: what the judged candidate trains on, what judges it."""

    train: list[int]
    evaluate: list[int]
    basis: str
    held_out: int


def split_examples(image_ids: list[str], *, modulus: int, min_holdout: int) -> Split:
    """The gate's split of corrections by image hash (see the module docstring)."""
    held = [i for i, image_id in enumerate(image_ids) if is_held_out(image_id, modulus=modulus)]
    return split_indices(len(image_ids), held, min_holdout=min_holdout)


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


def decide(
    *,
    candidate_loss: float,
    parent_loss: float,
    split: Split,
    min_holdout: int,
    tolerance: float,
    force: bool,
    noun: str = "images",
) -> GateDecision:
    """Apply the rule of this module's docstring to the two models' log-loss.

    `noun` names what was labelled in the reason ("corrections", "images").
    """
    limit = parent_loss * (1.0 + tolerance)
    passed = candidate_loss <= limit
    where = (
        f"on {split.held_out} held-out {noun} it was not trained on"
        if split.basis == HELD_OUT
        else f"on all {len(split.evaluate)} {noun} (only {split.held_out} held out, fewer than "
        f"{min_holdout}: not enough unseen {noun} for a held-out test, so the candidate "
        "trained on all of them)"
    )
    verdict = "not worse than" if passed else "worse than"
    reason = (
        f"candidate log-loss {candidate_loss:.4f} is {verdict} the parent version's {parent_loss:.4f} "
        f"(limit {limit:.4f}, tolerance {tolerance:.0%}) {where}"
    )
    if force:
        return GateDecision(True, f"forced promotion; the gate said: {reason}")
    return GateDecision(passed, ("promoted: " if passed else "not promoted: ") + reason)
