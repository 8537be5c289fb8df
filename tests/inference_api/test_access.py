"""Predictions are open even with an admin token, unless TAGLOOP_TOKEN_FOR_ALL closes them."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from inference_api.main import create_app

from tests.support.images import jpeg_bytes
from tests.support.inference import make_settings

TOKEN = "s3cret-token"


def client_with(tiny_models_dir: Path, tmp_path: Path, redis_url: str, **settings) -> TestClient:
    return TestClient(
        create_app(
            make_settings(
                models_dir=tiny_models_dir, data_dir=tmp_path / "d", redis_url=redis_url, **settings
            )
        )
    )


def test_predict_open_when_only_admin_token_is_set(
    tiny_models_dir: Path, tmp_path: Path, redis_url: str
) -> None:
    with client_with(tiny_models_dir, tmp_path, redis_url, admin_token=TOKEN) as client:
        reply = client.post("/predict", files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")})
        assert reply.status_code == 200


@pytest.mark.parametrize("path", ["/predict", "/batch_predict"])
def test_predict_needs_token_when_closed_for_all(
    tiny_models_dir: Path, tmp_path: Path, redis_url: str, path: str
) -> None:
    field = "file" if path == "/predict" else "files"
    files = {field: ("a.jpg", jpeg_bytes(), "image/jpeg")}
    with client_with(tiny_models_dir, tmp_path, redis_url, admin_token=TOKEN, token_for_all=True) as client:
        refused = client.post(path, files=files)
        assert refused.status_code == 401
        assert "needs the admin token" in refused.json()["error"]
        assert client.post(path, files=files, headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
