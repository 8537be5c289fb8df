"""POST /retrain, GET/DELETE /jobs/{id}, health: queue behaviour without running any job."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from rq.job import Job, JobStatus
from training_api.config import Settings
from training_api.main import create_app

from tests.support.training import dead_redis_url, image_bytes, make_settings, store_images


def _with_correction(client: TestClient, settings: Settings) -> str:
    [image_id] = store_images(settings.uploads_dir, image_bytes(1))
    assert (
        client.post("/save_correction", json={"image_id": image_id, "corrected_labels": ["dog"]}).status_code
        == 200
    )
    return image_id


def test_retrain_without_corrections_is_refused(client: TestClient):
    r = client.post("/retrain", json={})
    assert r.status_code == 422
    assert "no corrections" in r.json()["error"]


def test_retrain_returns_202_with_a_queued_job(client: TestClient, settings: Settings):
    _with_correction(client, settings)
    r = client.post("/retrain", json={"epochs": 3})
    assert r.status_code == 202
    body = r.json()
    assert body["success"] is True and body["status"] == "queued" and body["created"] is True
    job = client.get(f"/jobs/{body['job_id']}").json()
    assert job["status"] == "queued" and job["result"] is None and job["error"] is None


def test_retrain_is_single_flight_under_concurrent_requests(client: TestClient, settings: Settings):
    _with_correction(client, settings)
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: client.post("/retrain", json={}), range(8)))
    assert all(r.status_code == 202 for r in replies)
    assert len({r.json()["job_id"] for r in replies}) == 1
    assert sum(r.json()["created"] for r in replies) == 1


def test_retrain_after_cancel_starts_a_new_job(client: TestClient, settings: Settings):
    _with_correction(client, settings)
    first = client.post("/retrain", json={}).json()["job_id"]
    cancelled = client.delete(f"/jobs/{first}")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "canceled"
    assert "cancelled" in cancelled.json()["error"]
    again = client.post("/retrain", json={}).json()
    assert again["job_id"] != first and again["created"] is True


def test_retrain_after_cancelling_a_running_job_starts_a_new_job(client: TestClient, settings: Settings):
    """The review's case: a retrain sent while a cancelled job winds down returned that job."""
    _with_correction(client, settings)
    first = client.post("/retrain", json={}).json()["job_id"]
    redis = Redis.from_url(settings.redis_url)
    Job.fetch(first, connection=redis).set_status(JobStatus.STARTED)  # as a worker that took it
    assert client.delete(f"/jobs/{first}").status_code == 200
    again = client.post("/retrain", json={})
    assert again.status_code == 202 and again.json()["created"] is True
    assert again.json()["job_id"] != first


@pytest.mark.parametrize(
    "body",
    [{"epochs": True}, {"epochs": "3"}, {"epochs": 2**63}, {"epochs": 2.5}, {"force": "yes"}, {"force": 1}],
)
def test_retrain_options_are_strictly_typed(client: TestClient, settings: Settings, body: dict):
    _with_correction(client, settings)
    r = client.post("/retrain", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["success"] is False


def test_cancel_of_ended_job_is_refused(client: TestClient, settings: Settings):
    _with_correction(client, settings)
    job_id = client.post("/retrain", json={}).json()["job_id"]
    client.delete(f"/jobs/{job_id}")
    r = client.delete(f"/jobs/{job_id}")
    assert r.status_code == 409
    assert "nothing to cancel" in r.json()["error"]


@pytest.mark.parametrize("job_id", ["has space", "ünïcode", "a.b;c"])
def test_get_job_with_odd_id_is_404(client: TestClient, job_id: str):
    r = client.get(f"/jobs/{job_id}")
    assert r.status_code == 404
    assert r.json() == {"success": False, "error": f"no job has id {job_id}", "code": "job_not_found"}
    assert client.delete(f"/jobs/{job_id}").status_code == 404


def test_get_unknown_job_is_404(client: TestClient):
    r = client.get("/jobs/does-not-exist")
    assert r.status_code == 404
    assert r.json() == {"success": False, "error": "no job has id does-not-exist", "code": "job_not_found"}
    assert client.delete("/jobs/does-not-exist").status_code == 404


def test_retrain_with_redis_down_is_503(tmp_path, settings: Settings):
    down = make_settings(
        models_dir=tmp_path / "models", data_dir=settings.data_dir, redis_url=dead_redis_url()
    )
    with TestClient(create_app(down)) as client:
        _with_correction(client, down)
        r = client.post("/retrain", json={})
        assert r.status_code == 503
        assert r.json() == {
            "success": False,
            "error": "the job queue (Redis) is unavailable; retraining is not possible until it is back",
            "code": "queue_unavailable",
        }
        assert client.get("/jobs/abc").status_code == 503
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json() == {"status": "degraded", "redis": False, "database": True, "workers": 0}


def test_retrain_rejects_bad_epochs(client: TestClient):
    r = client.post("/retrain", json={"epochs": 0})
    assert r.status_code == 422 and "epochs" in r.json()["error"]


def test_health_counts_no_worker_as_degraded(client: TestClient):
    r = client.get("/health")
    assert r.status_code == 503
    assert r.json() == {"status": "degraded", "redis": True, "database": True, "workers": 0}
    assert client.get("/livez").json() == {"status": "alive"}


def test_system_health_reports_unreachable_inference(tmp_path, redis_url: str):
    settings = make_settings(
        models_dir=tmp_path / "models",
        data_dir=tmp_path / "data",
        redis_url=redis_url,
        inference_url=dead_redis_url().replace("redis://", "http://").rsplit("/", 1)[0],
    )
    with TestClient(create_app(settings)) as client:
        r = client.get("/health/system")
    assert r.status_code == 503
    body = r.json()
    assert body["success"] is False and body["status"] == "degraded"
    assert body["parts"]["inference"]["ok"] is False
    assert "unreachable" in body["parts"]["inference"]["error"]
    assert body["parts"]["redis"] == {"ok": True}
    assert body["parts"]["workers"] == {"ok": False, "count": 0}
    assert body["parts"]["training_api"] == {"ok": True}


def test_retrain_accepts_an_empty_body(client: TestClient, settings: Settings):
    _with_correction(client, settings)
    r = client.post("/retrain")
    assert r.status_code == 202 and r.json()["status"] == "queued"


def test_auto_retrain_after_n_corrections(tmp_path, redis_url: str):
    settings = make_settings(
        models_dir=tmp_path / "models", data_dir=tmp_path / "data", redis_url=redis_url, auto_retrain_after=2
    )
    ids = store_images(settings.uploads_dir, image_bytes(2))
    with TestClient(create_app(settings)) as client:
        first = client.post("/save_correction", json={"image_id": ids[0], "corrected_labels": ["dog"]}).json()
        second = client.post(
            "/save_correction", json={"image_id": ids[1], "corrected_labels": ["cat"]}
        ).json()
        assert first["auto_retrain_job"] is None
        job_id = second["auto_retrain_job"]
        assert job_id and client.get(f"/jobs/{job_id}").json()["status"] == "queued"
