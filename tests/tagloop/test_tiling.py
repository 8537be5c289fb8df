"""Sliced inference (tagloop.tiling): small people in a large photo are found in its tiles,
by the served model and through the inference service with TAGLOOP_TILE_SIZE."""

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from fastapi.testclient import TestClient
from inference_api.main import create_app
from PIL import Image
from tagloop.classes import CLASS_INDEX
from tagloop.contract import session_inputs
from tagloop.settings import CommonSettings
from tagloop.tiling import tile_boxes, views

from tests.support.images import jpeg_bytes
from tests.support.inference import make_settings
from tests.support.stack import REPO

PHOTOS = REPO / "tests" / "fixtures" / "photos"
PERSON = CLASS_INDEX["person"]
DETECTOR_DIR = REPO / CommonSettings().detector_dir


def test_tile_boxes_cover_a_large_photo_with_overlap_and_skip_a_small_one():
    boxes = tile_boxes(2048, 1536, tile=640, overlap=0.2)
    assert len(boxes) == 4 * 3
    assert {b[0] for b in boxes} == {0, 512, 1024, 1408} and {b[1] for b in boxes} == {0, 512, 896}
    assert all(b[2] - b[0] == 640 and b[3] - b[1] == 640 for b in boxes)
    assert tile_boxes(640, 480, tile=640) == []


def small_person_photo() -> Image.Image:
    """A 2048 x 1536 lake with one person 160 px wide: about 25 px at the detector's 320."""
    photo = Image.open(PHOTOS / "lake.jpg").convert("RGB").resize((2048, 1536))
    person = Image.open(PHOTOS / "portrait_jacket.jpg").convert("RGB")
    photo.paste(person.resize((160, round(person.height * 160 / person.width))), (1200, 700))
    return photo


def tiled_scores(
    session: ort.InferenceSession, img: Image.Image, sizes, *, tile: int
) -> tuple[np.ndarray, np.ndarray]:
    """(full-view scores, class-wise max over every row) of the served model on one photo."""
    batch = views(img, sizes, tile=tile)
    names = [i.name for i in session.get_inputs()]
    scores = session.run(None, {name: batch[size] for name, size in zip(names, sizes, strict=True)})[0]
    return scores[0], scores.max(axis=0)


@pytest.mark.skipif(
    not (DETECTOR_DIR / "centernet.bin").is_file(), reason="scripts/setup could not fetch the COCO detector"
)
def test_tiled_scores_find_a_small_person_the_full_view_misses(v1_model_dir: Path):
    session = ort.InferenceSession(str(v1_model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    sizes = [size for _, size in session_inputs(session)]
    full, tiled = tiled_scores(session, small_person_photo(), sizes, tile=640)
    assert full[PERSON] < 0.5 <= tiled[PERSON]  # measured: 0.30 and 0.68
    assert np.all(np.delete(tiled, PERSON) < 0.5)  # and no other label appears


@pytest.mark.skipif(
    not (DETECTOR_DIR / "centernet.bin").is_file(), reason="scripts/setup could not fetch the COCO detector"
)
def test_the_service_tiles_with_tile_size_set(models_dir: Path, tmp_path: Path, redis_url: str):
    """/predict and /batch_predict of the same large photo: "person" with TAGLOOP_TILE_SIZE=640
    only, and a small photo beside it in a batch keeps its own scores."""
    large = jpeg_bytes(small_person_photo())
    small = (PHOTOS / "lake.jpg").read_bytes()
    files = [("files", ("large.jpg", large, "image/jpeg")), ("files", ("lake.jpg", small, "image/jpeg"))]
    person = {}
    for tile in (0, 640):
        settings = make_settings(
            models_dir=models_dir, data_dir=tmp_path / f"data{tile}", redis_url=redis_url, tile_size=tile
        )
        with TestClient(create_app(settings)) as client:
            one = client.post("/predict", files={"file": ("large.jpg", large, "image/jpeg")}).json()
            batch = client.post("/batch_predict", files=files).json()["results"]
        assert batch[0]["scores"] == pytest.approx(one["scores"], abs=1e-4)
        person[tile] = one["scores"]["person"], batch[1]["scores"]["person"]
    assert person[0][0] < 0.5 <= person[640][0]
    assert person[0][1] == pytest.approx(person[640][1], abs=1e-4)  # lake.jpg (380 px) is one row either way
