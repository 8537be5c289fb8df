"""A team labels together, through the gateway only (issue 24's "Done when"): users made
with `tagloop users add`, two annotators who differ on 3 of 20 photos, the agreement and
the disagreements, an admin's resolutions, a retrain on the agreed labels, and the refusals
(no credentials 401, an annotator's activate 403, ten wrong passwords rate-limited).

A stack of its own: team mode closes every route, which the shared stack's tests expect open.
"""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tagloop.cli import main as export_main

from tests.support.stack import Stack, running_stack
from tests.support.stack_checks import wait_job
from tests.support.training import image_bytes
from tests.support.users import add_user, as_user
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PHOTOS = 20
DIFFERENT = (3, 8, 15)
LABELS = [["cat"], ["dog"], ["car", "person"], ["bird"], ["horse"]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, v1_model_dir: Path) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("team-stack"), v1_model_dir) as system:
        yield system


def test_two_annotators_agreement_resolution_retrain_and_refusals(
    stack: Stack, gateway: httpx.Client, tmp_path: Path, capsys, monkeypatch
) -> None:
    photos = image_bytes(PHOTOS)
    # Single-user mode: a prediction needs nobody.
    assert gateway.post("/predict", files={"file": ("a.jpg", photos[0], "image/jpeg")}).status_code == 200

    tokens = {"boss": add_user(stack, "boss", "admin", "boss password")}
    tokens |= {name: add_user(stack, name, "annotator") for name in ("ann", "bob")}
    for method, path in [("POST", "/predict"), ("GET", "/get_corrections"), ("GET", "/models")]:
        # the gateway takes "nobody needed" as fresh for a second (its auth cache)
        def refusal(method: str = method, path: str = path) -> httpx.Response | None:
            files = {"file": ("a.jpg", photos[0])} if path == "/predict" else None
            reply = gateway.request(method, path, files=files)
            return None if reply.status_code == 200 else reply

        refused = wait_until(refusal, timeout=5, what=f"{path} refused in team mode")
        assert refused.status_code == 401, (path, refused.text)
        assert refused.json()["code"] == "not_authorized"
    assert gateway.get("/health").status_code == 200
    assert gateway.get("/").status_code == 200

    ids = []
    for k, data in enumerate(photos):
        reply = gateway.post(
            "/predict", files={"file": (f"p{k}.jpg", data, "image/jpeg")}, headers=as_user(tokens["ann"])
        )
        assert reply.status_code == 200, reply.text
        ids.append(reply.json()["image_id"])
    for name in ("ann", "bob"):
        for k, image_id in enumerate(ids):
            labels = ["sheep"] if name == "bob" and k in DIFFERENT else LABELS[k % len(LABELS)]
            body = {"image_id": image_id, "corrected_labels": labels}
            saved = gateway.post("/save_correction", json=body, headers=as_user(tokens[name]))
            assert saved.status_code == 200, saved.text

    # `tagloop export` sends a user's token: --token, else TAGLOOP_TOKEN; none is refused
    out = tmp_path / "ann.csv"
    assert export_main(["export", "--url", stack.url, "--out", str(out), "--token", tokens["ann"]]) == 0
    assert len(out.read_text().splitlines()) == PHOTOS + 1
    monkeypatch.delenv("TAGLOOP_ADMIN_TOKEN", raising=False)
    assert export_main(["export", "--url", stack.url, "--out", str(out)]) == 2
    assert "the export was refused" in capsys.readouterr().err
    monkeypatch.setenv("TAGLOOP_TOKEN", tokens["bob"])
    assert export_main(["export", "--url", stack.url, "--out", str(out)]) == 0

    boss = as_user(tokens["boss"])
    agreement = gateway.get("/agreement", headers=boss).json()
    [pair] = agreement["pairs"]
    assert (pair["a"], pair["b"], pair["photos"]) == ("ann", "bob", PHOTOS)
    assert pair["kappa"] < 1
    assert agreement["disagreements"] == len(DIFFERENT)
    listed = gateway.get("/disagreements", headers=boss).json()["disagreements"]
    assert sorted(d["image_id"] for d in listed) == sorted(ids[k] for k in DIFFERENT)

    refused = gateway.post("/models/1/activate", headers=as_user(tokens["ann"]))
    assert refused.status_code == 403 and refused.json()["code"] == "admin_only"
    # the import is refused by the gateway's admin check before its body is read: the same answer
    files = {"file": ("m.h5", b"not read", "application/octet-stream")}
    refused = gateway.post("/models/import", files=files, headers=as_user(tokens["ann"]))
    assert refused.status_code == 403 and refused.json()["code"] == "admin_only", refused.text

    for k in DIFFERENT:
        resolved = gateway.post(f"/disagreements/{ids[k]}/resolve", json={"labels": ["sheep"]}, headers=boss)
        assert resolved.status_code == 200, resolved.text
    accepted = gateway.post("/retrain", json={"epochs": 2, "force": True}, headers=boss)
    assert accepted.status_code == 202, accepted.text
    job = gateway.get(f"/jobs/{accepted.json()['job_id']}", headers=boss)
    assert job.status_code == 200
    with httpx.Client(base_url=stack.url, timeout=120, headers=boss) as admin:
        done = wait_job(admin, accepted.json()["job_id"], timeout=300)
    assert done["status"] == "finished", done
    assert done["result"]["left_out_disagreements"] == 0
    assert done["result"]["samples"] == PHOTOS

    statuses = [
        gateway.post("/auth/login", json={"name": "boss", "password": f"guess {i}"}).status_code
        for i in range(10)
    ]
    assert statuses[0] == 401 and statuses[-1] == 429, statuses
