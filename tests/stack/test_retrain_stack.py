"""The whole loop on the real stack, through the gateway only: predict, correct, retrain, serve.

These tests learn from corrections and judge the result, so they get a stack of their own:
corrections and versions left by other tests would change what a retrain learns and how
the gate decides.
"""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tagloop.classes import VOC_CLASSES

from tests.support.stack import Stack, running_stack
from tests.support.stack_checks import predict_photo as predict
from tests.support.stack_checks import wait_job
from tests.support.training import CONTRADICTING, image_bytes
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, v1_model_dir: Path) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("retrain-stack"), v1_model_dir) as system:
        yield system


def labels_of(reply: dict) -> list[str]:
    return sorted(label for label, p in reply["scores"].items() if p >= 0.5)


def upload_and_correct(
    client: httpx.Client, images: list[bytes], labels: list[list[str]], tag: str
) -> list[str]:
    ids = []
    for i, (data, wanted) in enumerate(zip(images, labels, strict=True)):
        reply = predict(client, data, f"{tag}{i}.jpg")
        assert labels_of(reply) != sorted(wanted), (i, reply["scores"])
        body = {
            "image_id": reply["image_id"],
            "corrected_labels": wanted,
            "model_version": reply["model_version"],
            "threshold": 0.5,
            "predicted": reply["scores"],
        }
        r = client.post("/save_correction", json=body)
        assert r.status_code == 200, r.text
        ids.append(reply["image_id"])
    return ids


def test_retrain_loop_serves_the_corrected_labels(gateway: httpx.Client):
    images = image_bytes(8)
    upload_and_correct(gateway, images, CONTRADICTING, "loop")
    accepted = gateway.post("/retrain", json={})
    assert accepted.status_code == 202, accepted.text
    job = wait_job(gateway, accepted.json()["job_id"], timeout=300)
    assert job["status"] == "finished", job
    result = job["result"]
    assert result["promoted"] is True, result["reason"]
    assert job["progress"]["stage"] == "scoring"

    wait_until(
        lambda: predict(gateway, images[0], "loop0.jpg")["model_version"] == result["version"],
        timeout=30,
        what="inference serves the new version",
    )
    replies = [predict(gateway, data, f"loop{i}.jpg") for i, data in enumerate(images)]
    assert {r["model_version"] for r in replies} == {result["version"]}
    matches = sum(labels_of(r) == sorted(c) for r, c in zip(replies, CONTRADICTING, strict=True))
    assert matches >= 7, [labels_of(r) for r in replies]
    assert set(VOC_CLASSES) == set(replies[0]["scores"])


def retrain_until_started(gateway: httpx.Client) -> tuple[list[int], str]:
    """The versions before, and the id of a retrain job once a worker runs it."""
    versions = [v["version"] for v in gateway.get("/models").json()["versions"]]
    job_id = gateway.post("/retrain", json={}).json()["job_id"]
    wait_until(
        lambda: gateway.get(f"/jobs/{job_id}").json()["status"] == "started", timeout=60, what="job started"
    )
    return versions, job_id


def test_killed_worker_fails_the_job_and_the_next_retrain_works(gateway: httpx.Client, stack: Stack):
    images = image_bytes(16)[8:]  # new images: the job has features to compute
    upload_and_correct(gateway, images, [[*list(reversed(c))[:1], "sheep"] for c in CONTRADICTING], "kill")
    versions, job_id = retrain_until_started(gateway)
    stack.kill("worker")
    try:
        job = wait_job(gateway, job_id, timeout=60)
        assert job["status"] == "failed", job
        assert "worker stopped" in job["error"]
        assert [v["version"] for v in gateway.get("/models").json()["versions"]] == versions
    finally:
        stack.start("worker")
    second = gateway.post("/retrain", json={}).json()
    assert second["job_id"] != job_id and second["created"] is True
    job = wait_job(gateway, second["job_id"], timeout=300)
    assert job["status"] == "finished", job
    assert job["result"]["version"] not in versions


def test_cancel_stops_a_running_retrain(gateway: httpx.Client):
    images = image_bytes(20)[16:]
    upload_and_correct(gateway, images, [["train"], ["bus"], ["cow"], ["sofa"]], "cancel")
    versions, job_id = retrain_until_started(gateway)
    r = gateway.delete(f"/jobs/{job_id}")
    assert r.status_code == 200, r.text
    job = wait_job(gateway, job_id, timeout=60)
    assert job["status"] in ("stopped", "failed"), job
    assert job["error"] == "cancelled while running; no version was published"
    assert [v["version"] for v in gateway.get("/models").json()["versions"]] == versions
