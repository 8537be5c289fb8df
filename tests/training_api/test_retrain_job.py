"""Retrain jobs run by a real worker (TrainingWorker, burst mode) on the real version 1."""

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from redis import Redis
from tagloop.classes import VOC_CLASSES
from tagloop.images import load_image_arrays
from tagloop.store import ModelStore
from tagloop.training.gate import is_held_out
from training_api.config import Settings
from training_api.jobs import CANCEL_KEY
from training_api.main import create_app

from tests.support.training import (
    CONTRADICTING,
    correct,
    image_bytes,
    label_sets,
    make_settings,
    retrain,
    run_worker,
    serve,
    sha,
    store_images,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, models_dir: Path) -> Settings:
    return make_settings(models_dir=models_dir, data_dir=tmp_path / "data", redis_url=redis_url)


def keras_outputs(settings: Settings, version: int, images: list[bytes]) -> np.ndarray:
    """The Keras model's outputs; a two-prior model is fed the scores of the detector its
    served file holds."""
    from tagloop.model.build import load_model
    from tagloop.model.detector import DetectorScores, detector_from_version

    store = ModelStore(settings.models_dir, settings.model_name)
    model = load_model(store.path(version) / "model.h5")
    if len(model.inputs) == 1:
        return np.asarray(
            model(np.stack([load_image_arrays(b, [(224, 224)])[0] for b in images]), training=False)
        )
    detector = DetectorScores(detector_from_version(store.path(version) / "model.onnx", settings.cache_dir))
    arrays = [load_image_arrays(b, [(224, 224), (detector.side, detector.side)]) for b in images]
    small, big = (np.stack([a[i] for a in arrays]) for i in range(2))
    return np.asarray(model([small, detector(big)], training=False))


def assert_prior_unchanged(settings: Settings, parent: int, child: int) -> None:
    """The prior (every non-trainable weight of the top) is the same in both versions."""
    from tagloop.model.build import load_model, split_model

    store = ModelStore(settings.models_dir, settings.model_name)
    _, top1 = split_model(load_model(store.path(parent) / "model.h5"))
    _, top2 = split_model(load_model(store.path(child) / "model.h5"))
    assert len(top1.non_trainable_weights) >= 1
    for w1, w2 in zip(top1.non_trainable_weights, top2.non_trainable_weights, strict=True):
        assert np.array_equal(np.asarray(w1), np.asarray(w2)), w1.path


def test_retrain_learns_contradicting_corrections(settings: Settings):
    images = image_bytes(8)
    before = label_sets(serve(settings, 1, images))
    assert all(sorted(b) != sorted(c) for b, c in zip(before, CONTRADICTING, strict=True)), before
    with TestClient(create_app(settings)) as client:
        correct(client, store_images(settings.uploads_dir, images), CONTRADICTING)
        job = retrain(client, settings)
        result = job["result"]
        assert result["promoted"] is True and result["version"] == 2 and result["parent_version"] == 1
        assert result["samples"] == 8 and "all 8 corrections" in result["reason"]
        assert job["progress"]["stage"] == "scoring" and job["progress"]["elapsed"] > 0
        assert result["loss_curve"][-1] < result["loss_curve"][0]
        assert_prior_unchanged(settings, 1, 2)
        served = serve(settings, 2, images)
        after = label_sets(served)
        assert sum(sorted(a) == sorted(c) for a, c in zip(after, CONTRADICTING, strict=True)) >= 7, after
        # The .h5 that the next retrain starts from (written as a copy of v1's with the top
        # rewritten) holds the model that is served.
        assert np.max(np.abs(keras_outputs(settings, 2, images) - served)) <= 1e-4

        models = client.get("/models").json()
        assert models["active"] == 2
        v2 = models["versions"][0]
        assert v2["version"] == 2 and v2["parent"] == 1 and v2["samples"] == 8 and v2["promoted"] is True
        assert set(v2["metrics"]) == {"basis", "candidate", "active"}
        assert v2["metrics"]["candidate"]["loss"] < v2["metrics"]["active"]["loss"]
        assert set(v2["metrics"]["candidate"]["per_class_ap"]) == set(VOC_CLASSES)

        # Again, with every feature cached: nothing is recomputed.
        cached = sorted((settings.cache_dir / "features").rglob("*.npy"))
        assert len(cached) == 8
        stamps = [p.stat().st_mtime_ns for p in cached]
        second = retrain(client, settings)["result"]
        assert second["parent_version"] == 2 and second["version"] == 3
        assert [p.stat().st_mtime_ns for p in cached] == stamps


