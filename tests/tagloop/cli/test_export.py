"""`tagloop export`: a session as CSV, COCO and a VOC folder that `tagloop train` learns from."""

import csv
import json
from pathlib import Path

import httpx
import pytest
from tagloop.cli import main
from tagloop.store import ModelStore

from tests.support.stack import Stack
from tests.support.training import CONTRADICTING, image_bytes

pytestmark = pytest.mark.slow


def _reviewed_session(stack: Stack, n: int) -> tuple[int, dict[str, list[str]]]:
    """n photos uploaded through the gateway, put in a session and saved with labels."""
    items, labels = [], {}
    for k, data in enumerate(image_bytes(n)):
        reply = httpx.post(f"{stack.url}/predict", files={"file": (f"export{k}.jpg", data, "image/jpeg")})
        body = reply.json()
        items.append({"image_id": body["image_id"], "filename": f"export{k}.jpg", "scores": body["scores"]})
        labels[body["image_id"]] = sorted(CONTRADICTING[k % len(CONTRADICTING)])
    sid = httpx.post(f"{stack.url}/sessions", json={"name": "export", "items": items}).json()["session"]["id"]
    for image_id, wanted in labels.items():
        reply = httpx.post(f"{stack.url}/sessions/{sid}/items/{image_id}", json={"labels": wanted})
        assert reply.status_code == 200, reply.text
    return sid, labels


def test_export_formats_and_training_from_the_voc_folder(
    capsys, stack: Stack, tmp_path: Path, models_dir: Path
):
    sid, labels = _reviewed_session(stack, 10)
    common = ["--url", stack.url, "--session", str(sid)]

    assert main(["export", "--format", "csv", "--out", str(tmp_path / "l.csv"), *common]) == 0
    rows = list(csv.DictReader((tmp_path / "l.csv").open()))
    assert {r["image_id"]: r["labels"].split() for r in rows} == labels

    assert main(["export", "--format", "coco", "--out", str(tmp_path / "l.json"), *common]) == 0
    coco = json.loads((tmp_path / "l.json").read_text())
    assert len(coco["images"]) == 10 and len(coco["categories"]) == 20
    assert len(coco["annotations"]) == sum(len(v) for v in labels.values())

    voc = tmp_path / "VOCexport"
    assert main(["export", "--format", "voc", "--out", str(voc), *common]) == 0
    assert len(list((voc / "JPEGImages").glob("*.jpg"))) == 10
    capsys.readouterr()
    args = [
        "--models-dir",
        str(models_dir),
        "--data-dir",
        str(tmp_path / "data"),
        "train",
        "--voc-dir",
        str(voc),
    ]
    assert main([*args, "--epochs", "5", "--activate", "yes"]) == 0
    out = capsys.readouterr().out
    assert "training on 8 images (train), evaluating on 2 (val)" in out
    assert "published version 2 (active)" in out
    # Judged on the 2 held out, then published having learned all 10 (the one retrain rule).
    assert ModelStore(models_dir, "voc").meta(2).samples == 10


def test_export_says_when_tagloop_is_not_running(capsys, tmp_path: Path):
    code = main(
        ["export", "--format", "csv", "--out", str(tmp_path / "x.csv"), "--url", "http://127.0.0.1:9"]
    )
    assert code == 2 and "is not answering" in capsys.readouterr().err
