"""Per-class thresholds: a version's own (from its meta.json) unless the request gives one."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from fastapi.testclient import TestClient
from inference_api.main import create_app
from tagloop.classes import VOC_CLASSES
from tagloop.images import load_image_array
from tagloop.store import ModelStore
from tagloop.version_meta import VersionMeta

from tests.support.images import jpeg_bytes
from tests.support.inference import MODEL_NAME, make_settings, tiny_onnx

PHOTO = jpeg_bytes(size=(64, 48), color=(30, 160, 220))


def tiny_scores(folder: Path) -> np.ndarray:
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: load_image_array(PHOTO)[np.newaxis]})[0][0]


@pytest.fixture
def calibrated(tmp_path: Path) -> tuple[Path, dict[str, float], set[str]]:
    """A store whose version 1 has a threshold for every even class: just under the photo's
    score (so it is predicted) or, for every other one, just over it."""
    store = ModelStore(tmp_path / "models", MODEL_NAME)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    tiny_onnx(scratch / "model.onnx")
    scores = tiny_scores(scratch)
    thresholds, expected = {}, set()
    for i, name in enumerate(VOC_CLASSES[::2]):
        score = float(scores[VOC_CLASSES.index(name)])
        thresholds[name] = round(score - 0.01 if i % 2 == 0 else score + 0.01, 4)
        if i % 2 == 0:
            expected.add(name)
    expected |= {
        name for name, s in zip(VOC_CLASSES, scores, strict=True) if name not in thresholds and s >= 0.5
    }
    store.publish(lambda f: tiny_onnx(f / "model.onnx"), VersionMeta(thresholds=thresholds), activate=True)
    return tmp_path / "models", thresholds, expected


@pytest.fixture
def client(calibrated, tmp_path: Path, redis_url: str) -> Iterator[TestClient]:
    settings = make_settings(models_dir=calibrated[0], data_dir=tmp_path / "data", redis_url=redis_url)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_predict_uses_and_returns_the_versions_thresholds(client: TestClient, calibrated) -> None:
    _, thresholds, expected = calibrated
    body = client.post("/predict", files={"file": ("a.jpg", PHOTO, "image/jpeg")}).json()
    assert body["thresholds"] == {name: thresholds.get(name, 0.5) for name in VOC_CLASSES}
    assert {p["label"] for p in body["predictions"]} == expected


def test_a_requests_threshold_overrides_the_versions(client: TestClient) -> None:
    body = client.post(
        "/predict", files={"file": ("a.jpg", PHOTO, "image/jpeg")}, data={"threshold": "0.5"}
    ).json()
    assert body["thresholds"] == dict.fromkeys(VOC_CLASSES, 0.5)
    assert {p["label"] for p in body["predictions"]} == {k for k, v in body["scores"].items() if v >= 0.5}


def test_batch_predict_uses_the_versions_thresholds(client: TestClient, calibrated) -> None:
    _, thresholds, expected = calibrated
    files = [("files", ("a.jpg", PHOTO, "image/jpeg")), ("files", ("b.jpg", PHOTO, "image/jpeg"))]
    body = client.post("/batch_predict", files=files).json()
    assert body["thresholds"] == {name: thresholds.get(name, 0.5) for name in VOC_CLASSES}
    assert [{p["label"] for p in r["predictions"]} for r in body["results"]] == [expected, expected]
