"""Model versions as the API shows them, and the import of an uploaded model file.

The API only receives and checks the file (no TensorFlow in this process: loading a model
would keep ~500 MB here for good); the worker loads, checks and publishes it as a job.
"""

import time
import uuid
from pathlib import Path

from fastapi import UploadFile
from rq import Queue
from rq.job import Job
from tagloop.store import ModelStore, VersionInfo
from tagloop.training.importer import SUFFIXES, ImportRefusedError, check_model_file
from tagloop.training.scoreboard import Scoreboard, load_scoreboard

from training_api import jobs
from training_api.config import Settings
from training_api.retrain_runner import scoreboard_file
from training_api.schemas import ScoreboardOut, VersionList, VersionOut


def version_out(info: VersionInfo, board: Scoreboard | None = None) -> VersionOut:
    score = board.versions.get(info.version) if board else None
    return VersionOut.of(info.meta, version=info.version, active=info.active, score=score)


def version_list(*, store: ModelStore, settings: Settings) -> VersionList:
    """Every version, each with its figures on the shared evaluation set where it was scored."""
    board = load_scoreboard(scoreboard_file(settings))
    return VersionList(
        active=store.active_version(),
        versions=[version_out(v, board) for v in store.versions()],
        scoreboard=ScoreboardOut(**board.model_dump(exclude={"versions"})) if board else None,
    )


def import_upload(*, queue: Queue, settings: Settings, upload: UploadFile, activate: bool) -> Job:
    """Save the upload where the worker finds it, check it, and enqueue its import."""
    name = upload.filename or "model"
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise ImportRefusedError(f"{name!r}: only .h5 and .keras model files can be imported")
    folder = settings.imports_dir
    folder.mkdir(parents=True, exist_ok=True)
    _remove_stale(folder, older_than=2 * settings.job_timeout)
    # keras needs a path with the right suffix; the client's name is never part of it.
    path = folder / f"{uuid.uuid4().hex}{suffix}"
    try:
        with open(path, "wb") as out:
            copied = _copy_limited(upload, out, limit=settings.max_import_bytes)
        if copied == 0:
            raise ImportRefusedError(f"{name!r} is empty")
        check_model_file(path, name=name, limits=settings.import_limits())
        return jobs.enqueue_import(queue=queue, settings=settings, path=path, name=name, activate=activate)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _copy_limited(upload: UploadFile, out, *, limit: int) -> int:
    copied = 0
    while chunk := upload.file.read(1 << 20):
        copied += len(chunk)
        if copied > limit:
            raise ImportRefusedError(f"the model file is larger than {limit // (1 << 20)} MB")
        out.write(chunk)
    return copied


def _remove_stale(folder: Path, *, older_than: float) -> None:
    """Uploads whose job never ran (no worker, cancelled) are not kept forever."""
    now = time.time()
    for old in folder.iterdir():
        try:
            if now - old.stat().st_mtime > older_than:
                old.unlink()
        except OSError:
            continue
