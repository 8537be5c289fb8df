"""FastAPI dependencies: the state the lifespan built, as Annotated aliases."""

from typing import Annotated

from fastapi import Depends, Form, Header, Request
from tagloop.access import check_open_action

from inference_api.config import Settings
from inference_api.engine import ModelSlot
from inference_api.metrics import Metrics
from inference_api.predictions import Predictor
from inference_api.reloader import ModelReloader


def get_predictor(request: Request) -> Predictor:
    return request.app.state.predictor


def get_slot(request: Request) -> ModelSlot:
    return request.app.state.predictor.slot


def get_reloader(request: Request) -> ModelReloader:
    return request.app.state.reloader


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


PredictorDep = Annotated[Predictor, Depends(get_predictor)]
SlotDep = Annotated[ModelSlot, Depends(get_slot)]
ReloaderDep = Annotated[ModelReloader, Depends(get_reloader)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ThresholdForm = Annotated[
    float | None,
    Form(
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="keep classes scoring at least this; default: the version's per-class thresholds",
    ),
]


def require_user(settings: SettingsDep, authorization: Annotated[str | None, Header()] = None) -> None:
    """The admin token, only when TAGLOOP_TOKEN_FOR_ALL closes predictions too."""
    check_open_action(authorization, settings)


UserOnly = [Depends(require_user)]
