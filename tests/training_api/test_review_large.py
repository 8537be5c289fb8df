"""A review session of 5,000 cards (a folder of 5,000 photos) reads, pages and exports whole."""

import csv
import io
import zipfile

from fastapi.testclient import TestClient
from training_api.config import Settings

from tests.support.large_session import large_session_items

N = 5000


def test_a_5000_card_session_reads_pages_and_exports_every_card(client: TestClient, settings: Settings):
    items = large_session_items(settings.uploads_dir, N)
    reply = client.post("/sessions", json={"name": "folder", "order": "upload", "items": items})
    assert reply.status_code == 201, reply.text
    sid = reply.json()["session"]["id"]

    detail = client.get(f"/sessions/{sid}").json()
    assert [i["filename"] for i in detail["items"]] == [i["filename"] for i in items]
    assert detail["session"]["progress"]["total"] == N and detail["session"]["progress"]["pending"] == N
    assert detail["items"][4990]["predicted"] == ["cat"] and detail["items"][4999]["predicted"] == []

    # paging through the cards: the one after any card is the next in the order, to the end
    for k in (0, 2499, N - 2):
        following = client.get(f"/sessions/{sid}/next", params={"after": items[k]["image_id"]}).json()
        assert following["item"]["filename"] == items[k + 1]["filename"]

    # one card in ten saved (a bulk "cat" on them), then both exports hold those 500 and only them
    cats = [i["image_id"] for i in items[::10]]
    saved = client.post(f"/sessions/{sid}/bulk", json={"image_ids": cats, "add": ["cat"]}).json()
    assert saved["saved"] == N // 10 and saved["progress"]["pending"] == N - N // 10

    reply = client.get("/export", params={"format": "csv", "session": sid})
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert [(r["filename"], r["labels"]) for r in sorted(rows, key=lambda r: r["filename"])] == [
        (f"card{k:05d}.png", "cat") for k in range(0, N, 10)
    ]
    voc = client.get("/export", params={"format": "voc", "session": sid})
    with zipfile.ZipFile(io.BytesIO(voc.content)) as archive:
        names = archive.namelist()
        photos = [n for n in names if "/JPEGImages/" in n and not n.endswith("/")]
        [cat_list] = [n for n in names if n.endswith("ImageSets/Main/cat_trainval.txt")]
        positives = [line for line in archive.read(cat_list).decode().splitlines() if line.split()[-1] == "1"]
    assert len(photos) == N // 10 and len(positives) == N // 10
