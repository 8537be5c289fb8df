"""The inference service's app factory.

uvicorn --factory inference_api.main:create_app --port 8001
"""

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from tagloop.decode_budget import DecodeBudget
from tagloop.http import install_error_handlers
from tagloop.images import CorruptImageError, ImageTooLargeError, UnsupportedImageError
from tagloop.redis_auth import authenticated_url
from tagloop.request_guard import BodySizeLimitMiddleware, RequestGuardMiddleware
from tagloop.uploads import UnknownImageError, UploadStore

from inference_api.api.routes import health, metrics, predict
from inference_api.batcher import DynamicBatcher
from inference_api.config import Settings
from inference_api.engine import ModelNotReadyError, ModelSlot, load_version
from inference_api.metrics import Metrics, RequestMetricsMiddleware
from inference_api.predictions import Predictor, TooManyFilesError
from inference_api.reloader import ModelReloader, store_for
from inference_api.timing import ServerTimingMiddleware

log = logging.getLogger(__name__)

ERROR_STATUS: dict[type[Exception], int] = {
    CorruptImageError: 400,
    UnknownImageError: 404,
    ImageTooLargeError: 413,
    TooManyFilesError: 413,
    UnsupportedImageError: 415,
    ModelNotReadyError: 503,
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics_ = Metrics()
    app = FastAPI(title="tagloop inference", lifespan=_lifespan)
    app.state.settings = settings
    app.state.metrics = metrics_
    for router in (predict.router, health.router, metrics.router):
        app.include_router(router)
    install_error_handlers(app, ERROR_STATUS)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics_)
    app.add_middleware(
        RequestGuardMiddleware,
        form_paths=("/predict", "/batch_predict"),
        allowed_origins=settings.allowed_origin_list,
    )
    # Outermost: `total` runs from the request's arrival to its response headers.
    app.add_middleware(ServerTimingMiddleware, paths=("/predict", "/batch_predict"))
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    slot = ModelSlot()
    batcher = DynamicBatcher(
        slot=slot,
        max_batch=settings.max_batch_size,
        max_wait_s=settings.max_wait_ms / 1000,
        runners=settings.runners,
        observe=app.state.metrics.observe_pass,
        idle_trim_s=settings.idle_trim_s,
    )
    reloader = _build_reloader(settings, slot, app.state.metrics)
    reloader.check_pointer()  # Serve from the first request if a version is active.
    reloader.start()
    batcher.start()
    app.state.reloader = reloader
    app.state.predictor = Predictor(
        slot=slot,
        batcher=batcher,
        uploads=UploadStore(settings.uploads_dir),
        limits=settings.decode_limits,
        chunk_size=settings.batch_chunk_size,
        max_files=settings.max_batch_files,
        decode_threads=settings.decode_threads,
        decode_budget=DecodeBudget(settings.decode_memory_bytes),
        tile=settings.tile_size,
    )
    try:
        yield
    finally:
        reloader.stop()
        batcher.stop()


def _build_reloader(settings: Settings, slot: ModelSlot, metrics_: Metrics) -> ModelReloader:
    load = functools.partial(load_version, threads=settings.intra_op_threads, spinning=settings.ort_spinning)
    return ModelReloader(
        store=store_for(settings.models_dir, settings.model_name),
        slot=slot,
        load=load,
        redis_url=authenticated_url(settings),
        channel=settings.reload_channel,
        poll_s=settings.reload_poll_s,
        retired_wait_s=settings.retired_wait_s,
        on_reload=metrics_.observe_reload,
    )
