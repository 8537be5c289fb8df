"""Health of the training service and of the whole system (served as the gateway's /health)."""

import socket
from datetime import UTC, datetime
from typing import Any

import httpx
from rq import Worker
from starlette.concurrency import run_in_threadpool
from tagloop.process import pid_alive

from training_api.db import database_ok


def redis_ok(redis: Any) -> bool:
    try:
        return bool(redis.ping())
    except Exception:
        return False


WORKER_SILENCE = 45.0
"""Seconds without a heartbeat after which a registered worker counts as gone.

An idle worker heartbeats every ~15 s (worker_ttl 30 - 15) and a busy one every
`worker_heartbeat` s, but a SIGKILLed worker's registration lingers until its key expires.
"""


def worker_count(queue: Any) -> int:
    """Workers on the queue that heartbeated recently and, when on this host, still exist."""
    now = datetime.now(UTC)
    try:
        workers = Worker.all(queue=queue)
    except Exception:
        return 0
    return sum(
        1
        for w in workers
        if w.last_heartbeat
        and (now - _utc(w.last_heartbeat)).total_seconds() < WORKER_SILENCE
        and _process_may_exist(w.hostname, w.pid)
    )


def _process_may_exist(hostname: str | None, pid: int | None) -> bool:
    """A worker on this host whose pid is gone was killed: say so now, not after its
    heartbeat runs out. Workers on other hosts (containers) rely on the heartbeat."""
    return hostname != socket.gethostname() or not pid or pid_alive(pid)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def service_health(*, app_state: Any) -> dict[str, Any]:
    """{"status": ok|degraded, "redis", "database", "workers"}: degraded unless all are up."""
    redis = redis_ok(app_state.redis)
    database = database_ok(app_state.engine)
    workers = worker_count(app_state.queue) if redis else 0
    ok = redis and database and workers > 0
    return {"status": "ok" if ok else "degraded", "redis": redis, "database": database, "workers": workers}


async def inference_part(*, url: str, timeout: float) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(f"{url.rstrip('/')}/health")
        body = response.json()
    except Exception as exc:
        return {
            "ok": False,
            "ready": False,
            "model_version": None,
            "error": f"inference is unreachable ({type(exc).__name__})",
        }
    ready = bool(body.get("ready"))
    return {
        "ok": response.status_code == 200 and ready,
        "ready": ready,
        "model_version": body.get("model_version"),
        "prior": body.get("model_prior"),
        "error": body.get("model_error"),
    }


async def system_health(*, app_state: Any) -> dict[str, Any]:
    """Every part the system needs; success only when all are green."""
    settings = app_state.settings
    inference = await inference_part(url=settings.inference_url, timeout=settings.health_timeout)
    redis = await run_in_threadpool(redis_ok, app_state.redis)
    workers = await run_in_threadpool(worker_count, app_state.queue) if redis else 0
    parts = {
        "inference": inference,
        "training_api": {"ok": True},
        "redis": {"ok": redis},
        "workers": {"ok": workers > 0, "count": workers},
    }
    success = all(part["ok"] for part in parts.values())
    return {"success": success, "status": "ok" if success else "degraded", "parts": parts}
