"""Review sessions in the corrections database: create, list, add photos, the next card."""

import hashlib
import itertools
import statistics
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session
from tagloop.classes import VOC_CLASSES
from tagloop.errors import TagloopError
from tagloop.uploads import UnknownImageError, UploadStore, clean_filename

from training_api.corrections import UnknownLabelsError
from training_api.db import ReviewItem, ReviewSession, now
from training_api.review.assignment import assignees, check_annotators, listed_for, visible
from training_api.review.order import predicted_labels, sort_items
from training_api.review.session_schemas import ItemIn, ItemOut, Progress, SessionIn, SessionOut, SessionPatch
from training_api.users import SINGLE_USER, Caller

MAX_GAP_S = 120.0
"""Gaps between two saves longer than this (a pause) do not count in the time per photo."""

LEASE_S = 60.0
"""How long a card handed out to one browser is kept from the others (renewed while on screen)."""


class SessionNotFoundError(TagloopError):
    """No review session has this id (404)."""


class ItemNotFoundError(TagloopError):
    """The session has no card for this image (404)."""


class CardLeasedError(TagloopError):
    """Another browser has this card on screen (409); its lease runs out unless renewed."""


def require_session(db: Session, session_id: int) -> ReviewSession:
    found = db.get(ReviewSession, session_id)
    if found is None:
        raise SessionNotFoundError(f"no review session has id {session_id}")
    return found


def require_item(
    db: Session, review: ReviewSession, image_id: str, caller: Caller = SINGLE_USER
) -> ReviewItem:
    """The caller's card of this photo (an admin who sees every card: its first one)."""
    query = select(ReviewItem).where(visible(review, caller), ReviewItem.image_id == image_id)
    found = db.scalars(query.order_by(ReviewItem.id)).first()
    if found is None:
        raise ItemNotFoundError(f"review session {review.id} has no photo with id {image_id} for you")
    return found


def create_session(db: Session, uploads: UploadStore, body: SessionIn) -> tuple[ReviewSession, int]:
    review = ReviewSession(
        name=body.name.strip() or "",
        sort_order=body.order,
        threshold=body.threshold,
        auto_retrain_after=body.auto_retrain_after,
        annotators=check_annotators(db, body.annotators),
        overlap=body.overlap,
    )
    db.add(review)
    db.flush()
    if not review.name:
        review.name = f"Review {review.id}"
    added = add_items(db, uploads, review, body.items)
    db.commit()
    return review, added


def update_session(db: Session, review: ReviewSession, body: SessionPatch) -> ReviewSession:
    if body.name is not None:
        review.name = body.name.strip() or review.name
    if body.order is not None:
        review.sort_order = body.order
    if body.threshold is not None:
        review.threshold = body.threshold
    if body.auto_retrain_after is not None:
        review.auto_retrain_after = body.auto_retrain_after
    db.commit()
    return review


def _check_scores(scores: dict[str, float], what: str) -> dict[str, float]:
    unknown = sorted(set(scores) - set(VOC_CLASSES))
    if unknown:
        raise UnknownLabelsError(f"{what} names unknown classes: {', '.join(unknown)}")
    return {name: min(1.0, max(0.0, float(scores[name]))) for name in VOC_CLASSES if name in scores}


def add_items(db: Session, uploads: UploadStore, review: ReviewSession, items: Sequence[ItemIn]) -> int:
    """Add photos (or refresh the prediction of ones already there); returns how many are new.

    A new photo gets a card per assignee (training_api.review.assignment)."""
    existing: dict[str, list[ReviewItem]] = defaultdict(list)
    for row in db.scalars(select(ReviewItem).where(ReviewItem.session_id == review.id)):
        existing[row.image_id].append(row)
    position = max((r.position for rows in existing.values() for r in rows), default=-1)
    added = 0
    for item in items:
        if not uploads.exists(item.image_id):
            raise UnknownImageError(
                f"no uploaded image has id {item.image_id}; upload it with /predict first"
            )
        scores = _check_scores(item.scores, "scores")
        thresholds = _check_scores(item.thresholds, "thresholds") if item.thresholds else None
        rows = existing.get(item.image_id)
        if not rows:
            position += 1
            added += 1
            rows = [
                ReviewItem(
                    session_id=review.id,
                    image_id=item.image_id,
                    annotator=name,
                    position=position,
                    status="pending",
                )
                for name in assignees(review, position)
            ]
            db.add_all(rows)
            existing[item.image_id] = rows
        for row in rows:
            row.filename = clean_filename(item.filename) or row.filename
            row.scores, row.thresholds, row.model_version = scores, thresholds, item.model_version
    review.updated = now()
    db.flush()
    return added


def items_of(db: Session, review: ReviewSession, caller: Caller = SINGLE_USER) -> list[ReviewItem]:
    """The session's cards the caller sees, in its order."""
    rows = db.scalars(select(ReviewItem).where(visible(review, caller))).all()
    return sort_items(rows, review.sort_order, review.threshold)


