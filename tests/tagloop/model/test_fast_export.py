"""Publishing by backbone + top: the backbone's ONNX converted once and cached, and the joined
graph cached as a template into which each export copies the top's weights."""

import os
import time

import keras
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from tagloop.contract import probe_images
from tagloop.model.build import load_model, split_model
from tagloop.model.onnx_export import (
    BACKBONE_CACHE_DIR,
    INPUT_NAME,
    PARITY_TOLERANCE,
    backbone_key,
    cached_backbone_path,
    cached_template_path,
    export_checked,
    export_method,
    split_parts,
    template_key,
)
from tagloop.model.publish import MODEL_FILE, ONNX_FILE, TopOnly, publish_model
from tagloop.store import ModelStore
from tagloop.version_meta import VersionMeta


@pytest.fixture(scope="module")
def probes() -> np.ndarray:
    return probe_images()


@pytest.fixture(scope="module")
def export_cache(tmp_path_factory):
    """A cache directory of this module's own: the first publish here must fill it."""
    return tmp_path_factory.mktemp("export-cache")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> ModelStore:
    return ModelStore(tmp_path_factory.mktemp("models"), "voc")


@pytest.fixture(scope="module")
def v1_h5(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("v1") / MODEL_FILE
    model.save(path)
    return path


@pytest.fixture(scope="module")
def retrained(v1_h5) -> keras.Model:
    """A v2 as the trainer has it: v1 reloaded from its .h5, head weights changed."""
    loaded = load_model(v1_h5)
    _, top = split_model(loaded)
    rng = np.random.default_rng(7)
    logits = top.get_layer("head_logits")
    logits.set_weights([rng.normal(0.0, 0.05, w.shape).astype(np.float32) for w in logits.get_weights()])
    return loaded


@pytest.fixture(scope="module")
def first(store, model, export_cache) -> dict:
    started = time.perf_counter()
    version = publish_model(store, model, VersionMeta(), activate=True, cache_dir=export_cache)
    seconds = time.perf_counter() - started
    cached = _cache_files(export_cache)
    print(f"\nfirst publish (converts the backbone): {seconds:.2f} s")
    return {"version": version, "seconds": seconds, "cached": cached, "mtime": cached[0].stat().st_mtime_ns}


@pytest.fixture(scope="module")
def second(store, retrained, export_cache, first) -> dict:
    started = time.perf_counter()
    version = publish_model(
        store, retrained, VersionMeta(parent=first["version"]), activate=True, cache_dir=export_cache
    )
    seconds = time.perf_counter() - started
    print(f"\nsecond publish (cached backbone): {seconds:.2f} s (first: {first['seconds']:.2f} s)")
    return {"version": version, "seconds": seconds}


def _cache_files(cache_dir):
    folder = cache_dir / BACKBONE_CACHE_DIR
    return sorted(folder.iterdir()) if folder.exists() else []


def _session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _onnx_outputs(path, images: np.ndarray) -> np.ndarray:
    return _session(path).run(None, {INPUT_NAME: images.astype(np.float32)})[0]


def _images(photos) -> np.ndarray:
    # The probes, two real photos and noise: more than the publish check itself looks at.
    noise = np.random.default_rng(3).random((2, 224, 224, 3), dtype=np.float32)
    return np.concatenate([probe_images(), np.stack(list(photos.values())), noise])


def test_split_parts_own_model(model):
    parts = split_parts(model)
    assert parts is not None
    assert [p.name for p in parts] == ["backbone", "top"]


def test_split_parts_refuses_other_wiring():
    image = keras.Input((224, 224, 3), name="image")
    backbone = keras.Model(image, keras.layers.GlobalAveragePooling2D()(image), name="backbone")
    features = keras.Input((3,))
    top = keras.Model(features, keras.layers.Dense(20, activation="sigmoid")(features), name="top")
    x = keras.Input((224, 224, 3))
    assert split_parts(keras.Model(x, top(backbone(x)))) is not None
    assert split_parts(keras.Model(x, top(backbone(x) * 2.0))) is None  # something between them


def _template_path(cache_dir, model):
    backbone, top = split_parts(model)
    return cached_template_path(cache_dir, template_key(backbone_key(backbone), top))


def test_first_publish_caches_backbone_and_template(first, store, export_cache, model):
    # v1's head has zero biases, which the converter folds away: the template is made from
    # a stand-in with random weights, so it has a place for every weight all the same.
    assert [p.name.split("-")[0] for p in first["cached"]] == ["backbone", "template"]
    assert _template_path(export_cache, model) in first["cached"]
    folder = store.path(first["version"])
    assert {p.name for p in folder.iterdir()} == {MODEL_FILE, ONNX_FILE, "meta.json"}
    assert export_method(folder / ONNX_FILE).startswith("backbone+top:")
    assert store.meta(first["version"]).onnx_max_abs_diff <= PARITY_TOLERANCE


def test_merged_graph_one_image_input_one_output(first, store):
    onnx_model = onnx.load(str(store.path(first["version"]) / ONNX_FILE))
    onnx.checker.check_model(onnx_model)
    graph = onnx_model.graph
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    assert [i.name for i in inputs] == [INPUT_NAME]
    dims = inputs[0].type.tensor_type.shape.dim
    assert not dims[0].HasField("dim_value")  # dynamic batch
    assert [d.dim_value for d in dims[1:]] == [224, 224, 3]
    assert len(graph.output) == 1
    domains = [o.domain for o in onnx_model.opset_import]
    assert len(domains) == len(set(domains))  # one opset per domain
    assert {o.domain: o.version for o in onnx_model.opset_import}[""] == 17
    # Dynamic batch for real: 1 and 3 images.
    session = _session(store.path(first["version"]) / ONNX_FILE)
    for n in (1, 3):
        out = session.run(None, {INPUT_NAME: np.zeros((n, 224, 224, 3), np.float32)})[0]
        assert out.shape == (n, 20)


def test_merged_v1_matches_keras(first, store, model, photos):
    images = _images(photos)
    actual = _onnx_outputs(store.path(first["version"]) / ONNX_FILE, images)
    expected = np.asarray(model(images, training=False))
    assert np.max(np.abs(actual - expected)) <= PARITY_TOLERANCE


def test_second_publish_reuses_cached_backbone(second, first, export_cache, store):
    cached = _cache_files(export_cache)
    assert cached == first["cached"]  # no second backbone or template, no temp files left behind
    assert cached[0].stat().st_mtime_ns == first["mtime"]  # not rewritten
    assert export_method(store.path(second["version"]) / ONNX_FILE) == export_method(
        store.path(first["version"]) / ONNX_FILE
    )  # same backbone key


def test_merged_retrained_matches_keras_and_differs_from_v1(second, first, store, retrained, model, photos):
    images = _images(photos)
    actual = _onnx_outputs(store.path(second["version"]) / ONNX_FILE, images)
    expected = np.asarray(retrained(images, training=False))
    assert np.max(np.abs(actual - expected)) <= PARITY_TOLERANCE
    v1 = _onnx_outputs(store.path(first["version"]) / ONNX_FILE, images)
    assert np.max(np.abs(actual - v1)) > 1e-2  # the new head really is in the new file
    assert store.meta(second["version"]).onnx_max_abs_diff <= PARITY_TOLERANCE


def test_saved_h5_reloads_with_same_backbone_key(second, store, retrained):
    # What the next retrain loads must hit the same cache entry.
    reloaded = load_model(store.path(second["version"]) / MODEL_FILE)
    assert backbone_key(split_parts(reloaded)[0]) == backbone_key(split_parts(retrained)[0])


def test_damaged_cache_file_is_converted_again(retrained, export_cache, tmp_path, probes, second):
    # Only a cache without a template reads the backbone file: a cache of its own here.
    key = backbone_key(split_parts(retrained)[0])
    good = cached_backbone_path(export_cache, key).read_bytes()
    path = cached_backbone_path(tmp_path / "cache", key)
    path.parent.mkdir(parents=True)
    path.write_bytes(good[: len(good) // 2])  # as a crash of a non-atomic writer would leave it
    diff = export_checked(retrained, tmp_path / ONNX_FILE, probes, cache_dir=tmp_path / "cache")
    assert diff <= PARITY_TOLERANCE
    assert export_method(tmp_path / ONNX_FILE).startswith("backbone+top:")
    onnx.load(str(path))  # whole again


def test_wrong_cached_backbone_falls_back_to_full_export(retrained, export_cache, tmp_path, probes, second):
    # A cached file that loads but computes something else: parity refuses it, the plain
    # conversion takes over, and the bad cache entry is removed.
    cache = tmp_path / "cache"
    path = cached_backbone_path(cache, backbone_key(split_parts(retrained)[0]))
    path.parent.mkdir(parents=True)
    wrong = onnx.load(str(_cache_files(export_cache)[0]))
    first_weight = max(wrong.graph.initializer, key=lambda t: len(t.raw_data))
    first_weight.raw_data = np.zeros(len(first_weight.raw_data) // 4, np.float32).tobytes()
    onnx.save(wrong, str(path))
    diff = export_checked(retrained, tmp_path / ONNX_FILE, probes, cache_dir=cache)
    assert diff <= PARITY_TOLERANCE
    assert export_method(tmp_path / ONNX_FILE) == "full"
    assert not path.exists()


def test_template_export_converts_nothing(retrained, export_cache, tmp_path, probes, monkeypatch, second):
    import tf2onnx

    def no_conversion(*args, **kwargs):
        raise AssertionError("an export from the template must not convert anything")

    monkeypatch.setattr(tf2onnx.convert, "from_keras", no_conversion)
    diff = export_checked(retrained, tmp_path / ONNX_FILE, probes, cache_dir=export_cache)
    assert diff <= PARITY_TOLERANCE
    assert export_method(tmp_path / ONNX_FILE).startswith("backbone+top:")
    props = {p.key for p in onnx.load(str(tmp_path / ONNX_FILE)).metadata_props}
    assert props == {"tagloop_export"}  # the template's weight map stays in the cache


def test_damaged_template_is_made_again(retrained, export_cache, tmp_path, probes, photos, second):
    path = _template_path(export_cache, retrained)
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 3])
    try:
        diff = export_checked(retrained, tmp_path / ONNX_FILE, probes, cache_dir=export_cache)
        assert diff <= PARITY_TOLERANCE
        images = _images(photos)
        expected = np.asarray(retrained(images, training=False))
        assert np.max(np.abs(_onnx_outputs(tmp_path / ONNX_FILE, images) - expected)) <= PARITY_TOLERANCE
        onnx.load(str(path))  # whole again
    finally:
        path.write_bytes(good)


def test_wrong_template_falls_back_to_full_export(retrained, export_cache, tmp_path, probes, second):
    # A template that fills in fine but computes something else (here: a constant of the
    # prior's calibration changed): parity refuses it, the plain conversion takes over, and
    # the bad template is removed.
    cache = tmp_path / "cache"
    backbone_file = cached_backbone_path(export_cache, backbone_key(split_parts(retrained)[0]))
    (cache / BACKBONE_CACHE_DIR).mkdir(parents=True)
    (cache / BACKBONE_CACHE_DIR / backbone_file.name).write_bytes(backbone_file.read_bytes())
    wrong = onnx.load(str(_template_path(export_cache, retrained)))
    scalar = next(i for i in wrong.graph.initializer if i.name.startswith("top/") and not i.dims)
    scalar.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(scalar) + 1.0, scalar.name))
    path = _template_path(cache, retrained)
    onnx.save(wrong, str(path))
    diff = export_checked(retrained, tmp_path / ONNX_FILE, probes, cache_dir=cache)
    assert diff <= PARITY_TOLERANCE
    assert export_method(tmp_path / ONNX_FILE) == "full"
    assert not path.exists()
    assert not _template_path(cache, retrained).exists()  # made from the wrong backbone: gone too


