"""Backbone features for training: ONNX Runtime on the cached backbone export, Keras as the reference."""

import keras
import numpy as np
import onnx
import pytest
from tagloop.model.build import split_model
from tagloop.model.onnx_export import backbone_key, cached_backbone_path, split_parts
from tagloop.training.features import FEATURE_TOLERANCE, Backbone, FeatureCache, cached_features


@pytest.fixture(scope="module")
def images(photos) -> np.ndarray:
    noise = np.random.default_rng(5).random((3, 224, 224, 3), dtype=np.float32)
    return np.concatenate([np.stack(list(photos.values())), noise])


def _relative_diff(actual: np.ndarray, expected: np.ndarray) -> float:
    return float(np.max(np.abs(actual - expected)) / max(np.max(np.abs(expected)), 1.0))


def test_features_through_onnx_runtime_match_keras(model, images, tmp_path):
    backbone = Backbone(model, name="lite0", cache_dir=tmp_path)
    assert backbone.engine == "onnxruntime"
    assert cached_backbone_path(tmp_path, backbone_key(split_parts(model)[0])).exists()  # converted once
    keras_features = np.asarray(split_model(model)[0](images, training=False))
    actual = backbone(images)
    assert actual.shape == keras_features.shape == (len(images), 1280)
    assert _relative_diff(actual, keras_features) <= FEATURE_TOLERANCE
    # The features tell the photos apart (not a constant output).
    assert _relative_diff(actual[0], actual[1]) > 0.05


def test_same_id_whatever_the_engine(model, tmp_path):
    # The feature cache is keyed by the backbone's weights, not by how features are computed.
    assert Backbone(model, name="lite0", cache_dir=tmp_path).id == Backbone(model, name="lite0").id


def test_without_cache_dir_keras_computes(model, images):
    backbone = Backbone(model, name="lite0")
    assert backbone.engine == "keras"
    expected = np.asarray(split_model(model)[0](images, training=False))
    assert np.array_equal(backbone(images), expected)


def test_wrong_cached_backbone_is_not_used(model, images, tmp_path, caplog):
    # A cached export that loads but computes something else: Keras computes the features.
    first = Backbone(model, name="lite0", cache_dir=tmp_path)
    path = cached_backbone_path(tmp_path, backbone_key(split_parts(model)[0]))
    wrong = onnx.load(str(path))
    biggest = max(wrong.graph.initializer, key=lambda t: len(t.raw_data))
    biggest.raw_data = np.zeros(len(biggest.raw_data) // 4, np.float32).tobytes()
    onnx.save(wrong, str(path))
    backbone = Backbone(model, name="lite0", cache_dir=tmp_path)
    assert backbone.engine == "keras"
    assert "not usable" in caplog.text
    assert _relative_diff(backbone(images), first(images)) <= FEATURE_TOLERANCE


def test_seed_style_model_uses_keras(tmp_path, images):
    x = image = keras.Input((224, 224, 3))
    for layer in [
        keras.layers.Conv2D(8, 3, strides=4, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(20, activation="sigmoid"),
    ]:
        x = layer(x)
    seed = keras.Model(image, x)
    backbone = Backbone(seed, cache_dir=tmp_path)
    assert backbone.engine == "keras"
    assert backbone(images).shape == (len(images), 8)
    assert not (tmp_path / "onnx").exists()  # nothing converted for a model without a "backbone"


def test_cached_features_computes_only_new_images(model, images, tmp_path):
    backbone = Backbone(model, name="lite0", cache_dir=tmp_path)
    cache = FeatureCache(tmp_path, backbone.id)
    keys = [f"{i:02d}" * 32 for i in range(len(images))]
    loads: list[str] = []

    def load(key: str) -> np.ndarray:
        loads.append(key)
        return images[keys.index(key)]

    first = cached_features(cache=cache, extract=backbone, keys=keys[:3], load_image=load)
    x = first.x
    assert first.computed == 3 and x.shape == (3, 1280)
    second = cached_features(cache=cache, extract=backbone, keys=keys, load_image=load)
    x2 = second.x
    assert second.computed == len(keys) - 3 and not second.skipped
    assert loads == keys  # each image decoded once
    assert np.array_equal(x2[:3], x)
