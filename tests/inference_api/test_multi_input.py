"""A model with one input per resolution (as the two-prior model: 224 and 512): the service
reads the inputs from the graph, decodes each image once and resizes it for each input."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from fastapi.testclient import TestClient
from inference_api.engine import load_version
from tagloop.classes import VOC_CLASSES
from tagloop.images import load_image_arrays
from tagloop.store import ModelStore

from tests.support.images import jpeg_bytes
from tests.support.inference import MODEL_NAME, publish_tiny, serving


@pytest.fixture
def two_input_models_dir(tmp_path: Path) -> Path:
    root = tmp_path / "two-input-models"
    publish_tiny(ModelStore(root, MODEL_NAME), second_input=512)
    return root


@pytest.fixture
def two_input_client(two_input_models_dir: Path, tmp_path: Path, redis_url: str) -> Iterator[TestClient]:
    yield from serving(two_input_models_dir, tmp_path, redis_url)


def test_engine_reads_each_input_name_and_size(two_input_models_dir: Path) -> None:
    model = load_version(folder=two_input_models_dir / MODEL_NAME / "1", version=1)
    assert model.inputs == (("image", (224, 224)), ("detector_image", (512, 512)))


def test_predict_feeds_the_photo_at_each_size(
    two_input_client: TestClient, two_input_models_dir: Path
) -> None:
    photo = jpeg_bytes(size=(1600, 1200))
    reply = two_input_client.post(
        "/predict", files={"file": ("p.jpg", photo, "image/jpeg")}, data={"threshold": "0"}
    )
    assert reply.status_code == 200, reply.text
    served = np.array([reply.json()["scores"][c] for c in VOC_CLASSES])
    # The same file through the shared preprocessing and ONNX Runtime directly.
    small, big = load_image_arrays(photo, [(224, 224), (512, 512)])
    session = ort.InferenceSession(str(two_input_models_dir / MODEL_NAME / "1" / "model.onnx"))
    expected = session.run(None, {"image": small[np.newaxis], "detector_image": big[np.newaxis]})[0][0]
    np.testing.assert_allclose(served, expected, atol=1e-6)
    health = two_input_client.get("/health").json()
    assert health["model_inputs"] == [
        {"name": "image", "size": [224, 224]},
        {"name": "detector_image", "size": [512, 512]},
    ]


def test_batch_predict_serves_a_two_input_model(two_input_client: TestClient) -> None:
    files = [("files", (f"{i}.jpg", jpeg_bytes(color=(40 * i, 90, 20)), "image/jpeg")) for i in range(3)]
    reply = two_input_client.post("/batch_predict", files=files)
    assert reply.status_code == 200, reply.text
    assert len(reply.json()["results"]) == 3
