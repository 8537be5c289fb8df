"""The unresolved disagreements as a review session of an admin's: each card's save is the
photo's resolution (a correction marked "resolved", as POST /disagreements/{id}/resolve
writes), and undoing it brings the disagreement back."""

from sqlalchemy import select
from sqlalchemy.orm import Session
from tagloop.errors import TagloopError
from tagloop.uploads import UploadStore

from training_api import agreement
from training_api.db import Correction, ReviewSession
from training_api.review.session_schemas import ItemIn
from training_api.review.sessions import add_items


class NoDisagreementsError(TagloopError):
    """Every photo the annotators labelled differently is resolved (404)."""


def _scores(db: Session, image_id: str) -> dict[str, float]:
    """What the model said when the photo was last labelled (its newest correction that kept it)."""
    query = (
        select(Correction.predicted)
        .where(Correction.image_id == image_id, Correction.predicted.is_not(None))
        .order_by(Correction.id.desc())
        .limit(1)
    )
    predicted = db.scalar(query) or []
    return {p["label"]: float(p["confidence"]) for p in predicted if isinstance(p, dict) and "label" in p}


def disagreement_session(db: Session, uploads: UploadStore, name: str) -> tuple[ReviewSession, int]:
    """A new session of every unresolved disagreement whose photo is still stored."""
    found = [(i, f) for i, f, _ in agreement.disagreements(db) if uploads.exists(i)]
    if not found:
        raise NoDisagreementsError("no disagreement is left to resolve")
    review = ReviewSession(name=name, sort_order="upload", resolves=True)
    db.add(review)
    db.flush()
    items = [ItemIn(image_id=i, filename=f, scores=_scores(db, i)) for i, f in found]
    added = add_items(db, uploads, review, items)
    db.commit()
    return review, added
