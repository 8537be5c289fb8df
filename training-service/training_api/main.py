"""The training API: `uvicorn --factory training_api.main:create_app`."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis import Redis
from rq import Queue
from tagloop.dataset_export import NothingToExportError
from tagloop.errors import ModelContractError
from tagloop.http import install_error_handlers
from tagloop.images import ImageError
from tagloop.redis_auth import authenticated_url
from tagloop.request_guard import AdminPathGuard, BodySizeLimitMiddleware, RequestGuardMiddleware
from tagloop.store import ModelStore, redis_announcer
from tagloop.training.importer import ImportRefusedError
from tagloop.uploads import UnknownImageError, UploadStore

from training_api.api.routes import (
    agreement,
    auth,
    corrections,
    export,
    health,
    images,
    jobs,
    models,
    plan,
    sessions,
)
from training_api.config import Settings
from training_api.corrections import AmbiguousFilenameError, MissingImageRefError, UnknownLabelsError
from training_api.db import make_engine, session_factory
from training_api.jobs import JobNotCancelableError, JobNotFoundError, QueueUnavailableError
from training_api.login_limit import LoginLimiter, TooManyLoginsError
from training_api.retrain_runner import NoCorrectionsError
from training_api.review.assignment import UnknownAnnotatorError
from training_api.review.disagreements import NoDisagreementsError
from training_api.review.repredict import InferenceUnavailableError
from training_api.review.saving import (
    BulkNotFoundError,
    BulkUndoneError,
    LabelsMissingError,
    NothingSelectedError,
)
from training_api.review.sessions import CardLeasedError, ItemNotFoundError, SessionNotFoundError
from training_api.team import admin_headers_check
from training_api.users import BadLoginError, InvalidUserError, UnknownUserError, UserExistsError

log = logging.getLogger(__name__)

REDIS_TIMEOUT = 2.0
"""Seconds a Redis call may take before the API answers 503 instead of hanging."""

MULTIPART_OVERHEAD = 1024 * 1024
"""Room for the multipart framing around the model file, whose own limit is max_import_bytes."""

FORM_PATHS = ("/models/import",)
"""The one state-changing route that takes multipart; every other one takes JSON only."""

ERROR_STATUS: dict[type[Exception], int] = {
    UnknownLabelsError: 422,
    MissingImageRefError: 422,
    AmbiguousFilenameError: 409,
    UnknownImageError: 404,
    JobNotFoundError: 404,
    JobNotCancelableError: 409,
    QueueUnavailableError: 503,
    ImportRefusedError: 422,
    ImageError: 400,
    NoCorrectionsError: 422,
    ModelContractError: 422,
    SessionNotFoundError: 404,
    ItemNotFoundError: 404,
    LabelsMissingError: 422,
    NothingSelectedError: 422,
    CardLeasedError: 409,
    BulkNotFoundError: 404,
    BulkUndoneError: 409,
    NoDisagreementsError: 404,
    NothingToExportError: 404,
    InferenceUnavailableError: 503,
    UserExistsError: 409,
    UnknownUserError: 404,
    InvalidUserError: 422,
    BadLoginError: 401,
    TooManyLoginsError: 429,
    UnknownAnnotatorError: 422,
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis.from_url(
            authenticated_url(settings), socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
        )
        engine = make_engine(settings.sqlalchemy_url())
        app.state.settings = settings
        app.state.redis = redis
        app.state.queue = Queue(settings.queue_name, connection=redis)
        app.state.engine = engine
        app.state.sessions = session_factory(engine)
        app.state.uploads = UploadStore(settings.uploads_dir)
        app.state.store = ModelStore(
            settings.models_dir,
            settings.model_name,
            keep=settings.keep_versions,
            announce=redis_announcer(redis, settings.reload_channel),
        )
        yield
        engine.dispose()
        redis.close()

    app = FastAPI(title="tagloop training", version="1.0", lifespan=lifespan)
    app.state.login_limiter = LoginLimiter()
    install_error_handlers(app, ERROR_STATUS)
    # Before any body is read: an import without the token is refused from its headers.
    app.add_middleware(AdminPathGuard, paths=("/models/import",), check=admin_headers_check(app, settings))
    # Inner to the guard: a cross-site or non-JSON request is refused before its size matters.
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_json_bytes,
        path_limits={"/models/import": settings.max_import_bytes + MULTIPART_OVERHEAD},
    )
    app.add_middleware(
        RequestGuardMiddleware, form_paths=FORM_PATHS, allowed_origins=settings.allowed_origin_list
    )
    for module in (agreement, auth, corrections, images, plan, jobs, models, sessions, export, health):
        app.include_router(module.router)
    return app