def _split_images(n_train: int, n_held: int, modulus: int) -> tuple[list[bytes], list[bytes]]:
    train, held = [], []
    for data in image_bytes(80):
        side = held if is_held_out(sha(data), modulus=modulus) else train
        side.append(data)
    assert len(train) >= n_train and len(held) >= n_held
    return train[:n_train], held[:n_held]


def test_worse_candidate_is_not_promoted(tmp_path: Path, redis_url: str, models_dir: Path):
    settings = make_settings(
        models_dir=models_dir, data_dir=tmp_path / "data", redis_url=redis_url, min_holdout=4
    )
    train, held = _split_images(10, 4, settings.holdout_modulus)
    # Held out: what version 1 already says (so it is right there). Trained on: nonsense.
    held_labels = label_sets(serve(settings, 1, held))
    nonsense = [["sheep", "train", "bus"]] * len(train)
    with TestClient(create_app(settings)) as client:
        correct(client, store_images(settings.uploads_dir, train), nonsense)
        correct(client, store_images(settings.uploads_dir, held), held_labels)
        result = retrain(client, settings)["result"]
        assert result["promoted"] is False
        assert result["reason"].startswith("not promoted") and "4 held-out" in result["reason"]
        assert result["samples"] == 14  # the published version learned the held-out ones too
        assert result["metrics"]["basis"] == "held-out"
        store = ModelStore(settings.models_dir, settings.model_name)
        assert store.active_version() == 1 and store.meta(2).promoted is False
        # the decision and its statistics, in meta.json and /models
        gate = store.meta(2).gate
        assert gate is not None and gate.code == "not_reproduced" and gate.photos == 4
        assert gate.candidate_right < gate.parent_right
        shown = client.get("/models").json()["versions"][0]
        assert shown["version"] == 2 and shown["gate"]["code"] == "not_reproduced"

        forced = retrain(client, settings, force=True)["result"]
        assert forced["promoted"] is True and forced["reason"].startswith("forced")
        assert store.active_version() == 3


def test_cancelled_running_job_publishes_nothing(settings: Settings):
    images = image_bytes(2)
    with TestClient(create_app(settings)) as client:
        correct(client, store_images(settings.uploads_dir, images), [["cat"], ["dog"]])
        job_id = client.post("/retrain", json={}).json()["job_id"]
        # What DELETE /jobs/{id} sets for a started job; the job checks it at every step.
        Redis.from_url(settings.redis_url).set(CANCEL_KEY.format(job_id), 1)
        run_worker(settings)
        job = client.get(f"/jobs/{job_id}").json()
    assert job["status"] in ("failed", "stopped")
    assert job["error"] == "cancelled while running; no version was published"
    assert ModelStore(settings.models_dir, settings.model_name).version_numbers() == [1]


def test_retrain_of_an_imported_seed_style_model(settings: Settings, tmp_path: Path):
    # No "backbone"/"top" sub-models: features by Keras, the whole model saved and converted,
    # and the .h5 (what the next retrain starts from) holds what is served.
    from tests.support.voc import make_seed_h5

    images = image_bytes(4)
    wanted = [["dog"], ["cat"], ["dog"], ["cat"]]
    with TestClient(create_app(settings)) as client:
        with open(make_seed_h5(tmp_path / "seed.h5"), "rb") as f:
            job_id = client.post("/models/import", files={"file": ("seed.h5", f)}).json()["job_id"]
        run_worker(settings)
        imported = client.get(f"/jobs/{job_id}").json()["result"]["version"]
        assert client.post(f"/models/{imported}/activate").json()["active"] == imported
        correct(client, store_images(settings.uploads_dir, images), wanted)
        result = retrain(client, settings, force=True)["result"]
    assert result["parent_version"] == imported and result["promoted"] is True
    served = serve(settings, result["version"], images)
    assert np.max(np.abs(keras_outputs(settings, result["version"], images) - served)) <= 1e-4
    # Its 8 random conv features hardly tell photos apart, so labels need not fit; but it trained.
    assert result["loss_curve"][-1] < result["loss_curve"][0]
    assert np.max(np.abs(served - serve(settings, imported, images))) > 1e-3
