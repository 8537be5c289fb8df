"""Saving cards: one card (a correction of its image), a skip, an undo, many cards at once."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from tagloop.errors import RoleRefusedError, TagloopError

from training_api.agreement import RESOLVED
from training_api.corrections import normalize_labels
from training_api.db import BulkChange, Correction, ReviewItem, ReviewSession, now
from training_api.review.assignment import visible
from training_api.review.order import is_confident, predicted_labels
from training_api.review.session_schemas import BulkIn, ItemUpdate
from training_api.users import SINGLE_USER, Caller


class LabelsMissingError(TagloopError):
    """Saving a card needs its labels (an empty list means "none of the 20 classes")."""


class NothingSelectedError(TagloopError):
    """A bulk change names no cards and does not ask for the confident ones."""


class BulkNotFoundError(TagloopError):
    """The session has no bulk change with this id (404)."""


class BulkUndoneError(TagloopError):
    """This bulk change was undone already (409)."""


def _predicted_field(item: ReviewItem) -> list[dict[str, float | str]]:
    """What the model said, as the correction's `predicted`: [{label, confidence}], best first."""
    ranked = sorted(item.scores.items(), key=lambda kv: kv[1], reverse=True)
    return [{"label": name, "confidence": round(p, 6)} for name, p in ranked]


def _write_correction(
    db: Session, review: ReviewSession, item: ReviewItem, labels: list[str], source: str, caller: Caller
) -> None:
    """Append the correction of a card and mark it saved (the caller commits)."""
    row = Correction(
        image_id=item.image_id,
        filename=item.filename,
        corrected_labels=labels,
        model_version=item.model_version,
        threshold=review.threshold,
        predicted=_predicted_field(item),
        source=RESOLVED if review.resolves else source,
        annotator=caller.name,
    )
    db.add(row)
    db.flush()
    item.status, item.labels, item.correction_id, item.saved_at = "saved", labels, row.id, now()
    item.leased_by, item.lease_until = None, None  # a saved card is free for no one: it is done
    review.saves_since_retrain += 1
    review.updated = now()


def update_item(
    db: Session, review: ReviewSession, item: ReviewItem, body: ItemUpdate, caller: Caller = SINGLE_USER
) -> ReviewItem:
    """Save (labels), skip, or undo a save ("pending": its correction is deleted)."""
    if body.status == "saved":
        if body.labels is None:
            raise LabelsMissingError("give the card's labels to save it (an empty list for none)")
        _write_correction(db, review, item, normalize_labels(body.labels), "review", caller)
    elif body.status == "skipped":
        if item.status != "saved":
            item.status = "skipped"
    else:
        _undo(db, item, caller)
    review.updated = now()
    db.commit()
    return item


def _undo(db: Session, item: ReviewItem, caller: Caller) -> None:
    if item.correction_id is not None:
        _own(db, [item.correction_id], caller)
        db.execute(delete(Correction).where(Correction.id == item.correction_id))
    item.status, item.labels, item.correction_id, item.saved_at = "pending", None, None, None


def _own(db: Session, correction_ids: list[int], caller: Caller) -> None:
    """An annotator undoes their own corrections only (team mode); an admin any."""
    if caller.is_admin:
        return
    query = select(Correction.annotator).where(Correction.id.in_(correction_ids))
    others = sorted(name or "the admin" for name in db.scalars(query) if name != caller.name)
    if others:
        raise RoleRefusedError(f"this save is {others[0]}'s: only they or an admin can undo it")


def _current_labels(item: ReviewItem, review: ReviewSession) -> set[str]:
    return set(item.labels) if item.labels is not None else set(predicted_labels(item, review.threshold))


def _selected(db: Session, review: ReviewSession, body: BulkIn, caller: Caller) -> Sequence[ReviewItem]:
    """The caller's cards a bulk change names (training_api.review.assignment)."""
    query = select(ReviewItem).where(visible(review, caller))
    if body.confident:
        pending = db.scalars(query.where(ReviewItem.status != "saved")).all()
        return [i for i in pending if is_confident(i)]
    if not body.image_ids:
        raise NothingSelectedError("select cards for a bulk change, or ask for the confident ones")
    return db.scalars(query.where(ReviewItem.image_id.in_(body.image_ids))).all()


def _before(item: ReviewItem) -> dict[str, object]:
    """What a card was before a bulk write, as kept for its undo."""
    return {
        "image_id": item.image_id,
        "status": item.status,
        "labels": item.labels,
        "correction_id": item.correction_id,
        "saved_at": item.saved_at.isoformat() if item.saved_at else None,
    }


def bulk_save(
    db: Session, review: ReviewSession, body: BulkIn, caller: Caller = SINGLE_USER
) -> tuple[int, int | None]:
    """Each selected card becomes a correction marked "bulk": its labels plus `add` minus `remove`.

    A card's labels are its saved ones, else what the model predicts at the session's
    threshold: "set X" adds X and changes nothing else. Returns how many cards were written
    and the id of the bulk change (None when none was), which `undo_bulk` takes.
    """
    add, remove = set(normalize_labels(body.add)), set(normalize_labels(body.remove))
    cards: list[dict[str, object]] = []
    for item in _selected(db, review, body, caller):
        before = _before(item)
        labels = normalize_labels(sorted((_current_labels(item, review) | add) - remove))
        _write_correction(db, review, item, labels, "bulk", caller)
        cards.append({**before, "written": item.correction_id})
    if not cards:
        db.commit()
        return 0, None
    change = BulkChange(session_id=review.id, undone=False, cards=cards)
    db.add(change)
    db.commit()
    return len(cards), change.id


def undo_bulk(db: Session, review: ReviewSession, bulk_id: int, caller: Caller = SINGLE_USER) -> int:
    """Put every card of a bulk change back as it was and delete the corrections it wrote.

    A card saved again since (its correction is no longer the bulk one) keeps that later save.
    Returns how many cards were put back."""
    change = db.get(BulkChange, bulk_id)
    if change is None or change.session_id != review.id:
        raise BulkNotFoundError(f"review session {review.id} has no bulk change {bulk_id}")
    if change.undone:
        raise BulkUndoneError(f"bulk change {bulk_id} was undone already")
    by_written = {c["written"]: c for c in change.cards}
    _own(db, list(by_written), caller)
    query = select(ReviewItem).where(
        ReviewItem.session_id == review.id, ReviewItem.correction_id.in_(by_written)
    )
    restored = 0
    for item in db.scalars(query):
        card = by_written[item.correction_id]
        db.execute(delete(Correction).where(Correction.id == card["written"]))
        saved_at = card["saved_at"]
        item.status, item.labels, item.correction_id = card["status"], card["labels"], card["correction_id"]
        item.saved_at = datetime.fromisoformat(saved_at) if isinstance(saved_at, str) else None
        review.saves_since_retrain = max(0, review.saves_since_retrain - 1)
        restored += 1
    change.undone = True
    review.updated = now()
    db.commit()
    return restored
