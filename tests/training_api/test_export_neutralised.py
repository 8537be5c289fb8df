"""Exports are opened by other programs: a client's file name comes out as a base name
and a CSV cell never starts like a formula; the VOC zip, streamed, is still a valid zip."""

import csv
import io
import json
import zipfile

import pytest
from fastapi.testclient import TestClient
from tagloop.dataset_export import ExportRow, to_csv
from tagloop.uploads import UploadStore
from training_api.config import Settings

from tests.support.testfiles import photo_jpeg, unique_seed

HOSTILE_NAMES = {
    '=HYPERLINK("evil.example","x").jpg': '\'=HYPERLINK("evil.example","x").jpg',
    "+cmd.jpg": "'+cmd.jpg",
    "-2+3.jpg": "'-2+3.jpg",
    "@SUM(A1).jpg": "'@SUM(A1).jpg",
    "../../../etc/cron.d/=x.jpg": "'=x.jpg",
    "C:\\Users\\me\\photo.jpg": "photo.jpg",
    "plain.jpg": "plain.jpg",
}
"""Upload name -> its CSV cell (tab and CR are dropped from upload names when stored)."""


def save(client: TestClient, settings: Settings, filename: str) -> str:
    """An upload stored under `filename` (as /predict stores it), then corrected."""
    image_id = UploadStore(settings.uploads_dir).put(photo_jpeg(seed=unique_seed()), filename)
    reply = client.post("/save_correction", json={"image_id": image_id, "corrected_labels": ["cat"]})
    assert reply.status_code == 200, reply.text
    return image_id


@pytest.fixture
def named(client: TestClient, settings: Settings) -> dict[str, str]:
    """image_id -> the hostile name it was uploaded under."""
    return {save(client, settings, name): name for name in HOSTILE_NAMES}


def test_export_csv_neutralises_formula_cells(client: TestClient, named: dict[str, str]) -> None:
    reply = client.get("/export?format=csv")
    assert reply.status_code == 200
    rows = {r["image_id"]: r["filename"] for r in csv.DictReader(io.StringIO(reply.text))}
    assert {n: rows[i] for i, n in named.items()} == HOSTILE_NAMES


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_cell_starting_like_a_formula_is_text(start: str) -> None:
    """Session items keep the name their client sent, tab and CR included."""
    out = to_csv([ExportRow("a" * 64, f"{start}1+1.jpg", ("cat",))])
    row = next(csv.DictReader(io.StringIO(out, newline="")))
    assert row["filename"] == f"'{start}1+1.jpg"


def test_export_coco_keeps_base_names(client: TestClient, named: dict[str, str]) -> None:
    coco = json.loads(client.get("/export?format=coco").text)
    names = {img["image_id"]: img["file_name"] for img in coco["images"]}
    assert names[next(i for i, n in named.items() if n.startswith("../"))] == "=x.jpg"
    assert names[next(i for i, n in named.items() if n.startswith("C:"))] == "photo.jpg"
    assert all("/" not in n and "\\" not in n and n not in ("", ".", "..") for n in names.values())


def test_export_voc_streamed_is_a_valid_zip_of_base_names(client: TestClient, named: dict[str, str]) -> None:
    reply = client.get("/export?format=voc")
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(reply.content))
    assert archive.testzip() is None
    members = archive.namelist()
    assert len([m for m in members if m.startswith("tagloop-corrections/JPEGImages/")]) == len(named)
    assert all(".." not in m and not m.startswith("/") for m in members)


def test_export_of_nothing_is_still_an_error_not_an_empty_zip(client: TestClient) -> None:
    reply = client.get("/export?format=voc")
    assert reply.status_code == 404 and reply.json()["code"] == "nothing_to_export"
