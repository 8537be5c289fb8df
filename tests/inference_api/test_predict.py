"""/predict and /batch_predict on the real version 1, in-process (TestClient, real Redis)."""

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from inference_api.main import create_app
from PIL import Image
from skimage import data as skdata
from tagloop.classes import VOC_CLASSES
from tagloop.uploads import UploadStore, clean_filename

from tests.support.images import jpeg_bytes, png_bytes
from tests.support.inference import make_settings, raw_multipart


@pytest.fixture(scope="module")
def cat_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(skdata.chelsea()).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def uploads_in(client: TestClient) -> list[Path]:
    root = client.app.state.settings.uploads_dir  # type: ignore[attr-defined]
    return [p for p in root.rglob("*") if p.is_file() and len(p.name) == 64 and p.parent.name != "by-name"]


def predict(client: TestClient, data: bytes, *, filename: str = "x.jpg", **form: str):
    return client.post("/predict", files={"file": (filename, data, "image/jpeg")}, data=form)


def test_predict_returns_scores_for_all_classes_and_sorted_predictions(
    v1_client: TestClient, cat_jpeg: bytes
) -> None:
    reply = predict(v1_client, cat_jpeg, filename="chelsea.jpg", threshold="0.001")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["success"] is True
    assert body["model_version"] == 1
    assert body["filename"] == "chelsea.jpg"
    assert body["image_id"] == hashlib.sha256(cat_jpeg).hexdigest()
    assert list(body["scores"]) == list(VOC_CLASSES)
    confidences = [p["confidence"] for p in body["predictions"]]
    assert confidences == sorted(confidences, reverse=True)
    assert all(c >= 0.001 for c in confidences)
    assert {p["label"]: p["confidence"] for p in body["predictions"]}.items() <= body["scores"].items()


def test_predict_says_cat_for_a_cat_with_version_1(v1_client: TestClient, cat_jpeg: bytes) -> None:
    body = predict(v1_client, cat_jpeg).json()
    assert body["predictions"][0]["label"] == "cat"


def test_predict_threshold_defaults_to_half_and_bounds_are_inclusive(
    v1_client: TestClient, cat_jpeg: bytes
) -> None:
    default = predict(v1_client, cat_jpeg).json()
    assert all(p["confidence"] >= 0.5 for p in default["predictions"])
    assert len(predict(v1_client, cat_jpeg, threshold="0").json()["predictions"]) == 20
    assert predict(v1_client, cat_jpeg, threshold="1").json()["predictions"] == []


def test_predict_stores_the_upload_by_content(v1_client: TestClient, cat_jpeg: bytes, tmp_path: Path) -> None:
    first = predict(v1_client, cat_jpeg, filename="a.jpg").json()
    second = predict(v1_client, cat_jpeg, filename="b.jpg").json()
    assert first["image_id"] == second["image_id"]
    assert len(uploads_in(v1_client)) == 1
    store = UploadStore(tmp_path / "data" / "uploads")
    assert store.read(first["image_id"]) == cat_jpeg
    assert store.meta(first["image_id"])["filenames"] == ["a.jpg", "b.jpg"]


def test_predict_accepts_png_and_webp_by_content(v1_client: TestClient) -> None:
    buf = io.BytesIO()
    Image.fromarray(skdata.coffee()).save(buf, "WEBP")
    assert predict(v1_client, png_bytes(), filename="named.jpg").status_code == 200
    assert predict(v1_client, buf.getvalue(), filename="no-extension").status_code == 200


@pytest.mark.parametrize("threshold", ["abc", "-1", "2", "NaN", "inf", "0.5; DROP"])
def test_predict_rejects_bad_threshold(v1_client: TestClient, cat_jpeg: bytes, threshold: str) -> None:
    reply = predict(v1_client, cat_jpeg, threshold=threshold)
    assert reply.status_code == 422
    assert reply.json()["success"] is False
    assert "threshold" in reply.json()["error"]
    assert uploads_in(v1_client) == []


