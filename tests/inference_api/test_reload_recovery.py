"""Reload edge cases: a broken active version at start, error text without paths, memory."""

import weakref
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from inference_api.main import create_app
from tagloop.heap import trim_heap
from tagloop.store import ModelStore

from tests.support.images import png_bytes
from tests.support.inference import MODEL_NAME, make_settings, publish_raw_onnx, publish_tiny, served_version
from tests.support.waiting import wait_until


def test_start_with_a_corrupt_active_version_serves_the_newest_version_that_loads(
    tiny_models_dir: Path, tmp_path: Path, redis_url: str
) -> None:
    store = ModelStore(tiny_models_dir, MODEL_NAME)
    good = publish_tiny(store, bias=1.0)
    publish_tiny(store, nan=True)  # newer, but fails its checks: skipped
    corrupt = publish_raw_onnx(store, b"not an onnx model")
    settings = make_settings(models_dir=tiny_models_dir, data_dir=tmp_path, redis_url=redis_url)
    with TestClient(create_app(settings)) as client:
        health = client.get("/health")
        assert health.status_code == 200
        body = health.json()
        assert body["ready"] is True and body["model_version"] == good
        assert body["model_error"] == (
            f"active version {corrupt} failed to load: model.onnx is not a valid ONNX file "
            f"(Protobuf parsing failed); serving version {good} instead"
        )
        assert served_version(client) == good
        newer = publish_tiny(store, bias=-1.0)  # the pointer moves on: loaded as usual
        wait_until(lambda: client.get("/health").json()["model_version"] == newer, timeout=5)
        assert client.get("/health").json()["model_error"] is None


def test_start_with_a_corrupt_active_version_serves_its_parent_before_newer_versions(
    tiny_models_dir: Path, tmp_path: Path, redis_url: str
) -> None:
    store = ModelStore(tiny_models_dir, MODEL_NAME)
    publish_tiny(store, bias=1.0, activate=False)  # newer than 1 but never promoted
    corrupt = publish_raw_onnx(store, b"", parent=1)  # trained from version 1, then corrupted
    settings = make_settings(models_dir=tiny_models_dir, data_dir=tmp_path, redis_url=redis_url)
    with TestClient(create_app(settings)) as client:
        body = client.get("/health").json()
        assert body["ready"] is True and body["model_version"] == 1
        assert body["model_error"] == (
            f"active version {corrupt} failed to load: model.onnx is not a valid ONNX file "
            "(No graph was found in the protobuf); serving version 1 instead"
        )


def test_start_with_every_version_broken_stays_not_ready_and_says_why(tmp_path: Path, redis_url: str) -> None:
    store = ModelStore(tmp_path / "models", MODEL_NAME)
    publish_tiny(store, outputs=7)
    corrupt = publish_raw_onnx(store, b"\x00garbage")
    settings = make_settings(models_dir=tmp_path / "models", data_dir=tmp_path / "data", redis_url=redis_url)
    with TestClient(create_app(settings)) as client:
        health = client.get("/health")
        assert health.status_code == 503 and health.json()["ready"] is False
        assert health.json()["model_error"].startswith(f"version {corrupt} failed to load: ")
        reply = client.post("/predict", files={"file": ("a.png", png_bytes(), "image/png")})
        assert reply.status_code == 503 and reply.json()["error"] == health.json()["model_error"]


def test_start_with_the_fallback_reactivated_clears_the_error(
    tiny_models_dir: Path, tmp_path: Path, redis_url: str
) -> None:
    store = ModelStore(tiny_models_dir, MODEL_NAME)
    publish_raw_onnx(store, b"not an onnx model")
    settings = make_settings(models_dir=tiny_models_dir, data_dir=tmp_path, redis_url=redis_url)
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").json()["model_version"] == 1
        store.activate(1)
        wait_until(lambda: client.get("/health").json()["model_error"] is None, timeout=5)
        assert served_version(client) == 1


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not an onnx model", "model.onnx is not a valid ONNX file (Protobuf parsing failed)"),
        (b"", "model.onnx is not a valid ONNX file (No graph was found in the protobuf)"),
        (None, "model.onnx does not exist"),
    ],
)
def test_reload_error_names_the_version_and_reason_without_server_paths(
    tiny_client: TestClient, tiny_models_dir: Path, data: bytes | None, reason: str
) -> None:
    store = ModelStore(tiny_models_dir, MODEL_NAME)
    if data is None:
        # Published inactive, so the reloader cannot load it before the file is gone.
        bad = publish_tiny(store, bias=3.0, activate=False)
        (store.path(bad) / "model.onnx").unlink()
        store.activate(bad)
    else:
        bad = publish_raw_onnx(store, data)
    wait_until(lambda: tiny_client.get("/health").json()["model_error"] is not None, timeout=5)
    error = tiny_client.get("/health").json()["model_error"]
    assert error == f"version {bad} failed to load: {reason}"
    assert str(tiny_models_dir) not in error and "/" not in error


def test_trim_heap_gives_memory_back_on_glibc() -> None:
    assert trim_heap() is True  # the reference machine and the images run glibc


def test_reload_trims_the_heap_once_the_retired_model_is_released(
    tiny_client: TestClient, tiny_models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slot = tiny_client.app.state.predictor.slot  # type: ignore[attr-defined]
    held = slot.require()  # a request still on version 1
    retired = weakref.ref(held)
    trims_after_release: list[bool] = []

    def spy() -> bool:  # the real trim, noting whether version 1 was gone by then
        trims_after_release.append(retired() is None)
        return trim_heap()

    monkeypatch.setattr("inference_api.reloader.trim_heap", spy)
    version = publish_tiny(ModelStore(tiny_models_dir, MODEL_NAME), bias=2.0)
    wait_until(lambda: slot.version == version, timeout=5)
    assert not any(trims_after_release)
    del held
    wait_until(lambda: any(trims_after_release), timeout=3)
