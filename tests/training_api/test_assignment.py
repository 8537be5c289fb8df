"""Review sessions assigned to annotators: each photo to one of them, a fraction `overlap`
to two (by upload position, predictable); each annotator sees, takes and saves only their
cards; an admin sees them all; two annotators on one photo make its agreement."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tagloop.classes import VOC_CLASSES
from training_api import users
from training_api.config import Settings

from tests.support.training import image_bytes, store_images

PHOTOS = 10
OVERLAP = 0.2
ANN_POSITIONS = [0, 2, 4, 6, 8, 9]
"""ann gets the even positions; of 10 photos floor(10 * 0.2) = 2 go to both: 4 (ann's, also
bob's) and 9 (bob's, also ann's)."""
BOB_POSITIONS = [1, 3, 4, 5, 7, 9]


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
def assigned(any_db_client: tuple[TestClient, Settings]) -> Iterator[tuple[TestClient, dict, int, list[str]]]:
    """An admin, two assigned annotators and one left out; a session of 10 photos (upload
    order) assigned to ann and bob with overlap 0.2. Yields the client, the headers by
    name, the session id and the photo ids by position."""
    client, settings = any_db_client
    with client.app.state.sessions() as db:
        heads = {
            name: bearer(users.add_user(db, name, role))
            for name, role in [
                ("boss", "admin"),
                ("ann", "annotator"),
                ("bob", "annotator"),
                ("cy", "annotator"),
            ]
        }
    ids = store_images(settings.uploads_dir, image_bytes(PHOTOS))
    scores = {name: 0.02 for name in VOC_CLASSES}
    items = [{"image_id": i, "filename": f"p{k}.jpg", "scores": scores} for k, i in enumerate(ids)]
    body = {
        "name": "team",
        "order": "upload",
        "items": items,
        "annotators": ["ann", "bob"],
        "overlap": OVERLAP,
    }
    reply = client.post("/sessions", json=body, headers=heads["boss"])
    assert reply.status_code == 201, reply.text
    assert reply.json()["session"]["annotators"] == ["ann", "bob"]
    yield client, heads, reply.json()["session"]["id"], ids


@pytest.mark.parametrize("any_db_client", ["sqlite", "postgres"], indirect=True)
def test_each_annotator_sees_and_saves_only_their_cards(assigned) -> None:
    client, heads, sid, ids = assigned
    for name, positions in [("ann", ANN_POSITIONS), ("bob", BOB_POSITIONS)]:
        detail = client.get(f"/sessions/{sid}", headers=heads[name]).json()
        assert [i["image_id"] for i in detail["items"]] == [ids[k] for k in positions]
        assert {i["annotator"] for i in detail["items"]} == {name}
        assert detail["session"]["progress"]["total"] == len(positions)
    everything = client.get(f"/sessions/{sid}", headers=heads["boss"]).json()["items"]
    assert len(everything) == len(ANN_POSITIONS) + len(BOB_POSITIONS)

    # ann walks her cards with /next and saves them; bob's photo is not hers to save
    seen = []
    item = client.get(f"/sessions/{sid}/next", headers=heads["ann"]).json()["item"]
    while item is not None:
        seen.append(item["image_id"])
        reply = client.post(
            f"/sessions/{sid}/items/{item['image_id']}", json={"labels": ["cat"]}, headers=heads["ann"]
        )
        assert reply.status_code == 200, reply.text
        item = client.get(f"/sessions/{sid}/next", headers=heads["ann"]).json()["item"]
    assert seen == [ids[k] for k in ANN_POSITIONS]
    refused = client.post(f"/sessions/{sid}/items/{ids[1]}", json={"labels": ["cat"]}, headers=heads["ann"])
    assert (refused.status_code, refused.json()["code"]) == (404, "item_not_found")
    bob_next = client.get(f"/sessions/{sid}/next", headers=heads["bob"]).json()
    assert bob_next["item"]["image_id"] == ids[1]
    assert bob_next["progress"] == {**bob_next["progress"], "saved": 0, "pending": len(BOB_POSITIONS)}

    # bob says otherwise on the shared photo 4: one disagreement, between the two of them
    client.post(f"/sessions/{sid}/items/{ids[4]}", json={"labels": ["dog"]}, headers=heads["bob"])
    client.post(f"/sessions/{sid}/items/{ids[9]}", json={"labels": ["cat"]}, headers=heads["bob"])
    listed = client.get("/disagreements", headers=heads["boss"]).json()["disagreements"]
    assert [(d["image_id"], d["labels"]) for d in listed] == [(ids[4], {"ann": ["cat"], "bob": ["dog"]})]


@pytest.mark.parametrize("any_db_client", ["sqlite"], indirect=True)
def test_annotators_outside_a_session_see_nothing_of_it_and_only_an_admin_assigns(assigned) -> None:
    client, heads, sid, _ = assigned
    assert [s["id"] for s in client.get("/sessions", headers=heads["cy"]).json()["sessions"]] == []
    assert client.get(f"/sessions/{sid}", headers=heads["cy"]).json()["items"] == []
    assert [s["id"] for s in client.get("/sessions", headers=heads["ann"]).json()["sessions"]] == [sid]
    body = {"name": "mine", "annotators": ["ann"]}
    refused = client.post("/sessions", json=body, headers=heads["ann"])
    assert (refused.status_code, refused.json()["code"]) == (403, "admin_only")
    unknown = client.post("/sessions", json={"annotators": ["ann", "zed"]}, headers=heads["boss"])
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_annotator")
    # a session assigned to no one stays anyone's, one card per photo
    open_one = client.post("/sessions", json={"name": "open"}, headers=heads["ann"])
    assert open_one.status_code == 201
    assert {s["id"] for s in client.get("/sessions", headers=heads["cy"]).json()["sessions"]} == {
        open_one.json()["session"]["id"]
    }
