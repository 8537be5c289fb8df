"""The inference replicas as the system view sees them: where they are, and what they serve.

Natively the replicas listen on consecutive ports from `inference_url`'s
(TAGLOOP_INFERENCE_REPLICAS of them). Behind a name that resolves to several addresses
(`docker compose up --scale inference=N`, a Kubernetes headless Service) each address is
a replica too.
"""

import asyncio
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.concurrency import run_in_threadpool


def replica_urls(base_url: str, replicas: int) -> list[str]:
    """Every replica's base URL: each address of the host, each of `replicas` ports."""
    parts = urlsplit(base_url)
    host = parts.hostname or "127.0.0.1"
    first_port = parts.port or (443 if parts.scheme == "https" else 80)
    return [
        f"{parts.scheme}://{address}:{first_port + i}"
        for address in _addresses(host)
        for i in range(replicas)
    ]


def _addresses(host: str) -> list[str]:
    """The IPv4 addresses a service name resolves to; an IP literal or localhost as is."""
    if host == "localhost" or _is_ip(host):
        return [host]
    try:
        infos = socket.getaddrinfo(host, None, family=socket.AF_INET, type=socket.SOCK_STREAM)
    except OSError:
        return [host]  # its health check then says it is unreachable
    return sorted({str(info[4][0]) for info in infos}) or [host]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def replica_health(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    """{url, ok, ready, model_version, error} of one replica, from its GET /health."""
    try:
        response = await client.get(f"{url}/health")
        body = response.json()
    except Exception as exc:
        error = f"inference is unreachable ({type(exc).__name__})"
        return {"url": url, "ok": False, "ready": False, "model_version": None, "error": error}
    ready = bool(body.get("ready"))
    return {
        "url": url,
        "ok": response.status_code == 200 and ready,
        "ready": ready,
        "model_version": body.get("model_version"),
        "prior": body.get("model_prior"),
        "error": body.get("model_error"),
    }


async def inference_part(
    *, base_url: str, replicas: int, timeout: float, active: int | None
) -> dict[str, Any]:
    """Inference as one part of the system: ok when every replica is ready.

    `model_version` is the version every replica serves; while they differ (a new version
    is loading), the one still served besides the active version, and `converging` is true.
    """
    urls = await run_in_threadpool(replica_urls, base_url, replicas)
    async with httpx.AsyncClient(timeout=timeout) as client:
        found = await asyncio.gather(*(replica_health(client, url) for url in urls))
    return summarize(list(found), active=active)


def summarize(found: list[dict[str, Any]], *, active: int | None) -> dict[str, Any]:
    """The part's view of the replicas' own health answers (see inference_part)."""
    versions = [replica["model_version"] for replica in found]
    behind = [r for r in found if active is not None and r["model_version"] != active]
    errors = [replica["error"] for replica in found if replica["error"]]
    return {
        "ok": all(replica["ok"] for replica in found),
        "ready": all(replica["ready"] for replica in found),
        "model_version": behind[0]["model_version"] if behind and len(set(versions)) > 1 else versions[0],
        # Behind without an error: loading the new version. With one: its load failed, and
        # the replica keeps serving the version it had (see health.system_status).
        "prior": next((r.get("prior") for r in found if r.get("prior")), None),
        "converging": any(not r["error"] for r in behind),
        "stale": any(r["error"] for r in behind),
        "error": errors[0] if errors else None,
        "replicas": [{k: v for k, v in replica.items() if k != "ok"} for replica in found],
    }
