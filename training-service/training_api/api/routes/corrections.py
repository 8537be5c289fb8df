"""Corrections: save one, list them (paginated, filtered), the history of one image."""

from typing import Annotated

from fastapi import APIRouter, Query
from tagloop.http import error_responses

from training_api import corrections, jobs, suspects
from training_api.api.deps import CallerDep, DbSession, QueueDep, SettingsDep, UploadsDep, UserOnly
from training_api.schemas import (
    INT64_MAX,
    CorrectionHistory,
    CorrectionIn,
    CorrectionList,
    CorrectionOut,
    CorrectionSaved,
    SuspectList,
    SuspectOut,
)

router = APIRouter(tags=["corrections"])


@router.post(
    "/save_correction",
    response_model=CorrectionSaved,
    dependencies=UserOnly,
    responses=error_responses(400, 401, 403, 404, 409, 415, 422),
)
def save_correction(
    body: CorrectionIn,
    db: DbSession,
    uploads: UploadsDep,
    queue: QueueDep,
    settings: SettingsDep,
    caller: CallerDep,
) -> CorrectionSaved:
    """Append a correction of a stored upload's labels (recording who made it, in team mode)."""
    row = corrections.save_correction(db=db, uploads=uploads, body=body, annotator=caller.name)
    job_id = jobs.note_correction(queue=queue, settings=settings)
    return CorrectionSaved(correction=CorrectionOut.model_validate(row), auto_retrain_job=job_id)


@router.get(
    "/get_corrections",
    response_model=CorrectionList,
    dependencies=UserOnly,
    responses=error_responses(401, 422),
)
def get_corrections(
    db: DbSession,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
    label: Annotated[str | None, Query(max_length=32)] = None,
    all: Annotated[bool, Query(description="every correction, not only the latest per image")] = False,
    annotator: Annotated[str | None, Query(max_length=64, description="only this annotator's")] = None,
) -> CorrectionList:
    """Corrections, newest first: the latest per image unless all=true."""
    total, rows = corrections.list_corrections(
        db=db, limit=limit, offset=offset, label=label, every=all, annotator=annotator
    )
    return CorrectionList(
        total=total, limit=limit, offset=offset, corrections=[CorrectionOut.model_validate(r) for r in rows]
    )


@router.get(
    "/corrections/suspects",
    response_model=SuspectList,
    response_model_by_alias=True,
    dependencies=UserOnly,
    responses=error_responses(401, 422),
)
def correction_suspects(
    db: DbSession, settings: SettingsDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> SuspectList:
    """Saved labels the model finds implausible, most suspect first (scored at the last retrain)."""
    found = suspects.suspects(db=db, settings=settings, limit=limit)
    return SuspectList(
        suspects=[
            SuspectOut(
                image_id=s.image_id, filename=s.filename, label=s.label, given=s.given, score=s.score, rank=i
            )
            for i, s in enumerate(found, start=1)
        ]
    )


@router.get(
    "/corrections/{image_id}",
    response_model=CorrectionHistory,
    dependencies=UserOnly,
    responses=error_responses(401, 404, 422),
)
def correction_history(image_id: str, db: DbSession, uploads: UploadsDep) -> CorrectionHistory:
    """Every correction of one image, newest first."""
    rows = corrections.image_history(db=db, uploads=uploads, image_id=image_id)
    return CorrectionHistory(image_id=image_id, corrections=[CorrectionOut.model_validate(r) for r in rows])
