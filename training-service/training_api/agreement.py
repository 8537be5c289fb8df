"""Who said what: each annotator's latest labels per photo, their agreement (Cohen's kappa),
the photos they disagree on, an admin's resolution, and the labels a retrain uses.

An annotator's labels of a photo are their latest correction of it; an admin's resolution
is a correction with source "resolved", and the latest one wins over everyone's. Corrections
without a name (single-user mode, the admin token) count as one more annotator, so a
single user's corrections train exactly as before the users.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session
from tagloop.classes import VOC_CLASSES
from tagloop.uploads import UnknownImageError, UploadStore

from training_api.corrections import normalize_labels
from training_api.db import Correction

RESOLVED = "resolved"
UNNAMED = "(unnamed)"
"""The key of corrections made without a user (single-user mode, the admin token)."""


@dataclass
class PhotoLabels:
    filename: str | None = None
    by_annotator: dict[str, frozenset[str]] = field(default_factory=dict)
    resolved: frozenset[str] | None = None
    latest: int = 0
    """The id of its newest correction (a version trained after it learned its labels)."""

    @property
    def disagreed(self) -> bool:
        return self.resolved is None and len(set(self.by_annotator.values())) > 1


def photo_labels(db: Session) -> dict[str, PhotoLabels]:
    """Every corrected photo: each annotator's latest labels and the latest resolution."""
    query = select(
        Correction.id,
        Correction.image_id,
        Correction.filename,
        Correction.annotator,
        Correction.source,
        Correction.corrected_labels,
    ).order_by(Correction.id)
    photos: dict[str, PhotoLabels] = defaultdict(PhotoLabels)
    for row_id, image_id, filename, annotator, source, labels in db.execute(query):
        photo = photos[image_id]
        photo.filename = filename or photo.filename
        photo.latest = row_id
        if source == RESOLVED:
            photo.resolved = frozenset(labels)
        else:
            photo.by_annotator[annotator or UNNAMED] = frozenset(labels)
    return photos


class Agreed(NamedTuple):
    image_id: str
    labels: list[str]
    correction_id: int
    """Its newest correction's id (tagloop.training.scoreboard's `seen`)."""


def agreed_labels(db: Session) -> tuple[list[Agreed], int]:
    """The labels a retrain trains on, oldest photo first, and how many photos were left
    out: a resolution if there is one, else the labels every annotator gave; photos whose
    annotators disagree, unresolved, are left out."""
    examples, left_out = [], 0
    for image_id, photo in photo_labels(db).items():
        if photo.resolved is not None:
            chosen = photo.resolved
        elif photo.disagreed:
            left_out += 1
            continue
        else:
            chosen = next(iter(photo.by_annotator.values()))
        examples.append(Agreed(image_id, _ordered(chosen), photo.latest))
    return examples, left_out


def disagreements(db: Session) -> list[tuple[str, str | None, dict[str, list[str]]]]:
    """(image_id, filename, {annotator: labels}) of every unresolved disagreement."""
    return [
        (
            image_id,
            photo.filename,
            {name: _ordered(labels) for name, labels in sorted(photo.by_annotator.items())},
        )
        for image_id, photo in photo_labels(db).items()
        if photo.disagreed
    ]


def agreement(db: Session) -> tuple[list[dict[str, object]], int]:
    """Per pair of named annotators: the photos both labelled, Cohen's kappa over all their
    (photo, class) decisions and per class (None where it is undefined: both gave one answer
    throughout); and the number of unresolved disagreements."""
    photos = photo_labels(db)
    names = sorted({n for p in photos.values() for n in p.by_annotator if n != UNNAMED})
    pairs = []
    for a, b in combinations(names, 2):
        both = [
            (p.by_annotator[a], p.by_annotator[b])
            for p in photos.values()
            if a in p.by_annotator and b in p.by_annotator
        ]
        if not both:
            continue
        per_class = {c: kappa([(c in x, c in y) for x, y in both]) for c in VOC_CLASSES}
        overall = kappa([(c in x, c in y) for x, y in both for c in VOC_CLASSES])
        pairs.append({"a": a, "b": b, "photos": len(both), "kappa": overall, "per_class": per_class})
    return pairs, sum(p.disagreed for p in photos.values())


def kappa(decisions: list[tuple[bool, bool]]) -> float | None:
    """Cohen's kappa of two raters' yes/no decisions; None when chance agreement is total."""
    n = len(decisions)
    if n == 0:
        return None
    observed = sum(x == y for x, y in decisions) / n
    p_a = sum(x for x, _ in decisions) / n
    p_b = sum(y for _, y in decisions) / n
    chance = p_a * p_b + (1 - p_a) * (1 - p_b)
    if chance >= 1.0:
        return None
    return round((observed - chance) / (1 - chance), 6)


def resolve(
    db: Session, uploads: UploadStore, image_id: str, labels: list[str], admin: str | None
) -> Correction:
    """An admin's decision on a photo's labels: it wins over every annotator's."""
    if not uploads.exists(image_id):
        raise UnknownImageError(f"no uploaded image has id {image_id}")
    last = select(Correction.filename).where(Correction.image_id == image_id).order_by(Correction.id.desc())
    filename = db.scalar(last.limit(1))
    row = Correction(
        image_id=image_id,
        filename=filename,
        corrected_labels=normalize_labels(labels),
        source=RESOLVED,
        annotator=admin,
    )
    db.add(row)
    db.commit()
    return row


def _ordered(labels: frozenset[str]) -> list[str]:
    return [name for name in VOC_CLASSES if name in labels]
