"""Pooled backbone features, computed once per (image, backbone) and cached as .npy files.

    <cache_dir>/features/<backbone_id>/<ab>/<image sha256>.npy

The backbone is frozen, so an image's features never change for a given backbone: a
retrain computes features only for images it has not seen. `backbone_id` names the
backbone's weights (a hash of them), so a model with another backbone never reads
features of the wrong one.

A two-prior model's features are the pooled features followed by the COCO detector's 20
scores (computed by the detector's ONNX from the same image at 512 px): the cache id then
names the detector too.

Features are computed by ONNX Runtime on the backbone's cached ONNX export (the one
publishing joins each new top to) when it agrees with Keras on the probe images: about
5x faster than the Keras backbone on this CPU (20 images: 0.15 s against 0.8 s).
"""

import hashlib
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from tagloop.contract import probe_images
from tagloop.files import write_atomic
from tagloop.images import DEFAULT_LIMITS, SEED_SIZES, DecodeLimits, ImageError, Size, load_image_arrays
from tagloop.uploads import UnknownImageError

log = logging.getLogger(__name__)

FEATURE_BATCH = 16
"""Images per backbone call when computing features (memory vs. call overhead)."""
FEATURE_TOLERANCE = 1e-3
"""Largest allowed |ONNX - Keras| of a pooled feature on the probes, relative to the
largest feature (float32 round-off is ~1e-6 of it; a wrong conversion is far above 1e-3)."""

Images = np.ndarray | tuple[np.ndarray, ...]
"""A model's inputs for some images: (N, 224, 224, 3), or one array per input size."""
LoadImage = Callable[[str], np.ndarray | tuple[np.ndarray, ...]]
"""key -> one image as the model takes it (one array, or one per input size)."""
CountProgress = Callable[[int, int], None]
"""on_progress(done, total): images whose features are ready."""
Extract = Callable[[Images], np.ndarray]
"""images -> pooled features (N, D)."""


class Backbone:
    """A frozen backbone: its id, its features of the probe images, and a fast way to
    compute features (ONNX Runtime on its cached export when it has one that agrees with
    Keras, else Keras). Made once per loaded model; calling it extracts features."""

    def __init__(
        self,
        model: keras.Model,
        *,
        name: str = "backbone",
        cache_dir: Path | None = None,
        detector: Path | None = None,
    ):
        from tagloop.model.build import split_model
        from tagloop.model.detector import DetectorScores
        from tagloop.model.onnx_export import backbone_key, split_parts

        self.model, _ = split_model(model)
        self.sizes: tuple[Size, ...] = SEED_SIZES
        """The input sizes an image is prepared at (prepare())."""
        self.detector: DetectorScores | None = None
        if len(self.model.inputs) == 2:
            if detector is None:
                raise ValueError("this model takes the COCO detector's scores: give its ONNX (detector=)")
            self.detector = DetectorScores(detector)
            self.sizes = (*SEED_SIZES, (self.detector.side, self.detector.side))
        self.id = backbone_id(self.model, name=name, detector=detector if self.detector else None)
        self.probes: Images = tuple(probe_images(size=size[0]) for size in self.sizes)
        self.probe_features = self._keras(self.probes)
        self.key: str | None = None
        """backbone_key() of a tagloop backbone (its ONNX cache key); None for other models."""
        self._session = None
        if (parts := split_parts(model)) is not None:
            self.key = backbone_key(parts[0])
            if cache_dir is not None:
                self._session = self._onnx_session(parts[0], Path(cache_dir), self.key)

    @property
    def engine(self) -> str:
        return "onnxruntime" if self._session is not None else "keras"

    def prepare(self, data: bytes, *, limits: DecodeLimits = DEFAULT_LIMITS) -> tuple[np.ndarray, ...]:
        """An image file's bytes as this backbone takes them (decoded once, one array per size)."""
        return load_image_arrays(data, self.sizes, limits=limits)

    def __call__(self, images: Images) -> np.ndarray:
        inputs = self._inputs(images)
        if self._session is None:
            return self._keras_on(inputs)
        names = [i.name for i in self._session.get_inputs()]
        return self._session.run(None, {n: x.astype(np.float32) for n, x in zip(names, inputs, strict=True)})[
            0
        ]

    def _inputs(self, images: Images) -> list[np.ndarray]:
        """What the Keras backbone takes: the 224 images [, the detector's scores at 512]."""
        arrays = [images] if isinstance(images, np.ndarray) else list(images)
        if self.detector is None:
            return arrays[:1]
        return [arrays[0], self.detector(arrays[1])]

    def _keras(self, images: Images) -> np.ndarray:
        return self._keras_on(self._inputs(images))

    def _keras_on(self, inputs: list[np.ndarray]) -> np.ndarray:
        return np.asarray(self.model(inputs[0] if len(inputs) == 1 else inputs, training=False))

    def _onnx_session(self, backbone: keras.Model, cache_dir: Path, key: str):
        import onnxruntime as ort

        from tagloop.model.onnx_export import backbone_onnx

        options = ort.SessionOptions()
        # No spin-waiting threads after a batch: TensorFlow's training runs next, on the same cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = ort.InferenceSession(
                str(backbone_onnx(backbone, cache_dir, key=key)),
                sess_options=options,
                providers=["CPUExecutionProvider"],
            )
            names = [i.name for i in session.get_inputs()]
            actual = session.run(None, dict(zip(names, self._inputs(self.probes), strict=True)))[0]
            scale = max(float(np.max(np.abs(self.probe_features))), 1.0)
            diff = float(np.max(np.abs(actual - self.probe_features))) / scale
            if not diff <= FEATURE_TOLERANCE:
                raise ValueError(f"it differs from Keras by {diff:.3g} of the largest feature")
        except Exception as exc:  # Keras is the reference: slower, never wrong
            log.warning("features through Keras: the backbone's ONNX export is not usable (%s)", exc)
            return None
        return session


