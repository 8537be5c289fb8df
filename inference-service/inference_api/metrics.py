"""Prometheus metrics of one app, in its own registry (tests build many apps per process)."""

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)  # process_resident_memory_bytes, cpu seconds, open fds
        self.requests = Counter(
            "tagloop_inference_requests", "HTTP requests by route and status", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "tagloop_inference_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "tagloop_inference_batch_size", "Images per forward pass", buckets=BATCH_BUCKETS, registry=r
        )
        self.images = Counter("tagloop_inference_images", "Images run through the model", registry=r)
        self.model_version = Gauge(
            "tagloop_inference_model_version", "Model version being served (0: none)", registry=r
        )
        self.reloads = Counter("tagloop_inference_reloads", "Model versions swapped in", registry=r)
        self.failed_reloads = Counter(
            "tagloop_inference_failed_reloads", "Model versions that failed to load", registry=r
        )

    def observe_pass(self, size: int) -> None:
        self.batch_size.observe(size)
        self.images.inc(size)

    def observe_reload(self, ok: bool, version: int) -> None:
        if ok:
            self.reloads.inc()
            self.model_version.set(version)
        else:
            self.failed_reloads.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestMetricsMiddleware:
    """Counts and times every request by its route template (unknown paths: 'other')."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = _route_of(scope)
            self.metrics.requests.labels(route, str(status["code"])).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "other"
