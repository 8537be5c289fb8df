"""Review sessions through the training API: cards in order, saving, undo, bulk, resume, export."""

import csv
import io
import json
import zipfile
from pathlib import Path

from fastapi.testclient import TestClient
from tagloop.classes import VOC_CLASSES
from tagloop.training.offline import default_splits
from tagloop.training.voc import read_split
from training_api.config import Settings
from training_api.main import create_app

from tests.support.training import image_bytes, store_images

BROWSER_A, BROWSER_B = "browser-aaaa", "browser-bbbb"


def _scores(**high: float) -> dict[str, float]:
    return {name: high.get(name, 0.02) for name in VOC_CLASSES}


def _session(
    client: TestClient, settings: Settings, scores: list[dict[str, float]], **extra
) -> tuple[int, list[str]]:
    ids = store_images(settings.uploads_dir, image_bytes(len(scores)))
    items = [
        {"image_id": i, "filename": f"photo{k}.jpg", "scores": s, "model_version": 1}
        for k, (i, s) in enumerate(zip(ids, scores, strict=True))
    ]
    reply = client.post("/sessions", json={"name": "holiday", "items": items, **extra})
    assert reply.status_code == 201, reply.text
    assert reply.json()["added"] == len(scores)
    return reply.json()["session"]["id"], ids


def _save(client: TestClient, sid: int, image_id: str, labels: list[str] | None, status: str = "saved"):
    return client.post(f"/sessions/{sid}/items/{image_id}", json={"status": status, "labels": labels})


def test_cards_come_most_uncertain_first_and_saving_moves_on(client: TestClient, settings: Settings):
    sid, ids = _session(client, settings, [_scores(cat=0.97), _scores(dog=0.52), _scores(horse=0.7)])
    detail = client.get(f"/sessions/{sid}").json()
    assert [i["image_id"] for i in detail["items"]] == [ids[1], ids[2], ids[0]]
    assert detail["items"][0]["predicted"] == ["dog"]
    assert detail["session"]["progress"] == {
        "total": 3,
        "saved": 0,
        "skipped": 0,
        "pending": 3,
        "seconds_per_item": None,
    }

    first = client.get(f"/sessions/{sid}/next").json()["item"]
    assert first["image_id"] == ids[1] and first["filename"] == "photo1.jpg"
    saved = _save(client, sid, ids[1], ["cat", "dog"])
    assert saved.status_code == 200, saved.text
    assert saved.json()["item"]["status"] == "saved" and saved.json()["progress"]["saved"] == 1
    assert client.get(f"/sessions/{sid}/next").json()["item"]["image_id"] == ids[2]

    [correction] = client.get("/get_corrections").json()["corrections"]
    assert correction["image_id"] == ids[1] and correction["corrected_labels"] == ["cat", "dog"]
    assert correction["source"] == "review" and correction["model_version"] == 1
    assert correction["predicted"][0] == {"label": "dog", "confidence": 0.52}


def test_skipped_cards_come_back_after_the_pending_ones_and_done_is_null(
    client: TestClient, settings: Settings
):
    sid, ids = _session(client, settings, [_scores(cat=0.9), _scores(dog=0.8)], order="upload")
    assert _save(client, sid, ids[0], None, status="skipped").json()["item"]["status"] == "skipped"
    assert client.get(f"/sessions/{sid}/next").json()["item"]["image_id"] == ids[1]
    _save(client, sid, ids[1], ["dog"])
    assert client.get(f"/sessions/{sid}/next").json()["item"]["image_id"] == ids[0]
    _save(client, sid, ids[0], [])
    done = client.get(f"/sessions/{sid}/next").json()
    assert done["item"] is None and done["progress"]["saved"] == 2


def test_undo_deletes_the_correction_its_save_wrote(client: TestClient, settings: Settings):
    sid, ids = _session(client, settings, [_scores(cat=0.9)])
    _save(client, sid, ids[0], ["cat"])
    assert client.get("/get_corrections").json()["total"] == 1
    undone = _save(client, sid, ids[0], None, status="pending").json()["item"]
    assert undone["status"] == "pending" and undone["labels"] is None
    assert client.get("/get_corrections").json()["total"] == 0


def test_orders_by_upload_and_by_class(client: TestClient, settings: Settings):
    sid, ids = _session(client, settings, [_scores(dog=0.9), _scores(cat=0.6), _scores(cat=0.95)])
    by_class = client.patch(f"/sessions/{sid}", json={"order": "class"}).json()
    assert [i["image_id"] for i in by_class["items"]] == [ids[2], ids[1], ids[0]]
    by_upload = client.patch(f"/sessions/{sid}", json={"order": "upload"}).json()
    assert [i["image_id"] for i in by_upload["items"]] == ids
    assert client.patch(f"/sessions/{sid}", json={"order": "random"}).json()["code"] == "invalid_request"


