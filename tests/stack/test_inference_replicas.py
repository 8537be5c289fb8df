"""Two inference replicas behind the gateway, started under supervisord as `make run` does
with TAGLOOP_INFERENCE_REPLICAS=2: both listed in /health, a retrain's new version on both
soon after its activation, and no request lost to a reload or to a stopped replica."""

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tagloop.store import ModelStore

from tests.support import stack_checks
from tests.support.clients import Clients
from tests.support.images import jpeg_bytes
from tests.support.stack import MODEL_NAME, Stack, running_stack
from tests.support.training import CONTRADICTING, image_bytes
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPLICAS = 2
CONVERGENCE_S = 3.0
"""After an activation every replica serves the new version within this many seconds."""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, v1_model_dir: Path) -> Iterator[Stack]:
    # Four clients in a loop from one address: above the default per-address rate limit.
    unlimited = {"TAGLOOP_PREDICT_RATE": "1000r/s", "TAGLOOP_PREDICT_BURST": "1000"}
    with running_stack(
        tmp_path_factory.mktemp("replicas"), v1_model_dir, unlimited, replicas=REPLICAS
    ) as system:
        yield system


@pytest.fixture(scope="module")
def photo() -> bytes:
    return jpeg_bytes(size=(640, 480))


def served_versions(stack: Stack) -> list[int | None]:
    """What each replica serves, asked directly (not through the gateway)."""
    versions: list[int | None] = []
    for url in stack.replica_urls:
        try:
            versions.append(httpx.get(f"{url}/health", timeout=2).json().get("model_version"))
        except (httpx.HTTPError, ValueError):
            versions.append(None)
    return versions


class ConvergenceWatch:
    """Samples the active pointer and every replica's version until stopped; tells how long
    after the activation of `version` the last replica served it."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.store = ModelStore(stack.models_dir, MODEL_NAME)
        self.samples: list[tuple[float, int | None, list[int | None]]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "ConvergenceWatch":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)

    def _loop(self) -> None:
        while not self.stop.wait(0.05):
            self.samples.append((time.monotonic(), self.store.active_version(), served_versions(self.stack)))

    def seconds_to_converge(self, version: int) -> float:
        activated = next(t for t, active, _ in self.samples if active == version)
        converged = next(t for t, _, served in self.samples if all(v == version for v in served))
        return converged - activated


def correct_and_retrain(gateway: httpx.Client) -> int:
    """Corrections that version 1 gets wrong, then a retrain; returns the promoted version."""
    for i, (data, labels) in enumerate(zip(image_bytes(8), CONTRADICTING, strict=True)):
        reply = gateway.post("/predict", files={"file": (f"r{i}.jpg", data, "image/jpeg")})
        assert reply.status_code == 200, reply.text
        saved = gateway.post(
            "/save_correction", json={"image_id": reply.json()["image_id"], "corrected_labels": labels}
        )
        assert saved.status_code == 200, saved.text
    accepted = gateway.post("/retrain", json={})
    assert accepted.status_code == 202, accepted.text
    job = stack_checks.wait_job(gateway, accepted.json()["job_id"], until=stack_checks.ENDED, timeout=240)
    assert job["status"] == "finished" and job["result"]["promoted"], job
    return int(job["result"]["version"])


def test_health_lists_every_replica_on_the_active_version(stack: Stack, gateway: httpx.Client) -> None:
    body = gateway.get("/health").json()
    assert body["status"] == "ok", body
    active = ModelStore(stack.models_dir, MODEL_NAME).require_active()
    replicas = body["parts"]["inference"]["replicas"]
    assert [r["url"] for r in replicas] == stack.replica_urls
    assert all(r["ready"] and r["model_version"] == active for r in replicas), replicas


def test_a_retrain_reaches_every_replica_without_a_failed_request(
    stack: Stack, gateway: httpx.Client, photo: bytes
) -> None:
    with Clients(stack.url, photo, n=4, interval=0.1) as clients, ConvergenceWatch(stack) as watch:
        new = correct_and_retrain(gateway)
        wait_until(
            lambda: served_versions(stack) == [new] * REPLICAS, timeout=30, what="replicas on the new version"
        )
        time.sleep(0.5)  # a few answers from the new version on both replicas
    failed = [a for a in clients.answers if a.status != 200]
    assert clients.answers and failed == [], failed[:5]
    seconds = watch.seconds_to_converge(new)
    print(
        f"{REPLICAS} replicas served version {new} {seconds:.2f} s after its activation;"
        f" {len(clients.answers)} requests from 4 clients, {len(failed)} failed"
    )
    assert seconds <= CONVERGENCE_S, watch.samples[-5:]
    body = gateway.get("/health").json()
    assert body["status"] == "ok" and body["parts"]["inference"]["model_version"] == new, body


def test_a_stopped_replica_costs_no_request_and_shows_in_health(
    stack: Stack, gateway: httpx.Client, photo: bytes
) -> None:
    with Clients(stack.url, photo, n=4, interval=0.1) as clients:
        time.sleep(0.5)
        stack.kill("inference.2", signal.SIGTERM)
        wait_until(lambda: gateway.get("/health").json()["status"] == "degraded", timeout=10, what="degraded")
        body = gateway.get("/health").json()
        time.sleep(1.0)  # requests keep coming while the replica is gone
        stack.start("inference.2")
        stack.wait_ready()
    failed = [a for a in clients.answers if a.status != 200]
    assert clients.answers and failed == [], failed[:5]
    down = [r for r in body["parts"]["inference"]["replicas"] if not r["ready"]]
    assert [r["url"] for r in down] == [stack.replica_urls[1]], body
    assert "unreachable" in down[0]["error"]


def test_a_replica_killed_under_load_costs_no_request_and_comes_back(stack: Stack, photo: bytes) -> None:
    """SIGKILL cuts the requests the replica held: the gateway resends them to the other
    one (safe: an upload is stored by its content), and supervisord restarts it."""
    with Clients(stack.url, photo, n=4, interval=0.05) as clients:
        time.sleep(1.0)
        killed = stack.crash("inference.2")
        time.sleep(1.0)  # requests keep coming while it restarts
        stack.wait_ready()
    failed = [a for a in clients.answers if a.status != 200]
    assert clients.answers and failed == [], failed[:5]
    assert stack.pid("inference.2") != killed
