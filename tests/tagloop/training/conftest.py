"""A tiny published model to retrain (no stack, no backbone work)."""

from pathlib import Path

import pytest
from tagloop.store import ModelStore
from tagloop.version_meta import VersionMeta

from tests.support.voc import make_seed_h5


@pytest.fixture
def store_with_seed(tmp_path: Path) -> tuple[ModelStore, Path]:
    import keras
    from tagloop.model.publish import publish_model

    store = ModelStore(tmp_path / "models", "tagloop")
    cache = tmp_path / "cache"
    model = keras.models.load_model(make_seed_h5(tmp_path / "seed.h5"), compile=False)
    publish_model(
        store, model, VersionMeta(source="test seed", backbone="seed"), activate=True, cache_dir=cache
    )
    return store, cache
