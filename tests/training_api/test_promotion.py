"""The promotion rule on the real version 1, through the API and a real worker: right
corrections are promoted by default, and the decision and its statistics are in meta.json
and /models."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tagloop.store import ModelStore
from training_api.main import create_app

from tests.support.training import (
    CONTRADICTING,
    correct,
    image_bytes,
    kept_labels,
    label_sets,
    make_settings,
    other_photos,
    retrain,
    serve,
    store_images,
)

pytestmark = pytest.mark.slow


def test_retrain_promotes_24_consistent_corrections_of_photos_version_1_got_wrong(
    tmp_path: Path, redis_url: str, models_dir: Path
):
    settings = make_settings(models_dir=models_dir, data_dir=tmp_path / "data", redis_url=redis_url)
    images = image_bytes(24)  # three variants of each of eight photos, labelled alike
    wanted = [CONTRADICTING[i % 8] for i in range(24)]
    before = label_sets(serve(settings, 1, images))
    assert all(sorted(b) != sorted(w) for b, w in zip(before, wanted, strict=True))
    others = other_photos()
    with TestClient(create_app(settings)) as client:
        store_images(settings.uploads_dir, others)  # uploads nobody corrects: the anchors
        correct(client, store_images(settings.uploads_dir, images), wanted)
        result = retrain(client, settings)["result"]
        listing = client.get("/models").json()
        versions = {v["version"]: v for v in listing["versions"]}

    assert result["promoted"] is True, result["reason"]
    gate = result["gate"]
    assert gate["anchors"] == len(others) and gate["anchors_changed"] <= gate["anchor_limit"]
    assert gate["candidate_right"] >= gate["parent_right"] and not gate["forced"]
    meta = ModelStore(settings.models_dir, settings.model_name).meta(2)
    assert meta.gate is not None and meta.gate.model_dump() == gate
    assert versions[2]["gate"] == gate and versions[2]["promoted"] is True
    assert result["changes"]["fixed"] >= 20 and result["changes"]["broke"] == 0
    # both versions scored on the same held-out corrections: version 1 learned none of them
    board, first, second = listing["scoreboard"], versions[1]["scoreboard"], versions[2]["scoreboard"]
    assert board["after_version"] == 2 and board["photos"] == gate["held_out"] > 0
    assert first["metrics"]["samples"] == second["metrics"]["samples"] == board["photos"]
    assert first["seen"] == 0 and second["seen"] == board["photos"]
    assert second["metrics"]["f1_micro"] > first["metrics"]["f1_micro"]
    # what a person sees: the corrected photos right, the others as version 1 said
    assert (
        sum(
            sorted(a) == sorted(w)
            for a, w in zip(label_sets(serve(settings, 2, images)), wanted, strict=True)
        )
        >= 22
    )
    assert kept_labels(settings, 1, 2, others) >= (len(others) - 1) / len(others)
