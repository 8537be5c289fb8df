"""Agreement between annotators: `/agreement`, `/disagreements`, and an admin's resolution."""

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from tagloop.classes import NUM_CLASSES
from tagloop.http import error_responses

from training_api import agreement
from training_api.api.deps import AdminDep, AdminOnly, DbSession, UploadsDep
from training_api.review.disagreements import disagreement_session
from training_api.review.session_schemas import SessionCreated
from training_api.review.sessions import session_out
from training_api.schemas import CorrectionOut

router = APIRouter(tags=["agreement"])


class Pair(BaseModel):
    a: str
    b: str
    photos: int = Field(description="photos both labelled")
    kappa: float | None = Field(description="Cohen's kappa over every (photo, class) decision")
    per_class: dict[str, float | None] = Field(description="kappa per class; null when undefined")


class Agreement(BaseModel):
    pairs: list[Pair]
    disagreements: int = Field(description="photos whose annotators disagree, unresolved")


class Disagreement(BaseModel):
    image_id: str
    filename: str | None
    labels: dict[str, list[str]] = Field(description="each annotator's latest labels")


class DisagreementList(BaseModel):
    disagreements: list[Disagreement]


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    labels: list[str] = Field(max_length=NUM_CLASSES)


class Resolved(BaseModel):
    success: bool = True
    correction: CorrectionOut


@router.get(
    "/agreement", response_model=Agreement, dependencies=AdminOnly, responses=error_responses(401, 403)
)
def get_agreement(db: DbSession) -> Agreement:
    """Cohen's kappa of each pair of annotators over the photos both labelled, and per class."""
    pairs, count = agreement.agreement(db)
    return Agreement(pairs=[Pair.model_validate(p) for p in pairs], disagreements=count)


@router.get(
    "/disagreements",
    response_model=DisagreementList,
    dependencies=AdminOnly,
    responses=error_responses(401, 403),
)
def get_disagreements(db: DbSession) -> DisagreementList:
    """Every photo whose annotators gave different labels and that no admin resolved yet."""
    return DisagreementList(
        disagreements=[
            Disagreement(image_id=i, filename=f, labels=labels)
            for i, f, labels in agreement.disagreements(db)
        ]
    )


@router.post(
    "/disagreements/review",
    status_code=201,
    response_model=SessionCreated,
    responses=error_responses(401, 403, 404),
)
def review_disagreements(db: DbSession, uploads: UploadsDep, admin: AdminDep) -> SessionCreated:
    """A review session of every unresolved disagreement, for the asking admin: saving a card
    resolves its photo (as `/resolve` does); 404 `no_disagreements` when none is left."""
    created, added = disagreement_session(db, uploads, "Disagreements")
    return SessionCreated(session=session_out(db, created, admin), added=added)


@router.post(
    "/disagreements/{image_id}/resolve",
    response_model=Resolved,
    responses=error_responses(400, 401, 403, 404, 415, 422),
)
def resolve(
    image_id: Annotated[str, Path(max_length=64)],
    body: ResolveIn,
    db: DbSession,
    uploads: UploadsDep,
    admin: AdminDep,
) -> Resolved:
    """An admin decides a photo's labels: a retrain uses them, whatever the annotators said."""
    row = agreement.resolve(db, uploads, image_id, body.labels, admin.name)
    return Resolved(correction=CorrectionOut.model_validate(row))
