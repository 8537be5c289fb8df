"""Who said what in team mode: corrections carry their annotator, each pair's agreement
(Cohen's kappa), the disagreements, an admin's resolution and the labels a retrain uses;
on SQLite and PostgreSQL (`-k postgres`)."""

import pytest
from tagloop.classes import VOC_CLASSES
from training_api import users
from training_api.agreement import agreed_labels, kappa

from tests.support.training import image_bytes, store_images


def test_kappa_of_known_tables() -> None:
    # 50 items: both yes 20, both no 15, a yes b no 5, a no b yes 10 (Wikipedia's example): 0.4
    table = [(True, True)] * 20 + [(False, False)] * 15 + [(True, False)] * 5 + [(False, True)] * 10
    assert kappa(table) == pytest.approx(0.4)
    assert kappa([(True, True), (False, False)]) == 1.0
    assert kappa([(False, False)] * 4) is None  # no class ever given: undefined, not perfect
    assert kappa([]) is None


@pytest.fixture
def labelled(any_db_client):
    """Two annotators label the same 6 photos, differing on photos 1 and 4; an admin."""
    client, settings = any_db_client
    with client.app.state.sessions() as db:
        tokens = {
            name: users.add_user(db, name, role)
            for name, role in [("boss", "admin"), ("ann", "annotator"), ("bob", "annotator")]
        }
    ids = store_images(settings.uploads_dir, image_bytes(6))
    labels = [["cat"], ["dog"], ["car", "person"], ["bird"], ["horse"], ["boat"]]
    for name in ("ann", "bob"):
        for k, image_id in enumerate(ids):
            given = ["sheep"] if name == "bob" and k in (1, 4) else labels[k]
            reply = client.post(
                "/save_correction",
                json={"image_id": image_id, "corrected_labels": given},
                headers={"authorization": f"Bearer {tokens[name]}"},
            )
            assert reply.status_code == 200, reply.text
            assert reply.json()["correction"]["annotator"] == name
    return client, settings, tokens, ids


def test_agreement_disagreements_resolution_and_training_labels(labelled) -> None:
    client, _, tokens, ids = labelled
    boss = {"authorization": f"Bearer {tokens['boss']}"}
    ann = {"authorization": f"Bearer {tokens['ann']}"}
    assert client.get("/agreement", headers=ann).status_code == 403

    pairs = client.get("/agreement", headers=boss).json()
    assert pairs["disagreements"] == 2
    [pair] = pairs["pairs"]
    assert (pair["a"], pair["b"], pair["photos"]) == ("ann", "bob", 6)
    assert 0 < pair["kappa"] < 1
    assert pair["per_class"]["cat"] == 1.0 and pair["per_class"]["dog"] == 0.0
    assert pair["per_class"]["tvmonitor"] is None and set(pair["per_class"]) == set(VOC_CLASSES)

    listed = client.get("/disagreements", headers=boss).json()["disagreements"]
    assert [d["image_id"] for d in listed] == [ids[1], ids[4]]
    assert listed[0]["labels"] == {"ann": ["dog"], "bob": ["sheep"]}
    with client.app.state.sessions() as db:
        examples, left_out = agreed_labels(db)
    assert left_out == 2 and [a.image_id for a in examples] == [ids[0], ids[2], ids[3], ids[5]]

    assert (
        client.post(f"/disagreements/{ids[1]}/resolve", json={"labels": ["dog"]}, headers=ann).status_code
        == 403
    )
    for image_id, chosen in [(ids[1], ["dog", "sheep"]), (ids[4], ["horse"])]:
        done = client.post(f"/disagreements/{image_id}/resolve", json={"labels": chosen}, headers=boss)
        assert done.status_code == 200, done.text
        assert done.json()["correction"]["source"] == "resolved"
    assert client.get("/disagreements", headers=boss).json() == {"disagreements": []}
    assert client.get("/agreement", headers=boss).json()["disagreements"] == 0
    with client.app.state.sessions() as db:
        examples, left_out = agreed_labels(db)
    assert left_out == 0
    chosen = {a.image_id: a.labels for a in examples}
    assert chosen[ids[1]] == ["dog", "sheep"] and chosen[ids[4]] == ["horse"]


