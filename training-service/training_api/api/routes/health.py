"""Health: this service's parts, and the whole system's view (the gateway's /health)."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from training_api import health

router = APIRouter(tags=["health"])


@router.get("/livez")
def livez() -> dict[str, str]:
    """The process answers."""
    return {"status": "alive"}


DEGRADED = {503: {"description": "a part is down: the same body, with the part that is not ok"}}


@router.get("/health", responses=DEGRADED)
def service_health(request: Request) -> JSONResponse:
    """Redis, the database and the number of workers; 503 when degraded."""
    body = health.service_health(app_state=request.app.state)
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


@router.get("/health/system", responses=DEGRADED)
async def system_health(request: Request) -> JSONResponse:
    """Inference, this API, Redis and the workers together; 503 unless all are green."""
    body = await health.system_health(app_state=request.app.state)
    return JSONResponse(body, status_code=200 if body["success"] else 503)
