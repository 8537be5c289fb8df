"""Retraining a two-prior version: features hold the detector's scores, the fast publish path
(the .h5 top rewritten, the ONNX from the cached template) still serves what Keras computes."""

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tagloop.classes import CLASS_INDEX
from tagloop.model.onnx_export import export_method
from tagloop.model.publish import MODEL_FILE, ONNX_FILE, publish_model
from tagloop.store import ModelStore
from tagloop.training.features import FeatureCache, cached_features
from tagloop.training.fit import FitConfig
from tagloop.training.loaded import LoadedModel
from tagloop.version_meta import VersionMeta

pytestmark = pytest.mark.slow


def photo_bytes(name: str) -> bytes:
    from skimage import data

    image = getattr(data, name)()
    buffer = io.BytesIO()
    Image.fromarray(image[0] if isinstance(image, tuple) else image).convert("RGB").save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def two_prior_store(v1_model_dir: Path, tmp_path: Path) -> ModelStore:
    root = tmp_path / "models"
    shutil.copytree(v1_model_dir.parent.parent, root)
    store = ModelStore(root, v1_model_dir.parent.name)
    if len(store.meta(store.require_active()).inputs) != 2:
        pytest.skip("version 1 is not built with the COCO detector here")
    return store


def test_retrained_two_prior_version_learns_and_publishes_by_the_fast_path(
    two_prior_store: ModelStore, tmp_path: Path
) -> None:
    store, cache_dir = two_prior_store, tmp_path / "cache"
    parent_file = store.path(1) / MODEL_FILE
    loaded = LoadedModel.load(parent_file, backbone="efficientnet-lite0", cache_dir=cache_dir)
    assert loaded.detector is not None and loaded.backbone.engine == "onnxruntime"
    images = {name: photo_bytes(name) for name in ("astronaut", "chelsea", "coffee", "rocket")}
    features = cached_features(
        cache=FeatureCache(cache_dir, loaded.backbone.id),
        extract=loaded.backbone,
        keys=list(images),
        load_image=lambda key: loaded.backbone.prepare(images[key]),
    )
    x = features.x
    assert features.computed == 4 and x.shape == (4, 1280 + 20)
    # The detector's scores are the features' last 20: the astronaut's person score is high.
    assert x[0, 1280 + CLASS_INDEX["person"]] > 0.3
    y = np.zeros((4, 20), np.float32)
    y[0, CLASS_INDEX["person"]] = y[1, CLASS_INDEX["cat"]] = 1.0
    y[2, CLASS_INDEX["diningtable"]] = 1.0  # a correction the priors do not make
    loaded.top_trainer.fit(x, y, config=FitConfig(epochs=60, learning_rate=2e-3))
    assert loaded.top_trainer.predict(x[2:3])[0, CLASS_INDEX["diningtable"]] >= 0.5
    meta = VersionMeta(parent=1, samples=4, backbone="efficientnet-lite0", source="test")
    version = publish_model(
        store, loaded.model, meta, activate=True, cache_dir=cache_dir, top_only=loaded.top_only(parent_file)
    )
    published = store.meta(version)
    assert published.prior == "imagenet+coco"
    assert [i["name"] for i in published.inputs] == ["image", "detector_image"]
    assert (published.onnx_max_abs_diff or 1.0) <= 1e-4
    assert (export_method(store.path(version) / ONNX_FILE) or "").startswith("backbone+top")
    # A second publish reuses the cached template: same path, new weights.
    again = publish_model(
        store, loaded.model, meta, activate=False, cache_dir=cache_dir, top_only=loaded.top_only(parent_file)
    )
    assert (export_method(store.path(again) / ONNX_FILE) or "").startswith("backbone+top")
