import time

import pytest
from tagloop.model.bootstrap import ensure_first_version
from tagloop.settings import CommonSettings
from tagloop.store import ModelStore


def test_ensure_first_version_creates_version_once(tmp_path, data_dir, weights):
    settings = CommonSettings(models_dir=tmp_path / "models", data_dir=data_dir, prior="imagenet")
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


@pytest.mark.parametrize("prior", ["imagenet", "imagenet+coco"])
def test_without_the_detector_files_version_1_is_the_imagenet_prior(tmp_path, data_dir, weights, prior):
    """TAGLOOP_PRIOR=imagenet, or a detector setup could not fetch: Lite0 alone, as before."""
    settings = CommonSettings(
        models_dir=tmp_path / "models", data_dir=data_dir, prior=prior, detector_dir=tmp_path / "no-detector"
    )
    assert ensure_first_version(settings) == 1
    meta = ModelStore(settings.models_dir, settings.model_name).meta(1)
    assert meta.prior == "imagenet" and meta.source == "imagenet-prior"
    assert meta.inputs == [{"name": "image", "size": [224, 224]}]