def backbone_id(features_model: keras.Model, *, name: str = "backbone", detector: Path | None = None) -> str:
    """A stable id of the backbone's weights (and of the detector whose scores join them):
    `name-<first 16 hex of their sha256>`."""
    digest = hashlib.sha256()
    if detector is not None:
        digest.update(b"detector:" + Path(detector).read_bytes())
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


UNUSABLE = (ImageError, UnknownImageError)
"""What load_image raises for an image a retrain skips: damaged, over the decode limits, gone."""


@dataclass(frozen=True)
class Features:
    """Features of the usable images among the keys asked for, and why the others were skipped."""

    keys: list[str]
    """The keys asked for, in order, less the skipped ones."""
    x: np.ndarray
    """(len(keys), D) float32."""
    computed: int
    """How many were computed now (not read from the cache)."""
    skipped: dict[str, str] = field(default_factory=dict)
    """key -> why its image could not be used (the image's error message)."""


def cached_features(
    *,
    cache: FeatureCache,
    extract: Extract,
    keys: Sequence[str],
    load_image: LoadImage,
    on_progress: CountProgress | None = None,
) -> Features:
    """Features of every key, computing only the missing ones. A key whose image cannot be
    used (load_image raises one of UNUSABLE) is skipped and named in `skipped`."""
    found: dict[str, np.ndarray] = {}
    for key in keys:
        if (value := cache.get(key)) is not None:
            found[key] = value
    missing = list(dict.fromkeys(key for key in keys if key not in found))
    skipped: dict[str, str] = {}
    for start in range(0, len(missing), FEATURE_BATCH):
        chunk = missing[start : start + FEATURE_BATCH]
        loaded = _load_usable(chunk, load_image, skipped)
        if loaded:
            _compute(loaded, extract, cache, found)
        if on_progress:
            on_progress(min(start + FEATURE_BATCH, len(missing)), len(missing))
    usable = [key for key in keys if key in found]
    x = np.stack([found[key] for key in usable]) if usable else np.zeros((0, 0), np.float32)
    return Features(usable, x.astype(np.float32), len(missing) - len(skipped), skipped)


def _load_usable(chunk: list[str], load_image: LoadImage, skipped: dict[str, str]) -> dict[str, Images]:
    """key -> its image, for the keys of `chunk` whose image can be used; the others go to `skipped`."""
    images: dict[str, Images] = {}
    for key in chunk:
        try:
            images[key] = load_image(key)
        except UNUSABLE as exc:
            skipped[key] = str(exc)
    return images


def _compute(images: dict[str, Images], extract: Extract, cache: FeatureCache, found: dict) -> None:
    """Features of `images` (one batch), into the cache and `found`."""
    arrays = list(images.values())
    batch: Images = (
        np.stack(arrays)
        if isinstance(arrays[0], np.ndarray)
        else tuple(np.stack(parts) for parts in zip(*arrays, strict=True))
    )
    for key, row in zip(images, extract(batch), strict=True):
        cache.put(key, row)
        found[key] = row
