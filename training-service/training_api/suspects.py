"""The label audit: saved labels that the model, scored out of fold, finds implausible.

Each retrain scores every correction with a head that did not train on it (one per fold
of the image hash, tagloop.training.candidate) and the worker keeps those scores with the
thresholds of the version it published (save_out_of_fold). A saved label is a suspect
when its out-of-fold probability lies on the other side of its class' threshold (confident
learning, per class for multi-label); its score is the surprise of the label given that
probability, -log p(given), so "far on the other side" ranks first. The current labels are
ranked against the scores of the last retrain: a label changed since then is judged as it
is now. numpy and JSON only: the API process runs this without TensorFlow.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session
from tagloop.classes import VOC_CLASSES
from tagloop.files import write_atomic

from training_api.config import Settings
from training_api.corrections import latest_corrections

EPSILON = 1e-7


def audit_file(settings: Settings) -> Path:
    return settings.data_dir / "label_audit.json"


def save_out_of_fold(settings: Settings, *, scores: dict[str, list[float]], thresholds: list[float]) -> None:
    """Keep a retrain's out-of-fold scores (image id -> 20 scores) and its thresholds."""
    body = {"thresholds": thresholds, "scores": scores}
    write_atomic(audit_file(settings), json.dumps(body).encode())


@dataclass(frozen=True)
class Suspect:
    image_id: str
    filename: str | None
    label: str
    given: bool
    score: float


def rank_suspects(
    keys: list[str], y: np.ndarray, scores: np.ndarray, thresholds: np.ndarray
) -> list[tuple[int, int, float]]:
    """(image row, class, score) of every label on the other side of its threshold, most suspect first."""
    p = np.clip(scores.astype(np.float64), EPSILON, 1.0 - EPSILON)
    given = y > 0.5
    against = np.where(given, p < thresholds, p >= thresholds)
    surprise = np.where(given, -np.log(p), -np.log(1.0 - p))
    rows, classes = np.nonzero(against)
    found = [(int(r), int(c), float(surprise[r, c])) for r, c in zip(rows, classes, strict=True)]
    return sorted(found, key=lambda item: (-item[2], keys[item[0]], item[1]))


def suspects(*, db: Session, settings: Settings, limit: int) -> list[Suspect]:
    """The `limit` most suspect saved labels (none before the first retrain that scored them)."""
    audit = _read(audit_file(settings))
    if audit is None:
        return []
    rows = [row for row in latest_corrections(db=db) if row.image_id in audit["scores"]]
    if not rows:
        return []
    keys = [row.image_id for row in rows]
    y = np.array([[name in row.corrected_labels for name in VOC_CLASSES] for row in rows], np.float32)
    scores = np.array([audit["scores"][key] for key in keys], np.float32)
    ranked = rank_suspects(keys, y, scores, np.asarray(audit["thresholds"], np.float32))[:limit]
    return [
        Suspect(rows[r].image_id, rows[r].filename, VOC_CLASSES[c], bool(y[r, c]), round(score, 4))
        for r, c, score in ranked
    ]


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None  # no retrain scored the corrections yet, or a damaged file: nothing to show
