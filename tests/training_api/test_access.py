"""The admin token: model-changing actions need it; the rest stay open unless closed too."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from training_api.main import create_app

from tests.support.training import make_settings

TOKEN = "s3cret-token"
NEEDS_TOKEN = "this action needs the admin token: send it as 'Authorization: Bearer <token>'"


def client_with(tmp_path: Path, redis_url: str, models_dir: Path, **settings) -> TestClient:
    return TestClient(
        create_app(
            make_settings(models_dir=models_dir, data_dir=tmp_path / "data", redis_url=redis_url, **settings)
        )
    )


@pytest.fixture
def guarded(tmp_path: Path, redis_url: str, models_dir: Path) -> Iterator[TestClient]:
    with client_with(tmp_path, redis_url, models_dir, admin_token=TOKEN) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/retrain"), ("POST", "/models/1/activate"), ("POST", "/models/import"), ("DELETE", "/jobs/x")],
)
def test_model_changing_action_refused_without_token(guarded: TestClient, method: str, path: str) -> None:
    reply = guarded.request(method, path)
    assert reply.status_code == 401
    assert reply.json() == {"success": False, "error": NEEDS_TOKEN, "code": "not_authorized"}
    assert reply.headers["www-authenticate"] == "Bearer"


def test_activate_refused_with_wrong_token(guarded: TestClient) -> None:
    reply = guarded.post("/models/1/activate", headers={"authorization": "Bearer wrong"})
    assert reply.status_code == 401
    assert reply.json()["error"] == NEEDS_TOKEN


def test_activate_allowed_with_token(guarded: TestClient) -> None:
    reply = guarded.post("/models/1/activate", headers={"authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 200
    assert reply.json()["active"] == 1


def test_corrections_and_models_stay_open_with_token_set(guarded: TestClient) -> None:
    assert guarded.get("/get_corrections").status_code == 200
    assert guarded.get("/models").status_code == 200


def test_token_for_all_closes_corrections_too(tmp_path: Path, redis_url: str, models_dir: Path) -> None:
    with client_with(tmp_path, redis_url, models_dir, admin_token=TOKEN, token_for_all=True) as client:
        closed = client.get("/get_corrections")
        assert closed.status_code == 401 and closed.json()["error"] == NEEDS_TOKEN
        assert client.post("/save_correction", json={}).status_code == 401
        opened = client.get("/get_corrections", headers={"authorization": f"Bearer {TOKEN}"})
        assert opened.status_code == 200


def test_no_token_set_leaves_everything_open(tmp_path: Path, redis_url: str, models_dir: Path) -> None:
    with client_with(tmp_path, redis_url, models_dir) as client:
        assert client.post("/models/1/activate").status_code == 200