def test_per_class_thresholds_decide_the_ticks(client: TestClient, settings: Settings):
    ids = store_images(settings.uploads_dir, image_bytes(1))
    item = {"image_id": ids[0], "scores": _scores(cat=0.35, dog=0.55), "thresholds": {"cat": 0.3, "dog": 0.6}}
    sid = client.post("/sessions", json={"items": [item]}).json()["session"]["id"]
    assert client.get(f"/sessions/{sid}/next").json()["item"]["predicted"] == ["cat"]


def test_sessions_survive_a_restart_and_are_listed_with_progress(settings: Settings):
    with TestClient(create_app(settings)) as client:
        sid, ids = _session(client, settings, [_scores(cat=0.9), _scores(dog=0.6)], order="upload")
        _save(client, sid, ids[0], ["cat"])
        other = client.post("/sessions", json={"name": ""}).json()["session"]
        assert other["name"] == f"Review {other['id']}"
    with TestClient(create_app(settings)) as client:
        listed = client.get("/sessions").json()["sessions"]
        assert {s["id"] for s in listed} == {sid, other["id"]}
        mine = next(s for s in listed if s["id"] == sid)
        assert (
            mine["name"] == "holiday" and mine["progress"]["saved"] == 1 and mine["progress"]["pending"] == 1
        )
        assert client.get(f"/sessions/{sid}/next").json()["item"]["image_id"] == ids[1]


def test_adding_photos_later_keeps_their_status(client: TestClient, settings: Settings):
    sid, ids = _session(client, settings, [_scores(cat=0.9)])
    _save(client, sid, ids[0], ["cat"])
    more = store_images(settings.uploads_dir, image_bytes(3))[1:]
    items = [{"image_id": i, "scores": _scores(dog=0.7)} for i in [ids[0], *more]]
    reply = client.post(f"/sessions/{sid}/items", json={"items": items}).json()
    assert reply["added"] == 2 and reply["progress"] == {**reply["progress"], "saved": 1, "pending": 2}


def test_bulk_accepts_only_confident_cards_as_bulk_corrections(client: TestClient, settings: Settings):
    scores = [_scores(cat=0.97), _scores(dog=0.5), _scores(person=0.95, horse=0.93)]
    sid, ids = _session(client, settings, scores, order="upload")
    reply = client.post(f"/sessions/{sid}/bulk", json={"confident": True})
    assert reply.status_code == 200, reply.text
    assert reply.json()["saved"] == 2
    rows = {c["image_id"]: c for c in client.get("/get_corrections").json()["corrections"]}
    assert set(rows) == {ids[0], ids[2]}
    assert rows[ids[0]]["corrected_labels"] == ["cat"] and rows[ids[0]]["source"] == "bulk"
    assert rows[ids[2]]["corrected_labels"] == ["horse", "person"]


def test_bulk_sets_and_unsets_a_label_on_selected_cards(client: TestClient, settings: Settings):
    sid, ids = _session(client, settings, [_scores(cat=0.9), _scores(cat=0.8, dog=0.7), _scores(dog=0.6)])
    body = {"image_ids": ids[:2], "add": ["sofa"], "remove": ["dog"]}
    assert client.post(f"/sessions/{sid}/bulk", json=body).json()["saved"] == 2
    rows = {
        c["image_id"]: c["corrected_labels"] for c in client.get("/get_corrections").json()["corrections"]
    }
    assert rows == {ids[0]: ["cat", "sofa"], ids[1]: ["cat", "sofa"]}
    nothing = client.post(f"/sessions/{sid}/bulk", json={"add": ["cat"]})
    assert nothing.status_code == 422 and nothing.json()["code"] == "nothing_selected"


