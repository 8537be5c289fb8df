"""GET /models, POST /models/{v}/activate, POST /models/import."""

from pathlib import Path

import h5py
import numpy as np
import pytest
from fastapi.testclient import TestClient
from redis import Redis
from rq import Queue
from training_api.config import Settings
from training_api.main import create_app
from training_api.worker import TrainingWorker

from tests.support.testfiles import zip_bomb_keras
from tests.support.training import make_settings
from tests.support.voc import make_seed_h5


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, models_dir: Path) -> Settings:
    return make_settings(models_dir=models_dir, data_dir=tmp_path / "data", redis_url=redis_url)


@pytest.fixture
def v1_client(settings: Settings):
    with TestClient(create_app(settings)) as client:
        yield client


def run_worker(settings: Settings) -> None:
    redis = Redis.from_url(settings.redis_url)
    TrainingWorker([Queue(settings.queue_name, connection=redis)], connection=redis).work(burst=True)


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
def test_import_publishes_an_inactive_version_then_rollback(
    v1_client: TestClient, settings: Settings, tmp_path: Path
):
    seed = make_seed_h5(tmp_path / "seed.h5")
    with open(seed, "rb") as f:
        r = v1_client.post("/models/import", files={"file": ("voc_multilabel_final.h5", f)})
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    run_worker(settings)
    job = v1_client.get(f"/jobs/{job_id}").json()
    assert job["status"] == "finished", job
    assert job["result"] == {"version": 2, "active": False, "imported": "voc_multilabel_final.h5"}
    assert list(settings.imports_dir.iterdir()) == [], "the uploaded file is removed after its import"
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


def test_import_refuses_a_keras_zip_bomb_before_unpacking(
    v1_client: TestClient, settings: Settings, tmp_path: Path
):
    bomb = zip_bomb_keras(tmp_path / "bomb.keras")
    assert bomb.stat().st_size < 600_000
    r = v1_client.post("/models/import", files={"file": ("bomb.keras", bomb.read_bytes())})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "import_refused"
    assert "config.json" in body["error"] and "256 MiB" in body["error"] and "16 MiB" in body["error"]
    assert list(settings.imports_dir.iterdir()) == [], "a refused upload is not kept"


@pytest.mark.slow
def test_import_error_names_the_file_as_uploaded_never_a_server_path(
    v1_client: TestClient, settings: Settings, tmp_path: Path
):
    not_a_model = tmp_path / "weights.h5"
    with h5py.File(not_a_model, "w") as h5:
        h5.create_dataset("numbers", data=np.arange(10))
    r = v1_client.post("/models/import", files={"file": ("mine.h5", not_a_model.read_bytes())})
    assert r.status_code == 202, r.text
    run_worker(settings)
    job = v1_client.get(f"/jobs/{r.json()['job_id']}").json()
    assert job["status"] == "failed"
    assert "'mine.h5' could not be loaded as a Keras model" in job["error"]
    for secret in (str(settings.data_dir), str(tmp_path), "/tmp/"):
        assert secret not in job["error"], job["error"]
    assert [v["version"] for v in v1_client.get("/models").json()["versions"]] == [1]