def session_etag(db: Session, review: ReviewSession, client: str | None, caller: Caller = SINGLE_USER) -> str:
    """A fingerprint of what GET /sessions/{id} shows `client` (and `caller`) now: the
    session's settings and, per card the caller sees, everything of it that can change but
    its scores (which change only with its model version). Read without the scores, so that
    a browser polling an unchanged session of thousands of cards costs a small query, not
    the whole session (HTTP 304)."""
    at = now()
    rows = db.execute(
        select(
            ReviewItem.image_id,
            ReviewItem.annotator,
            ReviewItem.status,
            ReviewItem.labels,
            ReviewItem.saved_at,
            ReviewItem.model_version,
            ReviewItem.leased_by,
            ReviewItem.lease_until,
        )
        .where(visible(review, caller))
        .order_by(ReviewItem.id)
    ).all()
    shown = (
        caller.name,
        review.name,
        review.sort_order,
        review.threshold,
        review.auto_retrain_after,
        review.updated,
    )
    digest = hashlib.sha256(repr(shown).encode())
    for image_id, annotator, status, labels, saved_at, version, leased_by, lease_until in rows:
        elsewhere = _held_elsewhere(leased_by, lease_until, client, at)
        digest.update(repr((image_id, annotator, status, labels, saved_at, version, elsewhere)).encode())
    return f'"{digest.hexdigest()[:32]}"'


def _naive_utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes (stored in UTC); compare like with like
    return value.replace(tzinfo=None) if value.tzinfo else value


def leased_elsewhere(item: ReviewItem, client: str | None, at: datetime | None = None) -> bool:
    """Whether another browser holds the card now."""
    return _held_elsewhere(item.leased_by, item.lease_until, client, at or now())


def _held_elsewhere(
    leased_by: str | None, lease_until: datetime | None, client: str | None, at: datetime
) -> bool:
    if leased_by is None or lease_until is None or leased_by == client:
        return False
    return _naive_utc(lease_until) > _naive_utc(at)


def lease(db: Session, item: ReviewItem, client: str) -> datetime | None:
    """Hand a card to `client` for LEASE_S (or renew its lease); a saved card needs none (None).

    One conditional UPDATE, so that two browsers asking at once cannot both get it, on
    SQLite and PostgreSQL alike. Raises CardLeasedError when another browser holds it."""
    if item.status == "saved":
        return None
    at = now()
    until = at + timedelta(seconds=LEASE_S)
    free = or_(
        ReviewItem.leased_by.is_(None),
        ReviewItem.leased_by == client,
        ReviewItem.lease_until.is_(None),
        ReviewItem.lease_until <= at,
    )
    claimed = db.execute(
        update(ReviewItem)
        .where(ReviewItem.id == item.id, free)
        .values(leased_by=client, lease_until=until)
        .execution_options(synchronize_session=False)  # the row is refreshed below
    )
    db.commit()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        db.refresh(item)
        left = (_naive_utc(item.lease_until or at) - _naive_utc(at)).total_seconds()
        raise CardLeasedError(f"another browser has this photo on screen for {max(1, round(left))} s more")
    db.refresh(item)
    return until


def next_item(
    db: Session,
    review: ReviewSession,
    after: str | None = None,
    client: str | None = None,
    caller: Caller = SINGLE_USER,
) -> ReviewItem | None:
    """The first pending card in order (after `after`, wrapping round); then skipped ones.

    With a `client`, cards another browser holds are passed over and the one found is leased
    to this client."""
    ordered = items_of(db, review, caller)
    start = next((k + 1 for k, i in enumerate(ordered) if i.image_id == after), 0)
    rotated = ordered[start:] + ordered[:start]
    for wanted in ("pending", "skipped"):
        for item in rotated:
            if item.status != wanted or item.image_id == after or leased_elsewhere(item, client):
                continue
            if client is None:
                return item
            try:
                lease(db, item, client)
            except CardLeasedError:
                continue  # taken between the read and the claim
            return item
    return None


def progress(db: Session, review: ReviewSession, caller: Caller = SINGLE_USER) -> Progress:
    """Over the cards the caller sees."""
    rows = db.execute(
        select(ReviewItem.status, func.count()).where(visible(review, caller)).group_by(ReviewItem.status)
    ).all()
    counts = {status: int(n) for status, n in rows}
    saved_times: list[datetime] = [
        t
        for t in db.scalars(
            select(ReviewItem.saved_at)
            .where(visible(review, caller), ReviewItem.saved_at.is_not(None))
            .order_by(ReviewItem.saved_at)
        )
        if t is not None
    ]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(saved_times)]
    gaps = [g for g in gaps if 0 <= g <= MAX_GAP_S]
    return Progress(
        total=sum(counts.values()),
        saved=counts.get("saved", 0),
        skipped=counts.get("skipped", 0),
        pending=counts.get("pending", 0),
        seconds_per_item=round(statistics.median(gaps), 2) if gaps else None,
    )


def session_out(db: Session, review: ReviewSession, caller: Caller = SINGLE_USER) -> SessionOut:
    return SessionOut(
        id=review.id,
        name=review.name,
        order=review.sort_order,
        threshold=review.threshold,
        auto_retrain_after=review.auto_retrain_after,
        annotators=review.annotators,
        overlap=review.overlap or 0.0,
        resolves=review.resolves,
        created=review.created,
        updated=review.updated,
        progress=progress(db, review, caller),
    )


def item_out(item: ReviewItem, review: ReviewSession, client: str | None = None) -> ItemOut:
    out = ItemOut.model_validate(item)
    out.predicted = predicted_labels(item, review.threshold)
    out.leased = leased_elsewhere(item, client)
    return out


def list_sessions(db: Session, caller: Caller = SINGLE_USER) -> list[ReviewSession]:
    """Every session the caller may review, the most recently used first."""
    query = select(ReviewSession).order_by(ReviewSession.updated.desc(), ReviewSession.id.desc())
    return [s for s in db.scalars(query) if listed_for(s, caller)]