def test_bulk_set_adds_one_label_and_undo_puts_every_card_back(client: TestClient, settings: Settings):
    sid, ids = _session(client, settings, [_scores(car=0.8, person=0.7), _scores(dog=0.6), _scores(cat=0.9)])
    _save(client, sid, ids[2], ["cat", "sofa"])
    before = {i["image_id"]: i for i in client.get(f"/sessions/{sid}").json()["items"]}
    done = client.post(f"/sessions/{sid}/bulk", json={"image_ids": ids, "add": ["bus"]}).json()
    assert done["saved"] == 3 and done["bulk_id"]
    after = {i["image_id"]: i["labels"] for i in client.get(f"/sessions/{sid}").json()["items"]}
    assert after == {ids[0]: ["bus", "car", "person"], ids[1]: ["bus", "dog"], ids[2]: ["bus", "cat", "sofa"]}

    undone = client.post(f"/sessions/{sid}/bulk/{done['bulk_id']}/undo")
    assert undone.status_code == 200, undone.text
    assert undone.json()["restored"] == 3 and undone.json()["progress"]["saved"] == 1
    back = {i["image_id"]: i for i in client.get(f"/sessions/{sid}").json()["items"]}
    assert {k: (v["status"], v["labels"]) for k, v in back.items()} == {
        k: (v["status"], v["labels"]) for k, v in before.items()
    }
    rows = client.get("/get_corrections").json()["corrections"]
    assert [(r["image_id"], r["corrected_labels"], r["source"]) for r in rows] == [
        (ids[2], ["cat", "sofa"], "review")
    ]
    again = client.post(f"/sessions/{sid}/bulk/{done['bulk_id']}/undo")
    assert again.status_code == 409 and again.json()["code"] == "bulk_undone"
    missing = client.post(f"/sessions/{sid}/bulk/999/undo")
    assert missing.status_code == 404 and missing.json()["code"] == "bulk_not_found"


def test_bulk_unset_removes_one_label_only(client: TestClient, settings: Settings):
    sid, ids = _session(client, settings, [_scores(car=0.8, person=0.7), _scores(person=0.6, dog=0.9)])
    client.post(f"/sessions/{sid}/bulk", json={"image_ids": ids, "remove": ["person"]})
    after = {i["image_id"]: i["labels"] for i in client.get(f"/sessions/{sid}").json()["items"]}
    assert after == {ids[0]: ["car"], ids[1]: ["dog"]}


def test_errors_carry_stable_codes(client: TestClient, settings: Settings):
    missing = client.get("/sessions/999")
    assert missing.status_code == 404
    assert missing.json() == {
        "success": False,
        "error": "no review session has id 999",
        "code": "session_not_found",
    }
    sid, ids = _session(client, settings, [_scores(cat=0.9)])
    assert _save(client, sid, ids[0], ["unicorn"]).json()["code"] == "unknown_label"
    assert _save(client, sid, ids[0], None).json()["code"] == "labels_missing"
    assert _save(client, sid, "b" * 64, ["cat"]).json()["code"] == "item_not_found"
    bad = client.post("/sessions", json={"items": [{"image_id": "c" * 64, "scores": {}}]})
    assert bad.status_code == 404 and bad.json()["code"] == "unknown_image"


def _two_saved(client: TestClient, settings: Settings) -> tuple[int, list[str]]:
    sid, ids = _session(
        client, settings, [_scores(cat=0.9), _scores(dog=0.6), _scores(horse=0.6)], order="upload"
    )
    _save(client, sid, ids[0], ["cat"])
    _save(client, sid, ids[1], ["dog", "person"])
    return sid, ids


def test_export_csv_of_a_session(client: TestClient, settings: Settings):
    sid, ids = _two_saved(client, settings)
    reply = client.get(f"/export?format=csv&session={sid}")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert rows == [
        {"filename": "photo0.jpg", "image_id": ids[0], "labels": "cat"},
        {"filename": "photo1.jpg", "image_id": ids[1], "labels": "dog person"},
    ]


def test_export_coco_of_all_corrections(client: TestClient, settings: Settings):
    _sid, ids = _two_saved(client, settings)
    coco = json.loads(client.get("/export?format=coco").text)
    names = {c["id"]: c["name"] for c in coco["categories"]}
    assert len(names) == 20
    by_image = {img["id"]: img for img in coco["images"]}
    labels = {by_image[a["image_id"]]["image_id"]: set() for a in coco["annotations"]}
    for a in coco["annotations"]:
        labels[by_image[a["image_id"]]["image_id"]].add(names[a["category_id"]])
    assert labels == {ids[0]: {"cat"}, ids[1]: {"dog", "person"}}
    assert all(img["width"] > 0 and img["height"] > 0 for img in coco["images"])


def test_export_voc_is_a_folder_tagloop_train_reads(client: TestClient, settings: Settings, tmp_path: Path):
    sid, _ids = _two_saved(client, settings)
    reply = client.get(f"/export?format=voc&session={sid}")
    assert reply.headers["content-type"] == "application/zip"
    zipfile.ZipFile(io.BytesIO(reply.content)).extractall(tmp_path)
    voc = tmp_path / f"tagloop-session-{sid}"
    assert default_splits(voc) == ("train", "val")
    items = read_split(voc, "trainval")
    assert {i.labels for i in items} == {("cat",), ("dog", "person")}
    assert all(i.image_path.is_file() for i in items)


