"""GET /health (readiness, with the model version and its last load error) and GET /livez."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from inference_api.api.deps import ReloaderDep, SlotDep
from inference_api.schemas import HealthResponse, LivenessResponse

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
async def health(slot: SlotDep, reloader: ReloaderDep) -> JSONResponse:
    """200 when a model is loaded, 503 ("starting") before."""
    model = slot.current
    version = None if model is None else model.version
    body = HealthResponse(
        status="ok" if version is not None else "starting",
        ready=version is not None,
        model_version=version,
        model_error=slot.error,
        model_prior=None if model is None else model.prior,
        model_inputs=[] if model is None else [{"name": n, "size": list(s)} for n, s in model.inputs],
        redis=reloader.redis_ok,
    )
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)


@router.get("/livez")
async def livez() -> LivenessResponse:
    """The process answers (it may still be loading a model)."""
    return LivenessResponse()
