"""Review sessions: `POST /sessions`, `GET /sessions`, `GET /sessions/{id}`, `/next`, saving cards."""

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response
from tagloop.http import error_responses

from training_api import jobs, team
from training_api.api.deps import CallerDep, DbSession, QueueDep, SettingsDep, UploadsDep, UserOnly
from training_api.config import Settings
from training_api.db import ReviewSession
from training_api.review import saving
from training_api.review import sessions as review
from training_api.review.repredict import disagreements, run_state, start_repredict
from training_api.review.session_schemas import (
    BulkDone,
    BulkIn,
    BulkUndone,
    ItemsAdded,
    ItemSaved,
    ItemsIn,
    ItemUpdate,
    Leased,
    LeaseIn,
    NextItem,
    RepredictRun,
    SessionCreated,
    SessionDetail,
    SessionIn,
    SessionList,
    SessionPatch,
)
from training_api.schemas import INT32_MAX
from training_api.users import Caller

router = APIRouter(prefix="/sessions", tags=["review sessions"])

SessionId = Annotated[int, Path(ge=1, le=INT32_MAX, description="a review session's id")]
ImageIdPath = Annotated[str, Path(max_length=64, description="sha256 of the upload")]
ClientQuery = Annotated[
    str | None,
    Query(
        min_length=8,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="the asking browser's id: cards leased to other browsers are marked (and passed over)",
    ),
]
BODY_ERRORS = error_responses(400, 401, 404, 422)
"""A route with a body: unreadable body, token, no such session or photo, invalid values."""
READ_ERRORS = error_responses(401, 404, 422)
Authorization = Annotated[str | None, Header()]


@router.post(
    "",
    status_code=201,
    response_model=SessionCreated,
    dependencies=UserOnly,
    responses=BODY_ERRORS,
)
def create_session(
    request: Request,
    body: SessionIn,
    db: DbSession,
    uploads: UploadsDep,
    settings: SettingsDep,
    authorization: Authorization = None,
) -> SessionCreated:
    """A new session, with the photos already uploaded and predicted (more can be added later).

    `annotators` (an admin's choice) assigns each photo to one of them, a fraction `overlap`
    to two; each annotator then sees only their cards."""
    _admin_for_auto_retrain(
        body.auto_retrain_after or len(body.annotators), request, db, settings, authorization
    )
    created, added = review.create_session(db, uploads, body)
    return SessionCreated(session=review.session_out(db, created), added=added)


@router.get("", response_model=SessionList, dependencies=UserOnly, responses=error_responses(401))
def list_sessions(db: DbSession, caller: CallerDep) -> SessionList:
    """Every session with its progress (over the caller's cards), the most recently used first;
    an annotator's list leaves out sessions assigned to others."""
    return SessionList(sessions=[review.session_out(db, s, caller) for s in review.list_sessions(db, caller)])


@router.get(
    "/{session_id}",
    response_model=SessionDetail,
    dependencies=UserOnly,
    responses={**READ_ERRORS, 304: {"description": "nothing shown changed since the ETag in If-None-Match"}},
)
def get_session(
    session_id: SessionId,
    db: DbSession,
    response: Response,
    caller: CallerDep,
    client: ClientQuery = None,
    if_none_match: Annotated[str | None, Header(max_length=256)] = None,
) -> SessionDetail | Response:
    """The session and the caller's cards, in its order; `leased` marks those another browser
    holds. Its ETag changes with anything shown but a card's scores (which change with its
    model version): `If-None-Match` with it answers 304 while nothing changed."""
    found = review.require_session(db, session_id)
    etag = review.session_etag(db, found, client, caller)
    if if_none_match is not None and etag in {t.strip().removeprefix("W/") for t in if_none_match.split(",")}:
        return Response(status_code=304, headers={"ETag": etag})
    response.headers["ETag"] = etag
    return _detail(db, found, client, caller)


def _detail(db: DbSession, found: ReviewSession, client: str | None, caller: Caller) -> SessionDetail:
    items = [review.item_out(i, found, client) for i in review.items_of(db, found, caller)]
    return SessionDetail(session=review.session_out(db, found, caller), items=items)


@router.patch(
    "/{session_id}",
    response_model=SessionDetail,
    dependencies=UserOnly,
    responses=BODY_ERRORS,
)
def patch_session(
    request: Request,
    session_id: SessionId,
    body: SessionPatch,
    db: DbSession,
    settings: SettingsDep,
    caller: CallerDep,
    authorization: Authorization = None,
) -> SessionDetail:
    """Rename, change the order, the threshold or the automatic retrain."""
    _admin_for_auto_retrain(body.auto_retrain_after, request, db, settings, authorization)
    found = review.update_session(db, review.require_session(db, session_id), body)
    return _detail(db, found, None, caller)


@router.get("/{session_id}/next", response_model=NextItem, dependencies=UserOnly, responses=READ_ERRORS)
def next_item(
    session_id: SessionId,
    db: DbSession,
    caller: CallerDep,
    after: Annotated[str | None, Query(max_length=64)] = None,
    client: ClientQuery = None,
) -> NextItem:
    """The next card to review (pending first, then skipped), after `after` in the order; null when done.

    With `client`, a card another browser holds is passed over, and the one returned is leased
    to this client for 60 s (renew with `/items/{image_id}/lease`)."""
    found = review.require_session(db, session_id)
    item = review.next_item(db, found, after, client, caller)
    out = review.item_out(item, found, client) if item else None
    return NextItem(item=out, progress=review.progress(db, found, caller))


