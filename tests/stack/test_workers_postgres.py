"""Scaled out: three RQ workers sharing Redis, the corrections in a real PostgreSQL, the
whole system under supervisord. One retrain at a time whatever the number of workers or of
requests, its progress readable while one of the workers runs it, and what it learned
read from PostgreSQL."""

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from rq import Queue, Worker
from rq.job import Job

from tests.support import stack_checks
from tests.support.postgres import new_database
from tests.support.stack import Stack, running_stack
from tests.support.training import CONTRADICTING, image_bytes
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORKERS = 3
QUEUE = "tagloop-training"


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, v1_model_dir: Path, postgres_server: str
) -> Iterator[Stack]:
    database = {"TAGLOOP_DATABASE_URL": new_database(postgres_server)}
    with running_stack(tmp_path_factory.mktemp("workers"), v1_model_dir, database, workers=WORKERS) as system:
        # The stack is ready with one worker; the others may still be importing TensorFlow.
        wait_until(lambda: worker_count(system) == WORKERS, timeout=240, what=f"{WORKERS} workers")
        yield system


def worker_count(stack: Stack) -> int:
    return httpx.get(f"{stack.url}/health", timeout=10).json()["parts"]["workers"]["count"]


@pytest.fixture
def queue(stack: Stack) -> Iterator[Queue]:
    connection = redis.Redis.from_url(stack.redis_url)
    yield Queue(QUEUE, connection=connection)
    connection.close()


def save_corrections(gateway: httpx.Client) -> None:
    for i, (data, labels) in enumerate(zip(image_bytes(8), CONTRADICTING, strict=True)):
        reply = gateway.post("/predict", files={"file": (f"w{i}.jpg", data, "image/jpeg")})
        assert reply.status_code == 200, reply.text
        body = {"image_id": reply.json()["image_id"], "corrected_labels": labels}
        assert gateway.post("/save_correction", json=body).status_code == 200


def retrain_from_many_clients(url: str, clients: int) -> list[httpx.Response]:
    """`clients` POST /retrain at the same moment."""
    start = threading.Barrier(clients)
    replies: list[httpx.Response] = []

    def ask() -> None:
        start.wait()
        replies.append(httpx.post(f"{url}/retrain", json={}, timeout=30))

    threads = [threading.Thread(target=ask) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return replies


def follow(gateway: httpx.Client, queue: Queue, job_id: str) -> tuple[dict, list[str], int]:
    """Polls the job until it ends: (final state, progress stages seen, most busy workers)."""
    stages: list[str] = []
    most_busy = 0

    def ended() -> dict | None:
        nonlocal most_busy
        state = gateway.get(f"/jobs/{job_id}").json()
        stage = state["progress"].get("stage")
        if stage and (not stages or stages[-1] != stage):
            stages.append(stage)
        most_busy = max(most_busy, sum(w.get_state() == "busy" for w in Worker.all(queue=queue)))
        return state if state["status"] in stack_checks.ENDED else None

    state = wait_until(ended, timeout=300, interval=0.1, what=f"job {job_id} ended")
    return state, stages, most_busy


def test_health_counts_every_worker(gateway: httpx.Client) -> None:
    body = gateway.get("/health").json()
    assert body["parts"]["workers"] == {"ok": True, "count": WORKERS}, body


def test_one_retrain_at_a_time_with_three_workers_and_progress_shows(
    stack: Stack, gateway: httpx.Client, queue: Queue
) -> None:
    save_corrections(gateway)
    replies = retrain_from_many_clients(stack.url, clients=6)
    assert [r.status_code for r in replies] == [202] * 6, [r.text for r in replies]
    job_ids = {r.json()["job_id"] for r in replies}
    assert len(job_ids) == 1, job_ids
    [job_id] = job_ids

    state, stages, most_busy = follow(gateway, queue, job_id)
    assert state["status"] == "finished", state
    assert most_busy == 1
    assert stages and stages[-1] == "scoring", stages
    assert state["progress"]["stage"] == "scoring"
    # Every correction, saved through the gateway into PostgreSQL, reached the worker.
    assert gateway.get("/get_corrections").json()["total"] == len(CONTRADICTING)
    assert state["result"]["promoted"] is True and state["result"]["samples"] >= 1, state["result"]
    assert Job.fetch(job_id, connection=queue.connection).worker_name

    again = gateway.post("/retrain", json={})
    assert again.status_code == 202 and again.json()["job_id"] != job_id
    stack_checks.wait_job(gateway, again.json()["job_id"], until=stack_checks.ENDED, timeout=300)