def test_export_of_nothing_says_so(client: TestClient):
    reply = client.get("/export?format=voc")
    assert reply.status_code == 404 and reply.json()["code"] == "nothing_to_export"


def test_retrain_plan_counts_the_corrections_a_retrain_uses(client: TestClient, settings: Settings):
    _two_saved(client, settings)
    plan = client.get("/retrain/plan").json()
    assert plan["corrections"] == 2 and plan["new"] == 2 and plan["seconds"] > 0


def test_a_session_can_start_a_retrain_after_n_saves(client: TestClient, settings: Settings):
    scores = [_scores(cat=0.9), _scores(dog=0.8), _scores(horse=0.7)]
    sid, ids = _session(client, settings, scores, order="upload", auto_retrain_after=2)
    first = _save(client, sid, ids[0], ["cat"]).json()
    assert first["auto_retrain_job"] is None
    second = _save(client, sid, ids[1], ["dog"]).json()
    assert second["auto_retrain_job"]
    assert client.get(f"/jobs/{second['auto_retrain_job']}").json()["status"] == "queued"
    assert _save(client, sid, ids[2], ["horse"]).json()["auto_retrain_job"] is None  # counting again


def test_a_card_handed_to_one_browser_is_not_handed_to_another(any_db_client) -> None:
    client, settings = any_db_client
    sid, ids = _session(client, settings, [_scores(dog=0.52), _scores(horse=0.7), _scores(cat=0.97)])
    first = client.get(f"/sessions/{sid}/next", params={"client": BROWSER_A}).json()["item"]
    second = client.get(f"/sessions/{sid}/next", params={"client": BROWSER_B}).json()["item"]
    assert (first["image_id"], second["image_id"]) == (ids[0], ids[1])
    # the same browser asking again gets its own card back; the other sees it as leased
    assert (
        client.get(f"/sessions/{sid}/next", params={"client": BROWSER_A}).json()["item"]["image_id"] == ids[0]
    )
    seen_by_b = {
        i["image_id"]: i["leased"] for i in client.get(f"/sessions/{sid}?client={BROWSER_B}").json()["items"]
    }
    assert seen_by_b == {ids[0]: True, ids[1]: False, ids[2]: False}

    taken = client.post(f"/sessions/{sid}/items/{ids[0]}/lease", json={"client": BROWSER_B})
    assert taken.status_code == 409 and taken.json()["code"] == "card_leased"
    renewed = client.post(f"/sessions/{sid}/items/{ids[0]}/lease", json={"client": BROWSER_A})
    assert renewed.status_code == 200 and renewed.json()["lease_until"]

    # a save frees the card: it is done, and the other browser may look at it
    _save(client, sid, ids[0], ["dog"])
    assert client.post(f"/sessions/{sid}/items/{ids[0]}/lease", json={"client": BROWSER_B}).json() == {
        "success": True,
        "lease_until": None,
    }
    assert (
        client.get(f"/sessions/{sid}/next", params={"client": BROWSER_A}).json()["item"]["image_id"] == ids[2]
    )


def test_a_poll_of_an_unchanged_session_answers_304_and_any_change_shows(
    client: TestClient, settings: Settings
):
    sid, ids = _session(client, settings, [_scores(cat=0.9), _scores(dog=0.6), _scores(cow=0.55)])
    path = f"/sessions/{sid}?client={BROWSER_A}"
    first = client.get(path)
    etag = first.headers["ETag"]
    unchanged = client.get(path, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    # nginx's gzip weakens an ETag it passes on: the weak form matches too
    assert client.get(path, headers={"If-None-Match": f"W/{etag}"}).status_code == 304

    def changed_by(action) -> str:
        nonlocal etag
        action()
        reply = client.get(path, headers={"If-None-Match": etag})
        assert reply.status_code == 200, reply.text
        assert reply.headers["ETag"] != etag
        etag = reply.headers["ETag"]
        return etag

    changed_by(lambda: _save(client, sid, ids[0], ["cat"]))  # a save (another browser's, say)
    changed_by(lambda: _save(client, sid, ids[0], ["cat", "person"]))  # the same card saved again
    # another browser takes a card on screen: this browser sees it leased
    changed_by(lambda: client.post(f"/sessions/{sid}/items/{ids[1]}/lease", json={"client": BROWSER_B}))
    # this browser's own lease changes nothing it is shown
    client.post(f"/sessions/{sid}/items/{ids[2]}/lease", json={"client": BROWSER_A})
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    changed_by(lambda: client.patch(f"/sessions/{sid}", json={"threshold": 0.7}))
    changed_by(lambda: _save(client, sid, ids[0], None, status="pending"))  # an undo