def _assert_same_weights(saved: keras.Model, expected: keras.Model) -> None:
    assert [w.path for w in saved.weights] == [w.path for w in expected.weights]
    for w1, w2 in zip(saved.weights, expected.weights, strict=True):
        assert np.array_equal(np.asarray(w1), np.asarray(w2)), w1.path


def test_top_only_publish_rewrites_the_top_in_a_copy(retrained, v1_h5, model, store, probes, export_cache):
    parent_bytes = v1_h5.read_bytes()
    top_only = TopOnly(v1_h5, np.asarray(retrained(probes, training=False)))
    version = publish_model(
        store, retrained, VersionMeta(), activate=False, cache_dir=export_cache, top_only=top_only
    )
    saved = load_model(store.path(version) / MODEL_FILE)
    _assert_same_weights(saved, retrained)
    assert not np.array_equal(
        np.asarray(saved.get_layer("top").get_layer("head_logits").kernel),
        np.asarray(model.get_layer("top").get_layer("head_logits").kernel),
    )
    assert v1_h5.read_bytes() == parent_bytes  # the parent's file is untouched


def test_top_only_publish_of_another_layout_saves_the_whole_model(retrained, store, probes, tmp_path, caplog):
    other = keras.Sequential([keras.Input((224, 224, 3)), keras.layers.GlobalAveragePooling2D()])
    other.save(tmp_path / "other.h5")
    top_only = TopOnly(tmp_path / "other.h5", np.asarray(retrained(probes, training=False)))
    version = publish_model(store, retrained, VersionMeta(), activate=False, top_only=top_only)
    assert "saving the whole model" in caplog.text
    _assert_same_weights(load_model(store.path(version) / MODEL_FILE), retrained)


