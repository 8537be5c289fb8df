"""Retrain jobs: start one (single flight), follow it, cancel it."""

from fastapi import APIRouter, status
from tagloop.disk import require_free_space
from tagloop.http import error_responses

from training_api import corrections, jobs
from training_api.api.deps import AdminOnly, DbSession, QueueDep, SettingsDep, UserOnly
from training_api.retrain_runner import NoCorrectionsError
from training_api.schemas import JobAccepted, JobState, RetrainIn

router = APIRouter(tags=["jobs"])


@router.post(
    "/retrain",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    dependencies=AdminOnly,
    responses=error_responses(401, 403, 415, 422, 503, 507),
)
def retrain(
    queue: QueueDep, settings: SettingsDep, db: DbSession, body: RetrainIn | None = None
) -> JobAccepted:
    """Start a retrain, or return the one already queued or running."""
    body = body or RetrainIn()
    require_free_space(settings.data_dir, settings.disk_free_floor_mb)
    if corrections.count_corrections(db=db) == 0:
        raise NoCorrectionsError("there are no corrections to train on; save some corrections first")
    job, created = jobs.enqueue_retrain(queue=queue, settings=settings, epochs=body.epochs, force=body.force)
    return JobAccepted(job_id=job.id, status=job.get_status().value, created=created)


@router.get(
    "/jobs/{job_id}", response_model=JobState, dependencies=UserOnly, responses=error_responses(401, 404, 503)
)
def get_job(job_id: str, queue: QueueDep) -> JobState:
    """Status (RQ's), progress, result and error of a job."""
    return JobState(**jobs.job_state(queue=queue, job_id=job_id))


@router.delete(
    "/jobs/{job_id}",
    response_model=JobState,
    dependencies=AdminOnly,
    responses=error_responses(401, 403, 404, 409, 503),
)
def cancel_job(job_id: str, queue: QueueDep, settings: SettingsDep) -> JobState:
    """Cancel a queued job, or stop a running one at its next epoch."""
    return JobState(**jobs.cancel_job(queue=queue, settings=settings, job_id=job_id))
