"""POST /save_correction, GET /get_corrections, GET /corrections/{id}, GET /images/{id},
POST /images/present."""

import pytest
from fastapi.testclient import TestClient
from tagloop.classes import VOC_CLASSES
from tagloop.uploads import UploadStore
from training_api.config import Settings

from tests.support.training import image_bytes, store_images


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
    assert (
        c["model_version"] == 1
        and c["threshold"] == 0.5
        and c["predicted"] == [{"label": "cat", "confidence": 0.9}]
    )
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


def test_images_present_names_the_uploads_still_stored(client: TestClient, settings: Settings):
    stored = _images(settings, 2)
    gone = "c" * 64
    r = client.post("/images/present", json={"image_ids": [gone, stored[1], "../etc", stored[0], stored[1]]})
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "present": [stored[1], stored[0]]}
    assert client.post("/images/present", json={"image_ids": "x"}).status_code == 422


def test_save_correction_stores_predicted_as_label_confidence_pairs(client: TestClient, settings: Settings):
    [image_id] = _images(settings, 1)
    pairs = [{"label": "dog", "confidence": 1}, {"label": "cat", "confidence": 0.0}]
    r = _save(client, image_id, ["dog"], predicted=pairs)
    assert r.status_code == 200, r.text
    assert r.json()["correction"]["predicted"] == [
        {"label": "dog", "confidence": 1.0},
        {"label": "cat", "confidence": 0.0},
    ]


BAD_BODIES = {
    "predicted_unknown_label": ({"predicted": {"unicorn": 0.5}}, "unicorn"),
    "predicted_repeated_label": (
        {"predicted": [{"label": "cat", "confidence": 0.1}, {"label": "cat", "confidence": 0.2}]},
        "once",
    ),
    "predicted_too_many": ({"predicted": [{"label": "cat", "confidence": 0.1}] * 21}, "predicted"),
    "predicted_out_of_range": ({"predicted": {"cat": 1.5}}, "confidence"),
    "predicted_list_of_names": ({"predicted": ["cat", "dog"]}, "predicted"),
    "predicted_extra_key": ({"predicted": [{"label": "cat", "confidence": 0.1, "x": 1}]}, "predicted"),
    "model_version_2_63": ({"model_version": 2**63}, "model_version"),
    "model_version_2_31": ({"model_version": 2**31}, "model_version"),
    "model_version_true": ({"model_version": True}, "model_version"),
    "model_version_string": ({"model_version": "3"}, "model_version"),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_save_correction_refuses_malformed_fields_and_writes_nothing(
    client: TestClient, settings: Settings, case: str
):
    [image_id] = _images(settings, 1)
    extra, named = BAD_BODIES[case]
    r = _save(client, image_id, ["cat"], **extra)
    assert r.status_code == 422, r.text
    assert named in r.json()["error"]
    assert client.get("/get_corrections", params={"all": "true"}).json()["total"] == 0


@pytest.mark.parametrize("token", ["Infinity", "-Infinity", "NaN"])
def test_save_correction_refuses_non_finite_numbers(client: TestClient, settings: Settings, token: str):
    [image_id] = _images(settings, 1)
    for field in (f'"threshold": {token}', f'"predicted": {{"cat": {token}}}'):
        body = f'{{"image_id": "{image_id}", "corrected_labels": ["cat"], {field}}}'
        r = client.post("/save_correction", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, (field, r.text)
    assert client.get("/get_corrections", params={"all": "true"}).json()["total"] == 0


def test_deeply_nested_predicted_is_refused_and_every_read_still_answers(
    client: TestClient, settings: Settings
):
    """The review's case: a correction nested 500 deep broke every read of its image for good."""
    [image_id] = _images(settings, 1)
    deep = "[" * 500 + "]" * 500
    body = f'{{"image_id": "{image_id}", "corrected_labels": ["cat"], "predicted": {deep}}}'
    r = client.post("/save_correction", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert _save(client, image_id, ["dog"], predicted={"dog": 0.7}).status_code == 200
    assert client.get(f"/corrections/{image_id}").status_code == 200
    assert client.get("/get_corrections").status_code == 200


def test_filename_of_two_different_uploads_is_ambiguous(client: TestClient, settings: Settings):
    uploads = UploadStore(settings.uploads_dir)
    first, second = (uploads.put(data, "IMG_0001.JPG") for data in image_bytes(2))
    r = client.post("/save_correction", json={"filename": "IMG_0001.JPG", "corrected_labels": ["cat"]})
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "ambiguous_filename" and "image_id" in r.json()["error"]
    r = _save(client, second, ["cat"])
    assert r.status_code == 200 and r.json()["correction"]["filename"] == "IMG_0001.JPG"
    assert first != second


def test_get_corrections_offset_past_int64_is_422(client: TestClient):
    r = client.get("/get_corrections", params={"offset": 2**63})
    assert r.status_code == 422 and r.json()["success"] is False
