"""`GET /export?format=csv|voc|coco[&session=ID]`: corrections as files."""

from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse
from tagloop.dataset_export import coco_chunks, csv_lines, voc_zip
from tagloop.http import error_responses

from training_api.api.deps import DbSession, UploadsDep, UserOnly
from training_api.review.export_rows import export_rows
from training_api.schemas import INT32_MAX

router = APIRouter(tags=["export"])

MEDIA = {"csv": "text/csv; charset=utf-8", "voc": "application/zip", "coco": "application/json"}
SUFFIX = {"csv": "csv", "voc": "zip", "coco": "json"}


@router.get(
    "/export",
    response_class=Response,
    dependencies=UserOnly,
    responses={
        200: {"content": {m: {} for m in MEDIA.values()}, "description": "the file"},
        **error_responses(401, 404, 422),
    },
)
def export(
    db: DbSession,
    uploads: UploadsDep,
    format: Annotated[Literal["csv", "voc", "coco"], Query()] = "csv",
    session: Annotated[
        int | None, Query(ge=1, le=INT32_MAX, description="only this review session's saved photos")
    ] = None,
) -> Response:
    """The latest labels of every corrected image (or of one session's saved photos) as a file:
    CSV (filename, image_id, labels), a zipped Pascal VOC folder (image-level
    ImageSets/Main/<class>_<split>.txt + JPEGImages/, trainable by `tagloop train --voc-dir`),
    or COCO-style JSON with image-level categories."""
    rows = export_rows(db, session)
    headers = {"Content-Disposition": f'attachment; filename="{_name(session)}.{SUFFIX[format]}"'}
    # Streamed: one row (one photo, for VOC) at a time in memory, however large the session.
    if format == "voc":
        chunks: Iterator[bytes] = voc_zip(rows, uploads, folder=_name(session))
    else:
        text = csv_lines(rows) if format == "csv" else coco_chunks(rows, uploads)
        chunks = (piece.encode() for piece in text)
    return StreamingResponse(chunks, media_type=MEDIA[format], headers=headers)


def _name(session: int | None) -> str:
    return f"tagloop-session-{session}" if session else "tagloop-corrections"
