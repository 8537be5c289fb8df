"""The evaluation set: real photos from pinned packages, hand-labelled, split once into a
*tuning* part (thresholds and settings may be chosen on it) and a *held-out* part (only
ever measured). The labels, sources and split live in tests/fixtures/evalset.csv; the photos
themselves are fetched into .cache/evalset by tests/fixtures/make_eval_set.py.

The split is a pure function of the photos' file names, labels and seeds (`dealt_splits`), so
it cannot drift: a test recomputes it and compares it with the CSV's column. Each row names
the seed of the deal that gave it its split: photos added later are dealt among themselves
with a new seed, so no photo of an earlier deal changes part. Fitting code takes its rows
through `tuning_only`, which refuses a held-out row.

A label written `car?` is *arguable* (VOC's "difficult" objects): the photo counts neither as a
positive nor as a negative of that class (`without_arguable`), so a photo with one arguable
object can still measure its clear ones.
"""

import csv
import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tagloop.classes import CLASS_INDEX
from tagloop.errors import TagloopError

TUNING, HELDOUT = "tuning", "heldout"
SPLIT_SEED = "tagloop-evalset-4"
"""The seed of the latest deal, the one photos added now are dealt with (each row of the CSV
names its own). A deal is never redone once figures have been reported on it. (Seed 1 was the
59-photo first set, dealt in halves; seed 2 the 102-photo second set, three photos of five to
held-out; seed 3 the 150-photo third set, each time the whole set dealt once more; seed 4 the
photos added to those 150, dealt among themselves, so the 150 keep their parts.)"""
DEAL = (HELDOUT, TUNING, HELDOUT, TUNING, HELDOUT)
"""The order in which the photos are dealt: 3 of 5 are held out, so the held-out part is the
larger (its figures are the ones a user can expect)."""

COLUMNS = ("filename", "labels", "split", "seed", "package", "version", "path", "sha256", "licence")


class EvalSetError(TagloopError):
    """The evaluation set's CSV is malformed, or a fitting step was handed held-out photos."""


@dataclass(frozen=True)
class EvalPhoto:
    filename: str
    labels: tuple[str, ...]
    """The VOC classes clearly in the photo."""
    split: str
    seed: str
    """Of the deal that gave the photo its split (`dealt_splits`)."""
    package: str
    version: str
    path: str
    """The file's path inside the package (a .deb's data, or an npm tarball)."""
    sha256: str
    """Of the file as the package ships it, before it is shrunk into .cache/evalset."""
    licence: str
    arguable: tuple[str, ...] = ()
    """Classes in the photo that a careful person could argue about (`car?` in the CSV)."""


ARGUABLE = "?"


def read_evalset(csv_path: Path) -> list[EvalPhoto]:
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    photos = []
    for row in rows:
        written = [x for x in row["labels"].split(";") if x]
        labels = tuple(sorted(x for x in written if not x.endswith(ARGUABLE)))
        arguable = tuple(sorted(x.removesuffix(ARGUABLE) for x in written if x.endswith(ARGUABLE)))
        unknown = [x for x in labels + arguable if x not in CLASS_INDEX]
        if unknown or set(labels) & set(arguable) or row["split"] not in (TUNING, HELDOUT):
            raise EvalSetError(f"{csv_path}: {row['filename']}: labels {written} or split {row['split']!r}")
        photos.append(EvalPhoto(**{**row, "labels": labels, "arguable": arguable}))  # type: ignore[arg-type]
    names = Counter(p.filename for p in photos)
    twice = [name for name, n in names.items() if n > 1]
    if twice:  # each photo is saved under its name: a second would overwrite the first
        raise EvalSetError(f"{csv_path}: file names used twice: {', '.join(twice)}")
    return photos


def without_arguable(photos: list[EvalPhoto], scores: np.ndarray) -> np.ndarray:
    """The scores (rows: photos) with each arguable class's set below every other score. With
    its label 0, the pair is then a true negative at every threshold and ranks after every
    positive: it moves no AP, precision, recall, F1, key count or fitted threshold."""
    scores = np.array(scores, dtype=np.float64)
    for row, photo in enumerate(photos):
        for name in photo.arguable:
            scores[row, CLASS_INDEX[name]] = -1.0
    return scores


def dealt_splits(photos: list[EvalPhoto]) -> dict[str, str]:
    """{file name: tuning|heldout}: each deal's photos (those of one seed) split among
    themselves by `assign_splits`, so adding a deal moves no photo of an earlier one."""
    deals: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for p in photos:
        deals.setdefault(p.seed, []).append((p.filename, p.labels))
    return {name: split for seed, deal in deals.items() for name, split in assign_splits(deal, seed).items()}


def assign_splits(photos: list[tuple[str, tuple[str, ...]]], seed: str = SPLIT_SEED) -> dict[str, str]:
    """{file name: tuning|heldout}, 3 of 5 held-out, balanced by class.

    Each photo is filed under its rarest label (or "none"); the groups are walked from the
    smallest, each group in the order of a seeded hash of its file names, and the photos
    are dealt to the parts in the order of DEAL, one turn counter running over all the
    groups: each class has about 3 of 5 of its photos held out, and the rare classes'
    photos are dealt first, so they spread over both parts.
    """
    counts = Counter(label for _, labels in photos for label in labels)
    groups: dict[str, list[str]] = {}
    for name, labels in photos:
        key = min(labels, key=lambda x: (counts[x], x)) if labels else "none"
        groups.setdefault(key, []).append(name)
    splits: dict[str, str] = {}
    turn = 0
    for key in sorted(groups, key=lambda k: (len(groups[k]), k)):
        for name in sorted(groups[key], key=lambda name: _seeded(seed, name)):
            splits[name] = DEAL[turn % len(DEAL)]
            turn += 1
    return splits


def _seeded(seed: str, name: str) -> str:
    return hashlib.sha256(f"{seed}:{name}".encode()).hexdigest()


def of_split(photos: list[EvalPhoto], split: str) -> list[EvalPhoto]:
    return [p for p in photos if p.split == split]


def tuning_only(photos: list[EvalPhoto]) -> list[EvalPhoto]:
    """The photos unchanged, or EvalSetError if any is held-out: the gate of every fitting step."""
    held = [p.filename for p in photos if p.split != TUNING]
    if held:
        raise EvalSetError(f"held-out photos may not be fitted on: {', '.join(held[:5])}")
    return photos


def evaluate_parts(
    photos: list[EvalPhoto], images_dir: Path, onnx_file: Path, thresholds: np.ndarray | float
) -> dict[str, dict[str, Any]]:
    """{"held-out": figures, "tuning": figures} of one model at `thresholds` (the set's
    photos must be in images_dir: tests/fixtures/make_eval_set.py)."""
    from tagloop.evaluation import decisions, evaluate
    from tagloop.training.offline import onnx_scores
    from tagloop.training.voc import label_matrix

    missing = [p.filename for p in photos if not (images_dir / p.filename).is_file()]
    if missing:
        fetch = "tests/fixtures/make_eval_set.py"
        raise EvalSetError(f"{len(missing)} photos missing from {images_dir}: run {fetch}")
    parts = {}
    for label, split in (("held-out", HELDOUT), ("tuning", TUNING)):
        part = of_split(photos, split)
        y = label_matrix([list(p.labels) for p in part])
        scores = without_arguable(part, onnx_scores(onnx_file, [images_dir / p.filename for p in part]))
        parts[label] = evaluate(y, scores, threshold=thresholds) | decisions(y, scores, threshold=thresholds)
    return parts
