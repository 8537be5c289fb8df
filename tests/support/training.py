"""Helpers of the training tests: test images (skimage photos and variants), settings."""

import hashlib
import socket
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from skimage import data
from tagloop.uploads import UploadStore
from training_api.config import Settings

from support.images import jpeg_bytes

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
