import time

from tagloop.model.bootstrap import ensure_first_version
from tagloop.settings import CommonSettings
from tagloop.store import ModelStore


def test_ensure_first_version_creates_version_once(tmp_path, data_dir, weights):
    settings = CommonSettings(models_dir=tmp_path / "models", data_dir=data_dir)
    announced: list[int] = []
    started = time.monotonic()
    assert ensure_first_version(settings, announce=announced.append) == 1
    assert time.monotonic() - started < 60
    assert ensure_first_version(settings, announce=announced.append) is None
    store = ModelStore(settings.models_dir, settings.model_name)
    assert store.version_numbers() == [1]
    assert store.active_version() == 1
    assert announced == [1]
    meta = store.meta(1)
    assert meta.source == "imagenet-prior"
    assert meta.parent is None
    assert meta.samples == 0
