"""Model versions: list with metrics, activate (rollback), import a Keras file."""

from typing import Annotated

from fastapi import APIRouter, File, Path, Query, UploadFile, status
from tagloop.http import error_responses

from training_api import versions
from training_api.api.deps import AdminOnly, QueueDep, SettingsDep, StoreDep, UserOnly
from training_api.schemas import INT64_MAX, Activated, JobAccepted, VersionList

router = APIRouter(prefix="/models", tags=["models"])


@router.get(
    "",
    response_model=VersionList,
    dependencies=UserOnly,
    responses=error_responses(
        401,
    ),
)
def list_models(store: StoreDep, settings: SettingsDep) -> VersionList:
    """Every stored version, newest first, with its metrics, gate decision and figures on
    the shared evaluation set."""
    return versions.version_list(store=store, settings=settings)


@router.post(
    "/{version}/activate",
    response_model=Activated,
    dependencies=AdminOnly,
    responses=error_responses(401, 403, 404, 415, 422),
)
def activate(version: Annotated[int, Path(ge=1, le=INT64_MAX)], store: StoreDep) -> Activated:
    """Make a stored version the live one (rollback)."""
    store.activate(version)
    return Activated(active=version)


@router.get(
    "/import",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=AdminOnly,
    responses=error_responses(401),
)
def may_import() -> None:
    """204 when the caller may import: the gateway asks before it reads a model file's body."""


@router.post(
    "/import",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    dependencies=AdminOnly,
    responses=error_responses(401, 403, 413, 422, 503),
)
def import_model(
    queue: QueueDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="a Keras model: .h5 or .keras")],
    activate: Annotated[bool, Query()] = False,
) -> JobAccepted:
    """Check a Keras model file's size and enqueue its import; GET /jobs/{id} has the version."""
    job = versions.import_upload(queue=queue, settings=settings, upload=file, activate=activate)
    return JobAccepted(job_id=job.id, status=job.get_status().value, created=True)
