"""What an export holds: the latest labels of every corrected image, or of one session's saves."""

from sqlalchemy import select
from sqlalchemy.orm import Session
from tagloop.dataset_export import ExportRow

from training_api.corrections import latest_corrections
from training_api.db import ReviewItem
from training_api.review.sessions import require_session


def export_rows(db: Session, session_id: int | None) -> list[ExportRow]:
    if session_id is None:
        return [
            ExportRow(r.image_id, r.filename, tuple(r.corrected_labels)) for r in latest_corrections(db=db)
        ]
    require_session(db, session_id)
    query = (
        select(ReviewItem)
        .where(ReviewItem.session_id == session_id, ReviewItem.status == "saved")
        .order_by(ReviewItem.position, ReviewItem.saved_at)
    )
    # a photo given to two annotators (training_api.review.assignment): its newest save
    newest = {i.image_id: i for i in db.scalars(query)}
    return [ExportRow(i.image_id, i.filename, tuple(i.labels or ())) for i in newest.values()]
