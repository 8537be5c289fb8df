"""Concurrent writers: corrections saved at once are all kept; retrains requested at once are one job."""

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from tagloop.classes import VOC_CLASSES

from tests.support.stack import Stack
from tests.support.stack_checks import predict_new_images, wait_job
from tests.support.testfiles import unique_seed

pytestmark = pytest.mark.integration

CLIENTS = 8
CORRECTIONS = 200
IMAGES = 10


def all_corrections(client: httpx.Client) -> list[dict]:
    """Every stored correction (not only the latest per image), page by page."""
    rows: list[dict] = []
    while True:
        reply = client.get("/get_corrections", params={"all": "true", "limit": 500, "offset": len(rows)})
        assert reply.status_code == 200, reply.text
        page = reply.json()["corrections"]
        rows += page
        if len(page) < 500:
            return rows


def test_save_correction_by_8_clients_keeps_all_200(gateway: httpx.Client, stack: Stack, record) -> None:
    """8 clients save 200 corrections at once: all 200 are in the history, none altered."""
    image_ids = predict_new_images(gateway, [unique_seed() for _ in range(IMAGES)])
    rng = random.Random(7)
    planned = [
        (image_ids[i % IMAGES], sorted(rng.sample(VOC_CLASSES, rng.randint(0, 3)), key=VOC_CLASSES.index))
        for i in range(CORRECTIONS)
    ]
    start = threading.Barrier(CLIENTS)

    def client_run(k: int) -> list[int]:
        statuses = []
        with httpx.Client(base_url=stack.url, timeout=60) as client:
            start.wait()
            for image_id, labels in planned[k::CLIENTS]:
                reply = client.post(
                    "/save_correction", json={"image_id": image_id, "corrected_labels": labels}
                )
                statuses.append(reply.status_code)
        return statuses

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        statuses = [s for part in pool.map(client_run, range(CLIENTS)) for s in part]
    elapsed = time.monotonic() - began
    assert Counter(statuses) == {200: CORRECTIONS}, Counter(statuses)
    stored = [c for c in all_corrections(gateway) if c["image_id"] in set(image_ids)]
    assert len(stored) == CORRECTIONS
    assert Counter((c["image_id"], tuple(c["corrected_labels"])) for c in stored) == Counter(
        (i, tuple(labels)) for i, labels in planned
    )
    histories = sum(len(gateway.get(f"/corrections/{i}").json()["corrections"]) for i in image_ids)
    assert histories == CORRECTIONS
    record(
        f"{CORRECTIONS}/{CORRECTIONS} saved and listed in {elapsed:.1f}s",
        corrections_per_s=round(CORRECTIONS / elapsed, 1),
    )


def test_retrain_by_8_clients_at_once_is_one_job(
    gateway: httpx.Client, stack: Stack, record, restore_version_1: None
) -> None:
    """8 clients ask for a retrain at the same moment: one job, the same id for all; it finishes."""
    [image_id] = predict_new_images(gateway, [unique_seed()])
    assert (
        gateway.post("/save_correction", json={"image_id": image_id, "corrected_labels": ["cat"]}).status_code
        == 200
    )
    start = threading.Barrier(CLIENTS)

    def ask(_: int) -> httpx.Response:
        with httpx.Client(base_url=stack.url, timeout=60) as client:
            start.wait()
            return client.post("/retrain", json={"epochs": 5})

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        replies = list(pool.map(ask, range(CLIENTS)))
    assert [r.status_code for r in replies] == [202] * CLIENTS, [r.text for r in replies]
    job_ids = {r.json()["job_id"] for r in replies}
    assert len(job_ids) == 1, job_ids
    assert sum(r.json()["created"] for r in replies) == 1
    began = time.monotonic()
    state = wait_job(gateway, job_ids.pop(), timeout=300)
    assert state["status"] == "finished", state
    result = state["result"] or {}
    record(
        f"1 job for {CLIENTS} requests; finished in {time.monotonic() - began:.1f}s, "
        f"samples={result.get('samples')}, promoted={result.get('promoted')}, "
        f"version={result.get('version')}",
    )
