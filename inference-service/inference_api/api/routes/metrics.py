"""GET /metrics in Prometheus' text format."""

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from inference_api.api.deps import MetricsDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
async def metrics(metrics: MetricsDep) -> Response:
    """Requests, latency, batch sizes, model version, reloads."""
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
