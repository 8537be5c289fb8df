"""/health, /livez, /metrics, the 503 before any model, and no TensorFlow in the process."""

import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from inference_api.main import create_app
from tagloop.store import ModelStore

from tests.support.images import png_bytes
from tests.support.inference import MODEL_NAME, make_settings, publish_tiny
from tests.support.waiting import wait_until


def test_health_reports_the_served_version_and_redis(tiny_client: TestClient) -> None:
    reply = tiny_client.get("/health")
    assert reply.status_code == 200
    assert reply.json() == {
        "status": "ok",
        "ready": True,
        "model_version": 1,
        "model_error": None,
        "model_prior": None,  # the tiny test model's meta names no prior
        "model_inputs": [{"name": "image", "size": [224, 224]}],
        "redis": True,
    }


def test_livez_is_alive(tiny_client: TestClient) -> None:
    assert tiny_client.get("/livez").json() == {"status": "alive"}


def test_predict_is_503_until_a_version_is_published(tmp_path: Path, redis_url: str) -> None:
    models = tmp_path / "models"
    settings = make_settings(models_dir=models, data_dir=tmp_path / "data", redis_url=redis_url)
    with TestClient(create_app(settings)) as client:
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "starting" and health.json()["ready"] is False
        reply = client.post("/predict", files={"file": ("a.png", png_bytes(), "image/png")})
        assert reply.status_code == 503
        assert reply.json() == {
            "success": False,
            "error": "no model version is loaded yet; the service is starting",
            "code": "model_not_ready",
        }
        publish_tiny(ModelStore(models, MODEL_NAME))
        wait_until(
            lambda: client.get("/health").status_code == 200,
            timeout=5,
            what="the first published version picked up",
        )
        assert client.post("/predict", files={"file": ("a.png", png_bytes(), "image/png")}).status_code == 200


def test_metrics_count_requests_batches_and_version(tiny_client: TestClient) -> None:
    tiny_client.post("/predict", files={"file": ("a.png", png_bytes(), "image/png")})
    tiny_client.post("/predict", files={"file": ("a.txt", b"text", "text/plain")})
    files = [("files", (f"{i}.png", png_bytes(), "image/png")) for i in range(6)]
    tiny_client.post("/batch_predict", files=files)
    text = tiny_client.get("/metrics").text
    assert 'tagloop_inference_requests_total{route="/predict",status="200"} 1.0' in text
    assert 'tagloop_inference_requests_total{route="/predict",status="415"} 1.0' in text
    assert 'tagloop_inference_requests_total{route="/batch_predict",status="200"} 1.0' in text
    assert 'tagloop_inference_request_seconds_count{route="/predict"} 2.0' in text
    assert "tagloop_inference_batch_size_count 3.0" in text  # 1 + two chunks of the 6 (4 + 2)
    assert "tagloop_inference_images_total 7.0" in text
    assert "tagloop_inference_model_version 1.0" in text
    assert "tagloop_inference_reloads_total 1.0" in text
    assert "tagloop_inference_failed_reloads_total 0.0" in text


def test_service_never_imports_tensorflow(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from inference_api.main import create_app\n"
        "from inference_api.config import Settings\n"
        f"s = Settings(models_dir={str(tmp_path)!r}, data_dir={str(tmp_path)!r}, redis_url='redis://127.0.0.1:1/0')\n"
        "with TestClient(create_app(s)) as c:\n"
        "    c.get('/health')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf2onnx')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"
