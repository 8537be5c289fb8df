"""The label audit: GET /corrections/suspects on the fixture photos with 10 % of their labels flipped.

The corrections are saved through the API, a real worker retrains (its out-of-fold heads
score every correction), then the route ranks the saved labels the model disagrees with.
"""

import csv
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from tagloop.classes import VOC_CLASSES
from training_api.config import Settings
from training_api.main import create_app
from training_api.suspects import rank_suspects

from tests.support.training import correct, make_settings, retrain, store_images

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture_photos() -> tuple[list[str], list[bytes], list[list[str]]]:
    with open(FIXTURES / "photos.csv", newline="") as f:
        rows = [row for row in csv.DictReader(f)]
    names = [row["filename"] for row in rows]
    labels = [[name for name in row["labels"].split(";") if name] for row in rows]
    return names, [(FIXTURES / "photos" / name).read_bytes() for name in names], labels


def flip(
    labels: list[list[str]], share: float, *, seed: int = 0
) -> tuple[list[list[str]], set[tuple[int, str]]]:
    """One label of `share` of the photos flipped: a present class dropped where the photo
    has one (every other time), else an absent class added. Returns the labels and the flips."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(labels), size=round(share * len(labels)), replace=False)
    flipped, flips = [list(x) for x in labels], set()
    for k, i in enumerate(sorted(chosen)):
        if flipped[i] and k % 2 == 0:
            name = flipped[i][int(rng.integers(len(flipped[i])))]
            flipped[i].remove(name)
        else:
            name = str(rng.choice([c for c in VOC_CLASSES if c not in flipped[i]]))
            flipped[i].append(name)
        flips.add((int(i), name))
    return flipped, flips


def test_rank_suspects_puts_the_farthest_label_first():
    y = np.zeros((3, 20), np.float32)
    y[0, 7] = y[1, 7] = 1  # both say cat
    scores = np.full((3, 20), 0.01, np.float32)
    scores[0, 7], scores[1, 7], scores[2, 11] = 0.4, 0.02, 0.9  # 2: a dog nobody saved
    ranked = rank_suspects(["a", "b", "c"], y, scores, np.full(20, 0.5, np.float32))
    assert [(r, c) for r, c, _ in ranked] == [(1, 7), (2, 11), (0, 7)]


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, models_dir: Path) -> Settings:
    return make_settings(models_dir=models_dir, data_dir=tmp_path / "data", redis_url=redis_url)


def test_get_suspects_is_empty_before_any_retrain(settings: Settings):
    with TestClient(create_app(settings)) as client:
        r = client.get("/corrections/suspects?limit=5")
    assert r.status_code == 200 and r.json() == {"suspects": []}


@pytest.mark.slow
def test_get_suspects_finds_flipped_labels(settings: Settings):
    names, images, labels = fixture_photos()
    saved, flips = flip(labels, 0.10)
    with TestClient(create_app(settings)) as client:
        ids = store_images(settings.uploads_dir, images)
        correct(client, ids, saved)
        retrain(client, settings)
        r = client.get(f"/corrections/suspects?limit={2 * len(flips)}")
    assert r.status_code == 200, r.text
    found = r.json()["suspects"]
    assert [s["rank"] for s in found] == list(range(1, len(found) + 1))
    assert set(found[0]) == {"image_id", "filename", "class", "given", "score", "rank"}
    assert [s["score"] for s in found] == sorted((s["score"] for s in found), reverse=True)
    row = {image_id: i for i, image_id in enumerate(ids)}
    caught = {(row[s["image_id"]], s["class"]) for s in found} & flips
    for s in found:
        assert s["given"] is (s["class"] in saved[row[s["image_id"]]])
    missed = sorted((names[i], name, name in saved[i]) for i, name in flips - caught)
    print(
        f"label audit: {len(caught)} of {len(flips)} flips in the top {2 * len(flips)} suspects; "
        f"missed {missed}"
    )
    assert len(caught) >= 0.8 * len(flips), (missed, found)
