"""Health of the training service and of the whole system (served as the gateway's /health)."""

import socket
from datetime import UTC, datetime
from typing import Any

from rq import Worker
from starlette.concurrency import run_in_threadpool
from tagloop.disk import disk_health
from tagloop.process import pid_alive
from tagloop.supervise import part_states

from training_api.db import database_ok
from training_api.replicas import inference_part


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


async def system_health(*, app_state: Any) -> dict[str, Any]:
    """Every part the system needs; success only when all are green."""
    settings = app_state.settings
    active = await run_in_threadpool(_active_version, app_state.store)
    inference = await inference_part(
        base_url=settings.inference_url,
        replicas=settings.inference_replicas,
        timeout=settings.health_timeout,
        active=active,
    )
    redis = await run_in_threadpool(redis_ok, app_state.redis)
    workers = await run_in_threadpool(worker_count, app_state.queue) if redis else 0
    parts = {
        "inference": inference,
        "training_api": {"ok": True},
        "redis": {"ok": redis},
        "workers": {"ok": workers > 0, "count": workers},
        "disk": await run_in_threadpool(disk_health, settings.data_dir, settings.disk_free_floor_mb),
    }
    processes = await run_in_threadpool(part_states, settings.run_dir)
    if processes is not None:
        name_given_up(parts, processes)
    success = all(part["ok"] for part in parts.values())
    body = {"success": success, "status": system_status(success, inference), "parts": parts}
    if processes is not None:
        # Only the ones not running: what a person looking at a restart wants to see.
        body["processes"] = [p for p in processes if p["state"] not in ("RUNNING", "STARTING")]
    return body


PART_OF_PROGRAM = {
    "inference": "inference",
    "training": "training_api",
    "worker": "workers",
    "redis": "redis",
}
"""The /health part each supervised program belongs to (inference.2 -> inference)."""


def name_given_up(parts: dict[str, Any], processes: list[dict[str, Any]]) -> None:
    """A program supervisord gave up on (FATAL: it kept failing to start) makes its part
    not ok, with the program's name and the last error line of its log."""
    for process in processes:
        part = parts.get(PART_OF_PROGRAM.get(process["name"].partition(".")[0], ""))
        if process["state"] != "FATAL" or part is None:
            continue
        part["ok"] = False
        part.setdefault("given_up", []).append(process["name"])
        last = process.get("error") or "no output"
        error = f"{process['name']} was given up after repeated failed starts: {last}"
        part["error"] = f"{part['error']}; {error}" if part.get("error") else error


def system_status(success: bool, inference: dict[str, Any]) -> str:
    """ "ok" only when every part is up and every replica serves the active version;
    "converging" while a replica still loads it; "stale" when a replica failed to load it
    and serves an older one (its error says why); "degraded" when a part is down."""
    if not success:
        return "degraded"
    if inference["converging"]:
        return "converging"
    return "stale" if inference["stale"] else "ok"


def _active_version(store: Any) -> int | None:
    try:
        return store.active_version()
    except Exception:  # an unreadable pointer: no version to converge to
        return None
