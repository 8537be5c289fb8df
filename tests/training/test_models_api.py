"""GET /models, POST /models/{v}/activate, POST /models/import."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.training import make_settings
from support.voc import make_seed_h5
from training_api.main import create_app


@pytest.fixture
def v1_client(tmp_path: Path, redis_url: str, models_dir: Path):
    settings = make_settings(models_dir=models_dir, data_dir=tmp_path / "data", redis_url=redis_url)
    with TestClient(create_app(settings)) as client:
        yield client


def test_list_models_shows_version_1(v1_client: TestClient):
    body = v1_client.get("/models").json()
    assert body["success"] is True and body["active"] == 1
    [v1] = body["versions"]
    assert (
        v1["version"] == 1
        and v1["active"] is True
        and v1["parent"] is None
        and v1["source"] == f"{v1['prior']}-prior"
        and v1["prior"] in ("imagenet+coco", "imagenet")
    )


def test_activate_unknown_version_is_404(v1_client: TestClient):
    r = v1_client.post("/models/7/activate")
    assert r.status_code == 404
    assert r.json() == {
        "success": False,
        "error": "model version 7 does not exist",
        "code": "version_not_found",
    }


@pytest.mark.slow
def test_import_publishes_an_inactive_version_then_rollback(v1_client: TestClient, tmp_path: Path):
    seed = make_seed_h5(tmp_path / "seed.h5")
    with open(seed, "rb") as f:
        r = v1_client.post("/models/import", files={"file": ("voc_multilabel_final.h5", f)})
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "version": 2, "active": False}
    assert v1_client.get("/models").json()["active"] == 1
    assert v1_client.post("/models/2/activate").json() == {"success": True, "active": 2}
    assert v1_client.post("/models/1/activate").json()["active"] == 1


def test_import_refuses_a_file_that_is_no_model(v1_client: TestClient):
    r = v1_client.post("/models/import", files={"file": ("model.h5", b"garbage")})
    assert r.status_code == 422
    assert "could not be loaded as a Keras model" in r.json()["error"]
    r = v1_client.post("/models/import", files={"file": ("model.txt", b"garbage")})
    assert r.status_code == 422 and "only .h5 and .keras" in r.json()["error"]
    assert [v["version"] for v in v1_client.get("/models").json()["versions"]] == [1]