def test_predict_rejects_truncated_jpeg(v1_client: TestClient, cat_jpeg: bytes) -> None:
    reply = predict(v1_client, cat_jpeg[: len(cat_jpeg) // 2])
    assert reply.status_code == 400
    assert reply.json() == {"success": False, "error": reply.json()["error"], "code": "corrupt_image"}
    assert "damaged or truncated" in reply.json()["error"]
    assert uploads_in(v1_client) == []


def test_predict_rejects_text_named_jpg(v1_client: TestClient) -> None:
    reply = predict(v1_client, b"just some text\n", filename="photo.jpg")
    assert reply.status_code == 415
    assert "not a JPEG, PNG or WebP image (found: text)" in reply.json()["error"]


def test_predict_rejects_gif(v1_client: TestClient) -> None:
    buf = io.BytesIO()
    Image.new("P", (8, 8)).save(buf, "GIF")
    reply = predict(v1_client, buf.getvalue(), filename="anim.gif")
    assert reply.status_code == 415
    assert "GIF images are not supported" in reply.json()["error"]


def test_predict_rejects_pixel_bomb(v1_client: TestClient) -> None:
    buf = io.BytesIO()
    Image.new("1", (8000, 8000)).save(buf, "PNG")  # 64 MP (over the 40 MP limit), a few KB
    reply = predict(v1_client, buf.getvalue(), filename="bomb.png")
    assert reply.status_code == 413
    assert "megapixels" in reply.json()["error"]


def test_predict_refuses_a_huge_bomb_stating_only_our_limit_and_its_size(tiny_client: TestClient) -> None:
    buf = io.BytesIO()
    Image.new("1", (20000, 10000)).save(buf, "PNG")  # 200 MP: over Pillow's own bomb limit too
    reply = predict(tiny_client, buf.getvalue(), filename="bomb.png")
    assert reply.status_code == 413
    assert reply.json()["error"] == "the image is 200.0 megapixels; the limit is 40 megapixels"


@pytest.mark.parametrize("name", [b"cat\x00.jpg", b"a\tb\x7f.jpg", b"long-" + b"x" * 300 + b".jpg"])
def test_predict_echoes_the_filename_the_upload_store_keeps(tiny_client: TestClient, name: bytes) -> None:
    body, content_type = raw_multipart("file", [(name, png_bytes())])
    reply = tiny_client.post("/predict", content=body, headers={"content-type": content_type})
    assert reply.status_code == 200, reply.text
    uploads = UploadStore(tiny_client.app.state.settings.uploads_dir)  # type: ignore[attr-defined]
    kept = uploads.meta(reply.json()["image_id"])["filenames"][-1]
    assert reply.json()["filename"] == kept == clean_filename(name.decode())
    assert "\x00" not in kept and len(kept) <= 255


def test_batch_predict_echoes_the_filenames_the_upload_store_keeps(tiny_client: TestClient) -> None:
    names = [b"nul\x00.png", b"y" * 300 + b".png", b"\x01"]
    images = [(name, png_bytes(size=(8 + i, 8))) for i, name in enumerate(names)]
    body, content_type = raw_multipart("files", images)
    reply = tiny_client.post("/batch_predict", content=body, headers={"content-type": content_type})
    assert [r["filename"] for r in reply.json()["results"]] == ["nul.png", "y" * 255, None]


def test_predict_rejects_body_over_16_mib(v1_client: TestClient) -> None:
    reply = predict(v1_client, b"\xff\xd8\xff" + b"0" * (16 * 1024 * 1024))
    assert reply.status_code == 413
    assert reply.json() == {
        "success": False,
        "error": "the request body is larger than 16 MiB",
        "code": "too_large",
    }


def test_predict_without_file_is_422(v1_client: TestClient) -> None:
    reply = v1_client.post("/predict", data={"threshold": "0.5"})
    assert reply.status_code == 422
    assert "file" in reply.json()["error"]


def test_predict_rejects_empty_file(v1_client: TestClient) -> None:
    reply = predict(v1_client, b"")
    assert reply.status_code == 400
    assert "empty" in reply.json()["error"]


def test_batch_predict_returns_each_file_and_reports_the_bad_one(
    v1_client: TestClient, cat_jpeg: bytes
) -> None:
    files = [
        ("files", ("cat.jpg", cat_jpeg, "image/jpeg")),
        ("files", ("broken.jpg", cat_jpeg[:2000], "image/jpeg")),
        ("files", ("red.png", png_bytes(mode="RGB"), "image/png")),
        ("files", ("notes.jpg", b"hello", "image/jpeg")),
    ]
    reply = v1_client.post("/batch_predict", files=files, data={"threshold": "0.3"})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["success"] is True and body["model_version"] == 1
    assert [r["filename"] for r in body["results"]] == ["cat.jpg", "broken.jpg", "red.png", "notes.jpg"]
    cat, broken, red, notes = body["results"]
    assert cat["predictions"][0]["label"] == "cat"
    assert cat["image_id"] == hashlib.sha256(cat_jpeg).hexdigest()
    assert len(red["scores"]) == 20
    assert all(p["confidence"] >= 0.3 for p in red["predictions"])
    assert set(broken) == {"filename", "error", "code"} and "truncated" in broken["error"]
    assert broken["code"] == "corrupt_image"  # the UI translates the sentence by its code
    assert "found: text" in notes["error"]
    assert len(uploads_in(v1_client)) == 2


def test_batch_predict_matches_predict_scores(v1_client: TestClient, cat_jpeg: bytes) -> None:
    single = predict(v1_client, cat_jpeg).json()["scores"]
    files = [("files", (f"{i}.jpg", jpeg_bytes(color=(i * 20, 0, 0)), "image/jpeg")) for i in range(5)]
    files.append(("files", ("cat.jpg", cat_jpeg, "image/jpeg")))
    batch = v1_client.post("/batch_predict", files=files).json()["results"][-1]["scores"]
    np.testing.assert_allclose([batch[k] for k in VOC_CLASSES], [single[k] for k in VOC_CLASSES], atol=1e-5)


def test_batch_predict_refuses_too_many_files(models_dir: Path, tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(
        models_dir=models_dir, data_dir=tmp_path / "d", redis_url=redis_url, max_batch_files=3
    )
    files = [("files", (f"{i}.png", png_bytes(), "image/png")) for i in range(4)]
    with TestClient(create_app(settings)) as client:
        reply = client.post("/batch_predict", files=files)
    assert reply.status_code == 413
    assert reply.json()["error"] == "too many files: 4; a batch takes at most 3"


def test_batch_predict_without_files_is_422(v1_client: TestClient) -> None:
    reply = v1_client.post("/batch_predict", data={"threshold": "0.5"})
    assert reply.status_code == 422
    assert "files" in reply.json()["error"]


def test_batch_predict_rejects_bad_threshold(v1_client: TestClient) -> None:
    reply = v1_client.post(
        "/batch_predict", files=[("files", ("a.png", png_bytes(), "image/png"))], data={"threshold": "2"}
    )
    assert reply.status_code == 422
    assert "threshold" in reply.json()["error"]


def test_predict_rejects_a_chunked_body_over_16_mib(v1_client: TestClient) -> None:
    def body():  # type: ignore[no-untyped-def]  # no Content-Length: the limit counts bytes
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.jpg"\r\n\r\n'
        for _ in range(17):
            yield b"0" * (1024 * 1024)
        yield b"\r\n--b--\r\n"

    reply = v1_client.post(
        "/predict", content=body(), headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert reply.status_code == 413
    assert reply.json() == {
        "success": False,
        "error": "the request body is larger than 16 MiB",
        "code": "too_large",
    }
