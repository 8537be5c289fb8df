"""Every version scored on one evaluation set, so that any two can be compared.

The set is the held-out corrections (fold 0 of the image hash, gate.is_held_out) with
their current labels: the photos the promotion rule judges candidates on. After each
retrain the worker scores every kept version on it: a version's top weights are read
from its model.h5 and applied to the same cached backbone features, with that version's
own thresholds. Only versions of the live backbone can be scored this way (every
retrain keeps its parent's backbone); an imported model with another backbone is named
in `other_backbone`.

A retrained version's final fit learned every correction that existed when it was made,
held-out ones included: `seen` counts the photos of the set whose current labels it
trained on (their latest correction is not newer than its `training.corrections_through`),
and `unseen` is its score on the others, where no version has the advantage of having
learned the answer.
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, Field

from tagloop.evaluation import evaluate
from tagloop.files import write_atomic
from tagloop.version_meta import VersionMeta

if TYPE_CHECKING:
    from tagloop.store import ModelStore, VersionInfo
    from tagloop.training.loaded import LoadedModel

SUMMARY = ("mAP", "f1_micro", "f1_macro", "exact_match", "loss")


class VersionScore(BaseModel):
    seen: int | None
    """Photos of the set whose current labels it trained on (None: not known, a version
    published before this was recorded)."""
    metrics: dict[str, Any]
    unseen: dict[str, Any] | None = None
    """Its metrics on the photos it did not train on (None when it trained on all)."""


class Scoreboard(BaseModel):
    rule: str
    photos: int
    computed: str
    after_version: int
    """The retrain that scored them (the version it published)."""
    versions: dict[int, VersionScore] = Field(default_factory=dict)
    other_backbone: list[int] = Field(default_factory=list)


def score_versions(
    store: "ModelStore",
    loaded: "LoadedModel",
    *,
    x: np.ndarray,
    y: np.ndarray,
    correction_ids: list[int],
    rule: str,
    after_version: int,
) -> Scoreboard:
    """Score every version of `store` on the set (features `x`, labels `y`, and the id of
    each photo's latest correction). The loaded top's weights are restored afterwards."""
    from tagloop.model.publish import MODEL_FILE, read_top_weights

    versions = store.versions()
    ours = comparable_versions(versions, loaded.backbone.id)
    board = Scoreboard(
        rule=rule, photos=len(y), computed=datetime.now(UTC).isoformat(), after_version=after_version
    )
    ids = np.asarray(correction_ids, dtype=np.int64)
    snapshot = loaded.top.get_weights()
    try:
        for info in versions:
            if info.version not in ours:
                board.other_backbone.append(info.version)
                continue
            try:
                loaded.top.set_weights(read_top_weights(info.path / MODEL_FILE, loaded.top))
            except (ValueError, OSError):
                board.other_backbone.append(info.version)
                continue
            scores = loaded.top_trainer.predict(x) if len(x) else np.zeros_like(y)
            board.versions[info.version] = _score(info.meta, y, scores, ids)
    finally:
        loaded.top.set_weights(snapshot)
    return board


def comparable_versions(versions: "list[VersionInfo]", backbone_id: str) -> set[int]:
    """Versions on `backbone_id`: those recorded with it (only a retrain records one) and the
    parents they were retrained from (a retrain keeps the backbone; version 1 records none)."""
    found: set[int] = set()
    for info in versions:
        if info.meta.backbone_id == backbone_id:
            found.add(info.version)
            if info.meta.parent is not None:
                found.add(info.meta.parent)
    return found


def _score(meta: VersionMeta, y: np.ndarray, scores: np.ndarray, ids: np.ndarray) -> VersionScore:
    thresholds = np.asarray(meta.threshold_list(), dtype=np.float32)
    metrics = _summary(evaluate(y, scores, threshold=thresholds)) if len(y) else {}
    through = _trained_through(meta)
    if through is None:
        return VersionScore(seen=None, metrics=metrics)
    learned = ids <= through
    seen = int(learned.sum())
    unseen = None
    if seen and seen < len(y):
        unseen = _summary(evaluate(y[~learned], scores[~learned], threshold=thresholds))
    elif not seen:
        unseen = metrics
    return VersionScore(seen=seen, metrics=metrics, unseen=unseen)


def _trained_through(meta: VersionMeta) -> int | None:
    """The newest correction a version learned: 0 for one that learned none (version 1, an
    import), None when a retrained version did not record it."""
    if meta.source != "retrain":
        return 0
    return meta.training.corrections_through if meta.training else None


def _summary(metrics: dict[str, Any]) -> dict[str, Any]:
    return {"samples": metrics["samples"], **{k: metrics.get(k) for k in SUMMARY}}


def save_scoreboard(path: Path, board: Scoreboard) -> None:
    write_atomic(path, board.model_dump_json().encode())


def load_scoreboard(path: Path) -> Scoreboard | None:
    """The last scoreboard written (None before the first retrain, or if it cannot be read)."""
    try:
        return Scoreboard.model_validate_json(path.read_bytes())
    except (OSError, ValueError):
        return None
