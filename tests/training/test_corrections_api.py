"""POST /save_correction, GET /get_corrections, GET /corrections/{id}, GET /images/{id}."""

from fastapi.testclient import TestClient
from support.training import image_bytes, store_images
from tagloop.classes import VOC_CLASSES
from training_api.config import Settings


def _images(settings: Settings, n: int) -> list[str]:
    return store_images(settings.uploads_dir, image_bytes(n))


def _save(client: TestClient, image_id: str, labels: list[str], **extra):
    return client.post("/save_correction", json={"image_id": image_id, "corrected_labels": labels, **extra})


def test_save_correction_stores_deduplicated_labels(client: TestClient, settings: Settings):
    [image_id] = _images(settings, 1)
    r = _save(client, image_id, ["dog", "Cat", "dog"], model_version=1, threshold=0.5, predicted={"cat": 0.9})
    assert r.status_code == 200, r.text
    c = r.json()["correction"]
    assert r.json()["success"] is True
    assert c["corrected_labels"] == ["cat", "dog"]
    assert c["image_id"] == image_id and c["filename"] == "img0.jpg"
    assert c["model_version"] == 1 and c["threshold"] == 0.5 and c["predicted"] == {"cat": 0.9}
    assert c["timestamp"].endswith("+00:00")


def test_save_correction_accepts_empty_labels(client: TestClient, settings: Settings):
    [image_id] = _images(settings, 1)
    r = _save(client, image_id, [])
    assert r.status_code == 200 and r.json()["correction"]["corrected_labels"] == []


def test_save_correction_rejects_unknown_labels(client: TestClient, settings: Settings):
    [image_id] = _images(settings, 1)
    r = _save(client, image_id, ["cat", "unicorn", "spaceship"])
    assert r.status_code == 422
    body = r.json()
    assert body["success"] is False
    assert "'spaceship'" in body["error"] and "'unicorn'" in body["error"]
    assert "pottedplant" in body["error"]  # lists the valid labels
    assert client.get("/get_corrections").json()["total"] == 0


def test_save_correction_rejects_more_than_20_labels(client: TestClient, settings: Settings):
    [image_id] = _images(settings, 1)
    r = _save(client, image_id, [*VOC_CLASSES, "cat"])
    assert r.status_code == 422
    assert "corrected_labels" in r.json()["error"]


def test_save_correction_rejects_missing_image(client: TestClient):
    r = _save(client, "a" * 64, ["cat"])
    assert r.status_code == 404
    assert "no uploaded image" in r.json()["error"]


def test_save_correction_rejects_malformed_image_id(client: TestClient):
    r = _save(client, "../../etc/passwd", ["cat"])
    assert r.status_code == 404
    assert r.json()["success"] is False


def test_save_correction_needs_an_image_reference(client: TestClient):
    r = client.post("/save_correction", json={"corrected_labels": ["cat"]})
    assert r.status_code == 422
    assert "image_id" in r.json()["error"]


def test_save_correction_accepts_stored_filename(client: TestClient, settings: Settings):
    ids = _images(settings, 2)
    r = client.post("/save_correction", json={"filename": "img1.jpg", "corrected_labels": ["horse"]})
    assert r.status_code == 200, r.text
    assert r.json()["correction"]["image_id"] == ids[1]
    r = client.post(
        "/save_correction", json={"filename": "never-uploaded.jpg", "corrected_labels": ["horse"]}
    )
    assert r.status_code == 404 and "never-uploaded.jpg" in r.json()["error"]


def test_get_corrections_lists_latest_per_image_paginated(client: TestClient, settings: Settings):
    ids = _images(settings, 5)
    for image_id in ids:
        _save(client, image_id, ["cat"])
    _save(client, ids[0], ["dog"])  # a newer correction of the first image
    page1 = client.get("/get_corrections", params={"limit": 2}).json()
    page3 = client.get("/get_corrections", params={"limit": 2, "offset": 4}).json()
    assert page1["total"] == 5 and len(page1["corrections"]) == 2
    assert page1["corrections"][0]["image_id"] == ids[0]  # newest first
    assert page1["corrections"][0]["corrected_labels"] == ["dog"]
    assert [c["image_id"] for c in page3["corrections"]] == [ids[1]]
    every = client.get("/get_corrections", params={"all": "true"}).json()
    assert every["total"] == 6


def test_get_corrections_filters_by_label(client: TestClient, settings: Settings):
    ids = _images(settings, 3)
    _save(client, ids[0], ["cat", "dog"])
    _save(client, ids[1], ["dog"])
    _save(client, ids[2], ["cat"])
    _save(client, ids[2], ["bird"])  # no longer a cat: only the latest counts
    body = client.get("/get_corrections", params={"label": "cat"}).json()
    assert [c["image_id"] for c in body["corrections"]] == [ids[0]]
    assert client.get("/get_corrections", params={"label": "dog"}).json()["total"] == 2
    r = client.get("/get_corrections", params={"label": "unicorn"})
    assert r.status_code == 422 and "unicorn" in r.json()["error"]


def test_get_corrections_rejects_bad_pagination(client: TestClient):
    r = client.get("/get_corrections", params={"limit": 0})
    assert r.status_code == 422 and "limit" in r.json()["error"]


def test_correction_history_lists_every_correction(client: TestClient, settings: Settings):
    [image_id] = _images(settings, 1)
    for labels in (["cat"], ["dog"], ["dog", "person"]):
        _save(client, image_id, labels)
    body = client.get(f"/corrections/{image_id}").json()
    assert [c["corrected_labels"] for c in body["corrections"]] == [["dog", "person"], ["dog"], ["cat"]]
    r = client.get(f"/corrections/{'b' * 64}")
    assert r.status_code == 404


def test_get_image_returns_stored_bytes(client: TestClient, settings: Settings):
    data = image_bytes(1)[0]
    [image_id] = store_images(settings.uploads_dir, [data])
    r = client.get(f"/images/{image_id}")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["content-type"] == "image/jpeg"
    r = client.get(f"/images/{'c' * 64}")
    assert r.status_code == 404 and r.json()["success"] is False
