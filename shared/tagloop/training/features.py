"""Pooled backbone features, computed once per (image, backbone) and cached as .npy files.

    <cache_dir>/features/<backbone_id>/<ab>/<image sha256>.npy

The backbone is frozen, so an image's features never change for a given backbone: a
retrain computes features only for images it has not seen. `backbone_id` names the
backbone's weights (a hash of them), so a model with another backbone never reads
features of the wrong one.
"""

import hashlib
import io
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np

from tagloop.files import write_atomic

FEATURE_BATCH = 16
"""Images per backbone call when computing features (memory vs. call overhead)."""

LoadImage = Callable[[str], np.ndarray]
Progress = Callable[[int, int], None]


def backbone_id(features_model: keras.Model, *, name: str = "backbone") -> str:
    """A stable id of the backbone's weights: `name-<first 16 hex of their sha256>`."""
    digest = hashlib.sha256()
    for weight in features_model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return f"{name}-{digest.hexdigest()[:16]}"


class FeatureCache:
    def __init__(self, cache_dir: Path, backbone: str):
        self.dir = Path(cache_dir) / "features" / backbone

    def path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        try:
            return np.load(self.path(key))
        except (FileNotFoundError, ValueError, OSError):
            return None  # missing, or a damaged file: recompute

    def put(self, key: str, features: np.ndarray) -> None:
        """Write atomically (temp file + rename): a killed worker leaves no half file."""
        buffer = io.BytesIO()
        np.save(buffer, features.astype(np.float32))
        write_atomic(self.path(key), buffer.getvalue())


def cached_features(
    *,
    cache: FeatureCache,
    features_model: keras.Model,
    keys: Sequence[str],
    load_image: LoadImage,
    on_progress: Progress | None = None,
) -> tuple[np.ndarray, int]:
    """Features of every key (N, D), computing only the missing ones; returns (x, computed)."""
    found: dict[str, np.ndarray] = {}
    for key in keys:
        if (value := cache.get(key)) is not None:
            found[key] = value
    missing = list(dict.fromkeys(key for key in keys if key not in found))
    for start in range(0, len(missing), FEATURE_BATCH):
        chunk = missing[start : start + FEATURE_BATCH]
        batch = np.stack([load_image(key) for key in chunk])
        outputs = np.asarray(features_model(batch, training=False))
        for key, row in zip(chunk, outputs, strict=True):
            cache.put(key, row)
            found[key] = row
        if on_progress:
            on_progress(min(start + FEATURE_BATCH, len(missing)), len(missing))
    x = np.stack([found[key] for key in keys]) if keys else np.zeros((0, 0), np.float32)
    return x.astype(np.float32), len(missing)
