"""What a retrain would use, for the confirmation a person reads before starting one."""

from datetime import UTC, datetime

from sqlalchemy.orm import Session
from tagloop.store import ModelStore

from training_api.corrections import latest_corrections
from training_api.review.session_schemas import RetrainPlan

SECONDS_BASE, SECONDS_PER_NEW, SECONDS_PER_KNOWN = 5.0, 0.05, 0.004
"""A rough duration: one fit per hash fold and a final one (tools/bench_retrain.py --curve-only
prints the curve), plus the features of new images and the time until inference serves it."""


def retrain_plan(db: Session, store: ModelStore) -> RetrainPlan:
    rows = latest_corrections(db=db)
    since = _active_created(store)
    new = sum(1 for r in rows if since is None or _utc(r.timestamp) > since)
    seconds = SECONDS_BASE + SECONDS_PER_NEW * new + SECONDS_PER_KNOWN * (len(rows) - new)
    return RetrainPlan(corrections=len(rows), new=new, seconds=round(seconds, 1))


def _active_created(store: ModelStore) -> datetime | None:
    version = store.active_version()
    if version is None:
        return None
    created = store.meta(version).created
    try:
        return _utc(datetime.fromisoformat(created)) if created else None
    except ValueError:
        return None


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