@router.post(
    "/{session_id}/items/{image_id}/lease",
    response_model=Leased,
    dependencies=UserOnly,
    responses=error_responses(400, 401, 404, 409, 422),
)
def lease_item(
    session_id: SessionId, image_id: ImageIdPath, body: LeaseIn, db: DbSession, caller: CallerDep
) -> Leased:
    """Hold a card for this browser for 60 s, or renew its hold; 409 while another browser holds it."""
    found = review.require_session(db, session_id)
    until = review.lease(db, review.require_item(db, found, image_id, caller), body.client)
    return Leased(lease_until=until)


@router.post(
    "/{session_id}/items",
    response_model=ItemsAdded,
    dependencies=UserOnly,
    responses=BODY_ERRORS,
)
def add_items(
    session_id: SessionId, body: ItemsIn, db: DbSession, uploads: UploadsDep, caller: CallerDep
) -> ItemsAdded:
    """Add uploaded, predicted photos to the session (assigned as the session says)."""
    found = review.require_session(db, session_id)
    added = review.add_items(db, uploads, found, body.items)
    db.commit()
    return ItemsAdded(added=added, progress=review.progress(db, found, caller))


@router.post(
    "/{session_id}/items/{image_id}",
    response_model=ItemSaved,
    dependencies=UserOnly,
    responses=BODY_ERRORS,
)
def update_item(
    session_id: SessionId,
    image_id: ImageIdPath,
    body: ItemUpdate,
    db: DbSession,
    queue: QueueDep,
    settings: SettingsDep,
    caller: CallerDep,
) -> ItemSaved:
    """Save a card (writes a correction of its image), skip it, or undo its save."""
    found = review.require_session(db, session_id)
    item = saving.update_item(db, found, review.require_item(db, found, image_id, caller), body, caller)
    job_id = _auto_retrain(db, found, queue=queue, settings=settings) if body.status == "saved" else None
    return ItemSaved(
        item=review.item_out(item, found),
        progress=review.progress(db, found, caller),
        auto_retrain_job=job_id,
    )


@router.post(
    "/{session_id}/bulk",
    response_model=BulkDone,
    dependencies=UserOnly,
    responses=BODY_ERRORS,
)
def bulk(
    session_id: SessionId,
    body: BulkIn,
    db: DbSession,
    queue: QueueDep,
    settings: SettingsDep,
    caller: CallerDep,
) -> BulkDone:
    """Set or unset labels on many cards, or accept the confident ones; each becomes a bulk correction."""
    found = review.require_session(db, session_id)
    saved, bulk_id = saving.bulk_save(db, found, body, caller)
    job_id = _auto_retrain(db, found, queue=queue, settings=settings) if saved else None
    return BulkDone(
        saved=saved, bulk_id=bulk_id, progress=review.progress(db, found, caller), auto_retrain_job=job_id
    )


@router.post(
    "/{session_id}/bulk/{bulk_id}/undo",
    response_model=BulkUndone,
    dependencies=UserOnly,
    responses=error_responses(401, 404, 409, 422),
)
def undo_bulk(
    session_id: SessionId, bulk_id: Annotated[int, Path(ge=1, le=INT32_MAX)], db: DbSession, caller: CallerDep
) -> BulkUndone:
    """Put every card of a bulk change back as it was and delete the corrections it wrote."""
    found = review.require_session(db, session_id)
    restored = saving.undo_bulk(db, found, bulk_id, caller)
    return BulkUndone(restored=restored, progress=review.progress(db, found, caller))


@router.post(
    "/{session_id}/repredict",
    status_code=202,
    response_model=RepredictRun,
    dependencies=UserOnly,
    responses=error_responses(401, 404, 422, 503),
)
def start_repredict_session(
    request: Request,
    session_id: SessionId,
    db: DbSession,
    uploads: UploadsDep,
    settings: SettingsDep,
    queue: QueueDep,
) -> RepredictRun:
    """Start predicting the session's photos again with the version inference serves now, in
    the background (or join the run already going); follow it with GET."""
    found = review.require_session(db, session_id)
    state = start_repredict(queue.connection, request.app.state.sessions, uploads, settings, found)
    return RepredictRun(**state)


@router.get(
    "/{session_id}/repredict", response_model=RepredictRun, dependencies=UserOnly, responses=READ_ERRORS
)
def repredict_progress(
    session_id: SessionId, db: DbSession, queue: QueueDep, caller: CallerDep
) -> RepredictRun:
    """The session's last re-prediction: how far it is; once finished, the saved photos whose
    new prediction still disagrees with their labels, and the session's progress."""
    found = review.require_session(db, session_id)
    state = run_state(queue.connection, found.id)
    if state is None:
        return RepredictRun(state="idle")
    run = RepredictRun(**state)
    if run.state == "finished":
        run.disagreements = disagreements(db, found)
        run.progress = review.progress(db, found, caller)
    return run


def _admin_for_auto_retrain(
    after: int | None, request: Request, db: DbSession, settings: Settings, authorization: str | None
) -> None:
    """An automatic retrain starts a retrain (and a promoted candidate is activated) whenever
    anyone saves a card: turning it on is the admin's decision, as a retrain is; so is
    assigning a session's photos to annotators."""
    if after:
        team.caller(db, settings, authorization, request.cookies.get(team.LOGIN_COOKIE), admin=True)


def _auto_retrain(db: DbSession, found: ReviewSession, *, queue: QueueDep, settings: Settings) -> str | None:
    """A retrain once the session has `auto_retrain_after` new saves (its counter restarts)."""
    if found.auto_retrain_after <= 0 or found.saves_since_retrain < found.auto_retrain_after:
        return None
    job, _ = jobs.enqueue_retrain(queue=queue, settings=settings, epochs=None, force=False)
    found.saves_since_retrain = 0
    db.commit()
    return job.id
