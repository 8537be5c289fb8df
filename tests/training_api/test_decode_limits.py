"""Inference and a retrain decode uploads under the same limits (TAGLOOP_MAX_DECODE_BYTES,
TAGLOOP_MAX_IMAGE_PIXELS), and a retrain leaves out a stored upload it cannot decode."""

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from inference_api.main import create_app as create_inference_app
from PIL import Image
from skimage import data
from tagloop.uploads import UploadStore
from training_api.main import create_app as create_training_app

from tests.support import inference
from tests.support.training import correct, image_bytes, make_settings, retrain, run_worker, sha, store_images

pytestmark = pytest.mark.slow

MIB = 1024 * 1024
RAISED = 128 * MIB
"""Above the default 64 MiB: what an operator who accepts larger photos sets."""


def big_cat_png() -> bytes:
    """A 4200x4100 RGB PNG of the cat: 66 MiB decoded (over the default 64 MiB), 0.5 MB on disk."""
    img = Image.fromarray(data.chelsea()).resize((4200, 4100), Image.Resampling.NEAREST)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def predict(data_dir: Path, models_dir: Path, redis_url: str, photo: bytes, **limits: int) -> dict:
    settings = inference.make_settings(
        models_dir=models_dir, data_dir=data_dir, redis_url=redis_url, **limits
    )
    with TestClient(create_inference_app(settings)) as client:
        response = client.post("/predict", files={"file": ("big-cat.png", photo, "image/png")})
    return {"status": response.status_code, **response.json()}


def damage(uploads: UploadStore, image_id: str) -> None:
    """What a bad disk does to a stored upload: its bytes cut short."""
    path = uploads.path_of(image_id)
    stored = path.read_bytes()
    path.write_bytes(stored[: len(stored) // 2])


def test_a_raised_decode_limit_lets_inference_and_retrains_use_the_photo(
    tmp_path: Path, redis_url: str, models_dir: Path
):
    data_dir, photo = tmp_path / "data", big_cat_png()
    refused = predict(data_dir, models_dir, redis_url, photo)
    assert refused["status"] == 413 and refused["code"] == "image_too_large"
    assert "the limit is 64 MiB" in refused["error"]
    served = predict(data_dir, models_dir, redis_url, photo, max_decode_bytes=RAISED)
    assert served["status"] == 200 and served["image_id"] == sha(photo)
    assert "cat" in [p["label"] for p in served["predictions"]]

    # The same uploads, and one stored upload damaged on disk, corrected and retrained:
    # first with the default limit, then with the raised one inference used.
    uploads = UploadStore(data_dir / "uploads")
    others = store_images(uploads.root, image_bytes(3))
    damaged = store_images(uploads.root, image_bytes(4)[3:])[0]
    damage(uploads, damaged)
    corrected = [served["image_id"], *others, damaged]
    labels = [["cat"], ["dog"], ["cat"], ["person"], ["boat"]]

    default = make_settings(models_dir=models_dir, data_dir=data_dir, redis_url=redis_url)
    with TestClient(create_training_app(default)) as client:
        correct(client, corrected, labels)
        result = retrain(client, default)["result"]
    assert result["samples"] == 3  # the three photos it can decode
    skipped = {s["image_id"]: s for s in result["skipped"]}
    assert set(skipped) == {served["image_id"], damaged}
    assert skipped[served["image_id"]]["corrected"] is True
    assert "66 MiB of memory; the limit is 64 MiB" in skipped[served["image_id"]]["reason"]
    assert "damaged or truncated" in skipped[damaged]["reason"]

    raised = make_settings(
        models_dir=models_dir, data_dir=data_dir, redis_url=redis_url, max_decode_bytes=RAISED
    )
    with TestClient(create_training_app(raised)) as client:
        result = retrain(client, raised)["result"]
    assert result["samples"] == 4  # the big photo is learned from
    assert [s["image_id"] for s in result["skipped"]] == [damaged]


def test_a_retrain_leaves_out_an_uncorrected_upload_it_cannot_decode(
    tmp_path: Path, redis_url: str, models_dir: Path
):
    # Recent uploads nobody corrected are trained on too (anchors): a damaged one is left out.
    settings = make_settings(models_dir=models_dir, data_dir=tmp_path / "data", redis_url=redis_url)
    uploads = UploadStore(settings.uploads_dir)
    photos = image_bytes(3)
    corrected = store_images(uploads.root, photos[:2])
    anchor = store_images(uploads.root, photos[2:])[0]
    damage(uploads, anchor)
    with TestClient(create_training_app(settings)) as client:
        correct(client, corrected, [["dog"], ["cat"]])
        result = retrain(client, settings)["result"]
    assert result["samples"] == 2
    assert result["skipped"] == [
        {"image_id": anchor, "corrected": False, "reason": result["skipped"][0]["reason"]}
    ]
    assert "damaged or truncated" in result["skipped"][0]["reason"]


def test_a_retrain_whose_every_correction_is_undecodable_fails_saying_why(
    tmp_path: Path, redis_url: str, models_dir: Path
):
    settings = make_settings(models_dir=models_dir, data_dir=tmp_path / "data", redis_url=redis_url)
    uploads = UploadStore(settings.uploads_dir)
    [only] = store_images(uploads.root, image_bytes(1))
    damage(uploads, only)
    with TestClient(create_training_app(settings)) as client:
        correct(client, [only], [["dog"]])
        job_id = client.post("/retrain", json={}).json()["job_id"]
        run_worker(settings)
        job = client.get(f"/jobs/{job_id}").json()
    assert job["status"] == "failed"
    assert job["error"].startswith("none of the 1 corrected photos can be decoded")
    assert "damaged or truncated" in job["error"]
