"""Retrain jobs on RQ: the job function, single-flight enqueue, state, cancel, abandonment.

Single flight: the key RETRAIN_KEY holds the id of the current retrain job, taken with
SET NX, so of many concurrent POST /retrain exactly one enqueues; the others read the key
and return that job while it is queued or running. A key left by a finished, failed,
cancelled or vanished job is removed with a compare-and-delete and the race starts over.
"""

import contextlib
import logging
import time
import uuid
from pathlib import Path
from typing import Any

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, get_current_job
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from sqlalchemy.orm import Session
from tagloop.errors import TagloopError
from tagloop.redis_auth import authenticated_url
from tagloop.store import ModelStore, redis_announcer
from tagloop.training.importer import hide_paths, import_model_file
from tagloop.uploads import UploadStore

from training_api.agreement import agreed_labels
from training_api.config import Settings
from training_api.db import make_engine
from training_api.retrain_runner import WarmModels, retrain_from_corrections

log = logging.getLogger(__name__)

RETRAIN_KEY = "tagloop:retrain:current"
CANCEL_KEY = "tagloop:retrain:cancel:{}"
AUTO_COUNTER_KEY = "tagloop:retrain:corrections-since"
ACTIVE_STATES = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
CREATOR_GRACE = 3.0
"""Seconds a key may name a job not yet enqueued (its creator is between SET and enqueue)."""

_COMPARE_AND_DELETE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""

# RQ job functions are module-level, and the worker process (rq SimpleWorker: no fork) is
# the natural lifetime of a loaded model, so the warm model lives here. It is keyed by
# the model file's path and mtime, hence never stale.
_WARM = WarmModels()


class QueueUnavailableError(TagloopError):
    """Redis (the job queue) cannot be reached (503)."""


class JobNotFoundError(TagloopError):
    """No job has this id (404)."""


class JobNotCancelableError(TagloopError):
    """The job already ended (409)."""


class RetrainCanceled(Exception):
    """Raised inside a running retrain when DELETE /jobs/{id} asked it to stop."""


SECRETS = {"admin_token", "redis_password"}
"""Never written into a job (Redis would hold them, masked as '**********'): the worker
reads its own from the environment."""

QUEUE_DOWN = "the job queue (Redis) is unavailable; retraining is not possible until it is back"


def retrain(*, settings: dict[str, Any], epochs: int | None = None, force: bool = False) -> dict[str, Any]:
    """The RQ job: retrain from the agreed labels of every corrected photo (tagloop.training.retrain)."""
    config = Settings(**settings)
    job = get_current_job()
    redis = job.connection if job else Redis.from_url(authenticated_url(config))
    engine = make_engine(config.sqlalchemy_url())
    try:
        with Session(engine) as db:
            agreed, left_out = agreed_labels(db)
    finally:
        engine.dispose()
    uploads = UploadStore(config.uploads_dir)
    agreed = [photo for photo in agreed if uploads.exists(photo.image_id)]
    store = ModelStore(
        config.models_dir,
        config.model_name,
        keep=config.keep_versions,
        announce=redis_announcer(redis, config.reload_channel),
    )
    outcome = retrain_from_corrections(
        settings=config,
        store=store,
        examples=[(photo.image_id, photo.labels) for photo in agreed],
        correction_ids={photo.image_id: photo.correction_id for photo in agreed},
        warm=_WARM,
        progress=_progress_writer(job),
        epochs=epochs,
        force=force,
    )
    # Photos whose annotators disagree and no admin resolved: not trained on (team mode).
    outcome["left_out_disagreements"] = left_out
    return outcome


def import_model(*, settings: dict[str, Any], path: str, name: str, activate: bool) -> dict[str, Any]:
    """The RQ job: load, check and publish an uploaded model file, then delete the file."""
    config = Settings(**settings)
    job = get_current_job()
    redis = job.connection if job else Redis.from_url(authenticated_url(config))
    store = ModelStore(
        config.models_dir,
        config.model_name,
        keep=config.keep_versions,
        announce=redis_announcer(redis, config.reload_channel),
    )
    try:
        version = import_model_file(
            store=store, path=Path(path), activate=activate, name=name, limits=config.import_limits()
        )
    finally:
        Path(path).unlink(missing_ok=True)
    return {"version": version, "active": activate, "imported": name}


def enqueue_import(*, queue: Queue, settings: Settings, path: Path, name: str, activate: bool) -> Job:
    """Queue the import of a checked upload (the worker has TensorFlow; this process has not)."""
    try:
        return queue.enqueue(
            import_model,
            kwargs={
                "settings": settings.model_dump(mode="json", exclude=SECRETS),
                "path": str(path),
                "name": name,
                "activate": activate,
            },
            job_timeout=settings.job_timeout,
            result_ttl=settings.job_result_ttl,
            failure_ttl=settings.job_result_ttl,
            description=f"import {name!r} (activate={activate})",
        )
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise QueueUnavailableError(QUEUE_DOWN) from exc


def preload(settings: Settings) -> None:
    """Load the active version into the warm cache now (worker start), not in the first job."""
    store = ModelStore(settings.models_dir, settings.model_name)
    version = store.active_version()
    if version is None:
        return
    try:
        _WARM.get(store, version, cache_dir=settings.cache_dir)
    except Exception as exc:  # a broken version must not keep the worker from starting
        log.warning("could not preload model version %s: %s", version, exc)


def _progress_writer(job: Job | None):
    started = time.monotonic()

    def progress(stage: str, **fields: Any) -> None:
        if job is None:
            return
        if job.connection.exists(CANCEL_KEY.format(job.id)):
            raise RetrainCanceled("the retrain was cancelled")
        job.meta["progress"] = {"stage": stage, **fields, "elapsed": round(time.monotonic() - started, 2)}
        job.save_meta()

    return progress