@pytest.mark.parametrize("fill", [2.0, 0.5])
def test_top_only_probe_outputs_are_checked(fill, retrained, v1_h5, store, probes, export_cache, tmp_path):
    # Not probabilities: the contract refuses them. Probabilities, but not this model's: the
    # ONNX export cannot match them, and nothing is published either.
    import shutil

    from tagloop.errors import ModelContractError
    from tagloop.model.onnx_export import ExportMismatchError

    cache = tmp_path / "cache"  # a failed parity check clears the cache: a copy of it
    shutil.copytree(export_cache, cache)
    before = store.version_numbers()
    wrong = TopOnly(v1_h5, np.full((len(probes), 20), fill, np.float32))
    with pytest.raises(ModelContractError if fill > 1 else ExportMismatchError):
        publish_model(store, retrained, VersionMeta(), activate=False, cache_dir=cache, top_only=wrong)
    assert store.version_numbers() == before


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_seed_style_model_takes_plain_export(kind, tmp_path, probes):
    # An imported model: a backbone, pooling and a head, no "backbone"/"top" sub-models.
    layers = [
        keras.layers.Conv2D(8, 3, strides=4, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(20, activation="sigmoid"),
    ]
    if kind == "sequential":
        seed = keras.Sequential([keras.Input((224, 224, 3)), *layers])
    else:
        x = image = keras.Input((224, 224, 3))
        for layer in layers:
            x = layer(x)
        seed = keras.Model(image, x)
    seed.save(tmp_path / "seed.h5")
    seed = load_model(tmp_path / "seed.h5")
    assert split_parts(seed) is None
    cache = tmp_path / "cache"
    store = ModelStore(tmp_path / "models", "voc")
    version = publish_model(store, seed, VersionMeta(), activate=True, cache_dir=cache)
    onnx_file = store.path(version) / ONNX_FILE
    assert export_method(onnx_file) == "full"
    assert not (cache / BACKBONE_CACHE_DIR).exists()
    assert np.max(np.abs(_onnx_outputs(onnx_file, probes) - np.asarray(seed(probes)))) <= PARITY_TOLERANCE


def test_no_temp_files_left(export_cache, second):
    assert not [p for p in (export_cache / BACKBONE_CACHE_DIR).iterdir() if p.name.startswith(".")]
    assert os.listdir(export_cache) == [BACKBONE_CACHE_DIR]
