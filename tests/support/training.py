"""Helpers of the training tests: test images (skimage photos and variants), settings."""

import hashlib
import socket
from pathlib import Path

import numpy as np
import onnxruntime as ort
from fastapi.testclient import TestClient
from PIL import Image, ImageOps
from redis import Redis
from rq import Queue
from skimage import data
from tagloop.classes import VOC_CLASSES
from tagloop.contract import session_inputs
from tagloop.images import load_image_arrays
from tagloop.store import ModelStore
from tagloop.training.candidate import changed_label_sets
from tagloop.uploads import UploadStore
from training_api.config import Settings
from training_api.worker import TrainingWorker

from tests.support.images import jpeg_bytes

QUEUE = "test-training"

# Labels that contradict what version 1 says about the eight photos of base_photos()
# (chelsea the cat becomes a dog, coffee a cat, ...).
CONTRADICTING = [
    ["dog"],
    ["cat"],
    ["aeroplane", "person"],
    ["boat"],
    ["person", "tvmonitor"],
    ["bicycle"],
    ["horse", "sheep"],
    ["bottle"],
]


def make_settings(**overrides) -> Settings:
    return Settings(queue_name=QUEUE, **overrides)


def _rgb(arr: np.ndarray) -> Image.Image:
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    return Image.fromarray(arr).convert("RGB")


def base_photos() -> list[Image.Image]:
    """Eight different photos shipped by scikit-image."""
    return [
        _rgb(a)
        for a in (
            data.chelsea(),
            data.coffee(),
            data.astronaut(),
            data.rocket(),
            data.camera(),
            data.stereo_motorcycle()[0],
            data.horse(),
            data.coins(),
        )
    ]


def variant(img: Image.Image, k: int) -> Image.Image:
    """The k-th deterministic variant of a photo: flips, crops, tints."""
    out = ImageOps.mirror(img) if k % 2 else img
    w, h = out.size
    c = (k // 2) % 4
    out = out.crop((c * w // 16, c * h // 16, w - c * w // 32, h - c * h // 32))
    tint = np.array([1.0, 1.0 - 0.04 * (k % 3), 1.0 - 0.03 * (k % 5)], dtype=np.float32)
    arr = np.clip(np.asarray(out, dtype=np.float32) * tint, 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def image_bytes(n: int) -> list[bytes]:
    """n distinct JPEGs: the eight photos first, then their variants."""
    photos = base_photos()
    return [jpeg_bytes(variant(photos[i % 8], i // 8)) for i in range(n)]


def sha(data_: bytes) -> str:
    return hashlib.sha256(data_).hexdigest()


def store_images(uploads_dir: Path, images: list[bytes]) -> list[str]:
    uploads = UploadStore(uploads_dir)
    return [uploads.put(b, f"img{i}.jpg") for i, b in enumerate(images)]


def dead_redis_url() -> str:
    """A Redis URL on a port where nothing listens (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def run_worker(settings: Settings) -> None:
    redis = Redis.from_url(settings.redis_url)
    TrainingWorker([Queue(settings.queue_name, connection=redis)], connection=redis).work(burst=True)


def serve(settings: Settings, version: int, images: list[bytes]) -> np.ndarray:
    """Probabilities as inference serves them: the version's ONNX export, the shared preprocessing."""
    store = ModelStore(settings.models_dir, settings.model_name)
    session = ort.InferenceSession(
        str(store.path(version) / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    inputs = session_inputs(session)  # a two-prior version takes each photo at two sizes
    arrays = [load_image_arrays(b, [size for _, size in inputs]) for b in images]
    feed = {name: np.stack([a[i] for a in arrays]) for i, (name, _) in enumerate(inputs)}
    return session.run(None, feed)[0]


def kept_labels(settings: Settings, before: int, after: int, images: list[bytes]) -> float:
    """The share of `images` whose label set the version `after` keeps from `before`, counted
    as the promotion rule counts the photos nobody corrected (a label flipped by less than the
    flip margin is not a change: a score that sat on a threshold flips either way on the
    numeric noise of another machine)."""
    meta = ModelStore(settings.models_dir, settings.model_name).meta
    changed = changed_label_sets(
        serve(settings, before, images),
        np.array(meta(before).threshold_list()),
        serve(settings, after, images),
        np.array(meta(after).threshold_list()),
        margin=settings.anchor_flip_margin,
    )
    return float(np.mean(~changed))


def label_sets(probabilities: np.ndarray, thresholds: np.ndarray | float = 0.5) -> list[list[str]]:
    return [[VOC_CLASSES[i] for i in np.flatnonzero(p >= thresholds)] for p in probabilities]


def other_photos() -> list[bytes]:
    """Twelve photos from scikit-image that none of base_photos() resembles (micrographs,
    a galaxy field, textures, text): what version 1 says of them should survive a retrain."""
    arrays = [
        data.immunohistochemistry(),
        data.hubble_deep_field(),
        data.retina(),
        data.clock(),
        data.colorwheel(),
        data.logo()[..., :3],
        data.moon(),
        data.page(),
        data.brick(),
        data.grass(),
        data.gravel(),
        data.text(),
    ]
    return [jpeg_bytes(_rgb(a)) for a in arrays]


def retrain(client: TestClient, settings: Settings, **body) -> dict:
    job_id = client.post("/retrain", json=body).json()["job_id"]
    run_worker(settings)
    job = client.get(f"/jobs/{job_id}").json()
    assert job["status"] == "finished", job
    return job


def correct(client: TestClient, image_ids: list[str], labels: list[list[str]]) -> None:
    for image_id, wanted in zip(image_ids, labels, strict=True):
        r = client.post("/save_correction", json={"image_id": image_id, "corrected_labels": wanted})
        assert r.status_code == 200, r.text
