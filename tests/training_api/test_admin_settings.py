"""Admin-only settings stay admin-only: a session's automatic retrain needs the admin token,
and integers a column cannot hold are refused (422), not a database error (500)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from training_api.main import create_app

from tests.support.training import make_settings

TOKEN = "s3cret-token"
ADMIN = {"authorization": f"Bearer {TOKEN}"}
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def guarded(tmp_path: Path, redis_url: str, models_dir: Path) -> Iterator[TestClient]:
    settings = make_settings(
        models_dir=models_dir, data_dir=tmp_path / "data", redis_url=redis_url, admin_token=TOKEN
    )
    with TestClient(create_app(settings), headers=SAME_ORIGIN) as client:
        yield client


def test_create_session_with_auto_retrain_needs_token(guarded: TestClient) -> None:
    refused = guarded.post("/sessions", json={"name": "s", "auto_retrain_after": 1})
    assert refused.status_code == 401, refused.text
    assert refused.json()["code"] == "not_authorized"
    assert "admin token" in refused.json()["error"]
    assert guarded.get("/sessions").json()["sessions"] == []
    allowed = guarded.post("/sessions", json={"name": "s", "auto_retrain_after": 1}, headers=ADMIN)
    assert allowed.status_code == 201, allowed.text
    assert allowed.json()["session"]["auto_retrain_after"] == 1


def test_create_session_without_auto_retrain_stays_open(guarded: TestClient) -> None:
    reply = guarded.post("/sessions", json={"name": "s", "auto_retrain_after": 0})
    assert reply.status_code == 201, reply.text


def test_patch_session_auto_retrain_needs_token(guarded: TestClient) -> None:
    session_id = guarded.post("/sessions", json={"name": "s"}).json()["session"]["id"]
    refused = guarded.patch(f"/sessions/{session_id}", json={"auto_retrain_after": 1})
    assert refused.status_code == 401, refused.text
    assert refused.json()["code"] == "not_authorized"
    detail = guarded.get(f"/sessions/{session_id}").json()
    assert detail["session"]["auto_retrain_after"] == 0
    assert guarded.patch(f"/sessions/{session_id}", json={"name": "renamed"}).status_code == 200
    allowed = guarded.patch(f"/sessions/{session_id}", json={"auto_retrain_after": 3}, headers=ADMIN)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["session"]["auto_retrain_after"] == 3
    # Turning it off is not an admin action: it can only start fewer retrains.
    assert guarded.patch(f"/sessions/{session_id}", json={"auto_retrain_after": 0}).status_code == 200


@pytest.mark.parametrize("version", [2**31, 2**63, -1])
def test_create_session_with_out_of_range_model_version_is_refused(guarded: TestClient, version: int) -> None:
    item = {"image_id": "a" * 64, "scores": {"person": 0.5}, "model_version": version}
    reply = guarded.post("/sessions", json={"name": "s", "items": [item]})
    assert reply.status_code == 422, reply.text
    assert reply.json()["success"] is False and reply.json()["code"]