def test_corrections_carry_and_filter_by_annotator_and_history_keeps_both(labelled) -> None:
    client, _, tokens, ids = labelled
    ann = {"authorization": f"Bearer {tokens['ann']}"}
    bobs = client.get("/get_corrections", params={"annotator": "bob", "limit": 100}, headers=ann).json()
    assert bobs["total"] == 6 and {c["annotator"] for c in bobs["corrections"]} == {"bob"}
    assert {c["corrected_labels"][0] for c in bobs["corrections"]} >= {"sheep"}
    history = client.get(f"/corrections/{ids[1]}", headers=ann).json()["corrections"]
    assert {(c["annotator"], tuple(c["corrected_labels"])) for c in history} == {
        ("ann", ("dog",)),
        ("bob", ("sheep",)),
    }


def test_an_annotator_undoes_only_their_own_save(any_db_client) -> None:
    client, settings = any_db_client
    with client.app.state.sessions() as db:
        tokens = {name: users.add_user(db, name, "annotator") for name in ("ann", "bob")}
    ann, bob = ({"authorization": f"Bearer {tokens[n]}"} for n in ("ann", "bob"))
    [image_id] = store_images(settings.uploads_dir, image_bytes(1))
    item = {"image_id": image_id, "scores": dict.fromkeys(VOC_CLASSES, 0.1), "model_version": 1}
    sid = client.post("/sessions", json={"name": "s", "items": [item]}, headers=ann).json()["session"]["id"]
    saved = client.post(
        f"/sessions/{sid}/items/{image_id}", json={"status": "saved", "labels": ["cat"]}, headers=ann
    )
    assert saved.status_code == 200, saved.text
    undo = {"status": "pending", "labels": None}
    refused = client.post(f"/sessions/{sid}/items/{image_id}", json=undo, headers=bob)
    assert refused.status_code == 403 and refused.json()["code"] == "admin_only"
    assert client.post(f"/sessions/{sid}/items/{image_id}", json=undo, headers=ann).status_code == 200


def test_the_disagreements_as_a_review_session_whose_saves_resolve_them(labelled) -> None:
    client, _, tokens, ids = labelled
    boss = {"authorization": f"Bearer {tokens['boss']}"}
    ann = {"authorization": f"Bearer {tokens['ann']}"}
    assert client.post("/disagreements/review", headers=ann).json()["code"] == "admin_only"
    made = client.post("/disagreements/review", headers=boss)
    assert made.status_code == 201, made.text
    session = made.json()["session"]
    assert made.json()["added"] == 2 and session["resolves"] is True
    sid = session["id"]
    # the admins' session only: an annotator's save there would be a resolution
    assert client.get(f"/sessions/{sid}", headers=ann).json()["items"] == []
    refused = client.post(f"/sessions/{sid}/items/{ids[1]}", json={"labels": ["dog"]}, headers=ann)
    assert refused.json()["code"] == "item_not_found"
    assert sid not in [s["id"] for s in client.get("/sessions", headers=ann).json()["sessions"]]
    cards = client.get(f"/sessions/{sid}", headers=boss).json()["items"]
    assert [c["image_id"] for c in cards] == [ids[1], ids[4]]

    saved = client.post(f"/sessions/{sid}/items/{ids[1]}", json={"labels": ["dog"]}, headers=boss)
    assert saved.status_code == 200, saved.text
    left = client.get("/disagreements", headers=boss).json()["disagreements"]
    assert [d["image_id"] for d in left] == [ids[4]]
    assert client.get(f"/corrections/{ids[1]}", headers=boss).json()["corrections"][0]["source"] == "resolved"
    # undoing the save takes the resolution back
    client.post(f"/sessions/{sid}/items/{ids[1]}", json={"status": "pending"}, headers=boss)
    assert client.get("/agreement", headers=boss).json()["disagreements"] == 2

    for image_id in (ids[1], ids[4]):
        client.post(f"/disagreements/{image_id}/resolve", json={"labels": ["dog"]}, headers=boss)
    gone = client.post("/disagreements/review", headers=boss)
    assert (gone.status_code, gone.json()["code"]) == (404, "no_disagreements")