def enqueue_retrain(*, queue: Queue, settings: Settings, epochs: int | None, force: bool) -> tuple[Job, bool]:
    """(job, created): a new retrain job, or the one already queued or running."""
    redis = queue.connection
    try:
        reap_abandoned(queue)
        first_seen: dict[str, float] = {}
        while True:
            job_id = uuid.uuid4().hex
            if redis.set(RETRAIN_KEY, job_id, nx=True, ex=settings.job_timeout + 300):
                redis.delete(AUTO_COUNTER_KEY)
                return _enqueue(
                    queue=queue, settings=settings, job_id=job_id, epochs=epochs, force=force
                ), True
            current = redis.get(RETRAIN_KEY)
            if current is None:
                continue
            current = current.decode() if isinstance(current, bytes) else current
            job = _fetch(redis, current)
            if job is not None and job.get_status() in ACTIVE_STATES:
                return job, False
            if (
                job is None
                and time.monotonic() - first_seen.setdefault(current, time.monotonic()) < CREATOR_GRACE
            ):
                time.sleep(0.05)
                continue
            redis.eval(_COMPARE_AND_DELETE, 1, RETRAIN_KEY, current)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise QueueUnavailableError(QUEUE_DOWN) from exc


def _enqueue(*, queue: Queue, settings: Settings, job_id: str, epochs: int | None, force: bool) -> Job:
    return queue.enqueue(
        retrain,
        kwargs={
            "settings": settings.model_dump(mode="json", exclude=SECRETS),
            "epochs": epochs,
            "force": force,
        },
        job_id=job_id,
        job_timeout=settings.job_timeout,
        result_ttl=settings.job_result_ttl,
        failure_ttl=settings.job_result_ttl,
        description=f"retrain (epochs={epochs or settings.retrain_epochs}, force={force})",
    )


def _fetch(redis: Redis, job_id: str) -> Job | None:
    try:
        return Job.fetch(job_id, connection=redis)
    # rq refuses ids with characters its own ids never have (ValueError): no such job either.
    except (NoSuchJobError, ValueError):
        return None


def reap_abandoned(queue: Queue) -> None:
    """Move jobs whose worker stopped heartbeating (killed, crashed) to failed, as RQ does."""
    StartedJobRegistry(queue=queue).cleanup()


def note_correction(*, queue: Queue, settings: Settings) -> str | None:
    """Count a new correction; enqueue a retrain after `auto_retrain_after` of them."""
    if settings.auto_retrain_after <= 0:
        return None
    try:
        if queue.connection.incr(AUTO_COUNTER_KEY) < settings.auto_retrain_after:
            return None
        job, _ = enqueue_retrain(queue=queue, settings=settings, epochs=None, force=False)
        return job.id
    except (RedisConnectionError, RedisTimeoutError, QueueUnavailableError):
        log.warning("auto-retrain skipped: Redis is unavailable")
        return None


def job_state(*, queue: Queue, job_id: str) -> dict[str, Any]:
    """Status, progress, result and error of a job, as GET /jobs/{id} shows them."""
    try:
        reap_abandoned(queue)
        job = _fetch(queue.connection, job_id)
        if job is None:
            raise JobNotFoundError(f"no job has id {job_id}")
        status = job.get_status(refresh=True)
        return {
            "job_id": job.id,
            "status": str(status.value if hasattr(status, "value") else status),
            "progress": job.meta.get("progress", {}),
            "result": job.return_value() if status == JobStatus.FINISHED else None,
            "error": _error_text(job)
            if status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)
            else None,
            "enqueued_at": job.enqueued_at,
            "started_at": job.started_at,
            "ended_at": job.ended_at,
        }
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise QueueUnavailableError(QUEUE_DOWN) from exc


def _error_text(job: Job) -> str:
    status = job.get_status()
    if status == JobStatus.CANCELED:
        return "cancelled before it started"
    latest = job.latest_result()
    text = ((latest.exc_string if latest else None) or "").strip()
    if status == JobStatus.STOPPED or "RetrainCanceled" in text:
        return "cancelled while running; no version was published"
    if "AbandonedJobError" in text:
        return "the worker stopped while running this job (killed or crashed); no version was published"
    if "JobTimeoutException" in text:
        return f"the job ran longer than its timeout ({job.timeout} s) and was stopped"
    last = text.splitlines()[-1] if text else "unknown error"
    return hide_paths(last.split(": ", 1)[1] if ": " in last else last)


def cancel_job(*, queue: Queue, settings: Settings, job_id: str) -> dict[str, Any]:
    """Cancel a queued job, or ask a running one to stop at its next progress report."""
    redis = queue.connection
    try:
        job = _fetch(redis, job_id)
        if job is None:
            raise JobNotFoundError(f"no job has id {job_id}")
        status = job.get_status()
        if status == JobStatus.STARTED:
            redis.set(CANCEL_KEY.format(job_id), 1, ex=settings.job_timeout + 300)
            with contextlib.suppress(InvalidJobOperation):  # ended meanwhile: the key is harmless
                send_stop_job_command(redis, job_id)
        elif status in ACTIVE_STATES:
            job.cancel()
        else:
            raise JobNotCancelableError(f"job {job_id} is already {status.value}; there is nothing to cancel")
        # A retrain asked for from now on is a new job, not this one while it winds down.
        redis.eval(_COMPARE_AND_DELETE, 1, RETRAIN_KEY, job_id)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise QueueUnavailableError(QUEUE_DOWN) from exc
    return job_state(queue=queue, job_id=job_id)
