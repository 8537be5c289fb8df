"""Bad input through the gateway: a 4xx in the one JSON error shape, nothing written, still healthy.

Decisions (also in docs/RELIABILITY.md): a 1x1 image and a JPEG with 60 KB of EXIF (valid
or garbage) are images and are predicted; a JPEG with a ZIP or HTML appended decodes as
the JPEG it is, is stored as uploaded and is served back only as image/jpeg with nosniff;
GIF (animated, or a GIF/JS polyglot) and SVG are refused (415); a client filename is
metadata only (the stored file is named by sha256), echoed back inside JSON.
"""

import hashlib
import json
from collections.abc import Callable, Iterator

import httpx
import pytest
from tagloop.classes import VOC_CLASSES

from tests.support.stack import Stack
from tests.support.stack_checks import assert_json_error, assert_system_green, upload_files
from tests.support.testfiles import (
    SVG,
    animated_gif,
    garbage_exif_jpeg,
    giant_exif_jpeg,
    gif_js_polyglot,
    jpeg_with_html_appended,
    jpeg_with_zip_appended,
    multipart,
    photo_jpeg,
    photo_png,
    png_bomb,
    small_png,
    truncated,
    unique_seed,
)

pytestmark = pytest.mark.integration

MB = 1024 * 1024


@pytest.fixture(scope="module")
def image_id(gateway: httpx.Client) -> str:
    """A stored upload to correct."""
    reply = gateway.post(
        "/predict", files={"file": ("base.jpg", photo_jpeg(seed=unique_seed()), "image/jpeg")}
    )
    assert reply.status_code == 200, reply.text
    return reply.json()["image_id"]


@pytest.fixture
def unchanged(stack: Stack) -> Iterator[None]:
    """The upload store holds the same files after the test, and the system is still green."""
    before = upload_files(stack)
    yield
    assert upload_files(stack) == before, "a refused request wrote to the upload store"
    assert_system_green(stack)


REFUSED: dict[str, tuple[str, Callable[[], bytes], int, tuple[str, ...]]] = {
    "empty_file": ("empty.jpg", lambda: b"", 400, ("empty",)),
    "text_named_jpg": (
        "notes.jpg",
        lambda: b"just some text, not a picture\n" * 20,
        415,
        ("not a JPEG", "text"),
    ),
    "truncated_jpeg": (
        "cut.jpg",
        lambda: truncated(photo_jpeg(seed=11, size=(640, 480))),
        400,
        ("truncated",),
    ),
    "truncated_png": ("cut.png", lambda: truncated(photo_png(seed=12)), 400, ("PNG",)),
    "png_bomb_20000x20000": ("bomb.png", png_bomb, 413, ("megapixels",)),
    "animated_gif": ("anim.gif", animated_gif, 415, ("GIF",)),
    "svg": ("drawing.svg", lambda: SVG, 415, ("SVG",)),
    "gif_js_polyglot": ("x.gif", gif_js_polyglot, 415, ("GIF",)),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_predict_refuses_bad_file(gateway: httpx.Client, unchanged: None, record, case: str) -> None:
    """/predict refuses the file with a 4xx JSON error and stores nothing."""
    filename, make, status, words = REFUSED[case]
    reply = gateway.post("/predict", files={"file": (filename, make(), "image/jpeg")})
    error = assert_json_error(reply, status, *words)
    record(f"{reply.status_code}: {error}")


def test_batch_predict_reports_each_bad_file_and_stores_only_good_ones(
    gateway: httpx.Client, stack: Stack, record
) -> None:
    """/batch_predict answers 200; each bad file gets its own error, only the good one is stored."""
    before = set(upload_files(stack))
    good = photo_jpeg(seed=unique_seed())
    files = [("files", (name, make(), "image/jpeg")) for name, make, _, _ in REFUSED.values()]
    files.append(("files", ("good.jpg", good, "image/jpeg")))
    reply = gateway.post("/batch_predict", files=files)
    assert reply.status_code == 200, reply.text
    results = reply.json()["results"]
    assert [r["filename"] for r in results] == [f[1][0] for f in files]
    assert all("error" in r and r["error"] for r in results[:-1]), results
    assert results[-1]["image_id"] == hashlib.sha256(good).hexdigest()
    added = {p.name for p in set(upload_files(stack)) - before if p.parent.name != "by-name"}
    assert added == {results[-1]["image_id"], f"{results[-1]['image_id']}.json"}
    record(f"200; {len(results) - 1} per-file errors, 1 prediction")
    assert_system_green(stack)


ACCEPTED: dict[str, Callable[[], bytes]] = {
    "1x1_png": lambda: small_png((1, 1)),
    "giant_exif_jpeg": giant_exif_jpeg,
    "garbage_exif_jpeg": garbage_exif_jpeg,
}


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_predict_accepts_odd_but_valid_image(gateway: httpx.Client, stack: Stack, record, case: str) -> None:
    """A valid image that is odd (1x1, 60 KB of EXIF) is predicted, not refused."""
    data = ACCEPTED[case]()
    reply = gateway.post("/predict", files={"file": (f"{case}.img", data, "application/octet-stream")})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["image_id"] == hashlib.sha256(data).hexdigest()
    assert set(body["scores"]) == set(VOC_CLASSES)
    record(f"200 ({len(data)} bytes); top: {max(body['scores'], key=body['scores'].get)}")
    assert_system_green(stack)


POLYGLOTS: dict[str, Callable[..., bytes]] = {
    "zip_appended": jpeg_with_zip_appended,
    "html_appended": jpeg_with_html_appended,
}


@pytest.mark.parametrize("case", list(POLYGLOTS))
def test_predict_polyglot_jpeg_is_only_ever_an_image(gateway: httpx.Client, record, case: str) -> None:
    """A JPEG with a ZIP/HTML tail is predicted as the JPEG and served back only as image/jpeg."""
    data = POLYGLOTS[case](seed=unique_seed())
    reply = gateway.post("/predict", files={"file": (f"{case}.html", data, "text/html")})
    assert reply.status_code == 200, reply.text
    image = gateway.get(f"/images/{reply.json()['image_id']}")
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    # nginx adds the header to every reply; the service's own copy may come along too.
    assert {v.strip() for v in image.headers["x-content-type-options"].split(",")} == {"nosniff"}
    assert "script-src 'self'" in image.headers["content-security-policy"]
    assert image.content == data
    record(f"200; served back as {image.headers['content-type']} with nosniff and the CSP")


def test_predict_refuses_body_over_16mb_at_gateway(gateway: httpx.Client, unchanged: None, record) -> None:
    """nginx answers 413 in the JSON shape before the service sees the body."""
    body = photo_jpeg(seed=3) + b"\0" * (17 * MB)
    reply = gateway.post("/predict", files={"file": ("big.jpg", body, "image/jpeg")})
    error = assert_json_error(reply, 413, "16 MB")
    record(f"413: {error}")


def test_predict_refuses_body_over_16mb_at_service(stack: Stack, unchanged: None, record) -> None:
    """The inference service itself refuses a body over its limit (declared length)."""
    body = photo_jpeg(seed=4) + b"\0" * (17 * MB)
    reply = httpx.post(f"{stack.inference_url}/predict", files={"file": ("big.jpg", body)}, timeout=120)
    error = assert_json_error(reply, 413, "larger than 16")
    record(f"413: {error}")


def test_predict_refuses_chunked_body_over_16mb_at_service(stack: Stack, unchanged: None, record) -> None:
    """A chunked body (no Content-Length) over the limit is cut off with 413 too."""
    payload, content_type = multipart([("file", b"big.jpg", photo_jpeg(seed=5) + b"\0" * (17 * MB))])

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(payload), MB):
            yield payload[i : i + MB]

    reply = httpx.post(
        f"{stack.inference_url}/predict",
        content=chunks(),
        headers={"content-type": content_type},
        timeout=120,
    )
    error = assert_json_error(reply, 413, "larger than 16")
    record(f"413: {error}")


def test_batch_predict_refuses_500_files(gateway: httpx.Client, unchanged: None, record) -> None:
    """500 files in one batch: refused as a whole with the limit in the message."""
    tiny = small_png((1, 1))
    files = [("files", (f"f{i}.png", tiny, "image/png")) for i in range(500)]
    reply = gateway.post("/batch_predict", files=files)
    error = assert_json_error(reply, 413, "too many files", "500", "50")
    record(f"413: {error}")


@pytest.mark.parametrize("threshold", ["abc", "-1", "2", "NaN", "inf", "1e999"])
@pytest.mark.parametrize("path", ["/predict", "/batch_predict"])
def test_predict_rejects_bad_threshold(
    gateway: httpx.Client, unchanged: None, record, path: str, threshold: str
) -> None:
    """threshold outside 0..1 or not a number: 422 naming the field."""
    field = "file" if path == "/predict" else "files"
    reply = gateway.post(
        path, files={field: ("t.jpg", photo_jpeg(seed=6), "image/jpeg")}, data={"threshold": threshold}
    )
    error = assert_json_error(reply, 422, "threshold")
    record(f"422: {error}")


def history_length(gateway: httpx.Client, image_id: str) -> int:
    reply = gateway.get(f"/corrections/{image_id}")
    assert reply.status_code == 200, reply.text
    return len(reply.json()["corrections"])


CORRECTIONS_REFUSED: dict[str, tuple[Callable[[str], object], int | tuple[int, ...], tuple[str, ...]]] = {
    "unknown_label": (lambda i: {"image_id": i, "corrected_labels": ["cat", "unicorn"]}, 422, ("'unicorn'",)),
    "10000_labels": (
        lambda i: {"image_id": i, "corrected_labels": ["cat"] * 10_000},
        422,
        ("corrected_labels",),
    ),
    "10000_unknown_labels": (
        lambda i: {"image_id": i, "corrected_labels": [f"l{n}" for n in range(10_000)]},
        422,
        ("corrected_labels",),
    ),
    "labels_not_a_list": (lambda i: {"image_id": i, "corrected_labels": "cat"}, 422, ("corrected_labels",)),
    "missing_labels": (lambda i: {"image_id": i}, 422, ("corrected_labels",)),
    "missing_image_ref": (lambda i: {"corrected_labels": ["cat"]}, 422, ("image_id", "filename")),
    "unknown_image_id": (
        lambda i: {"image_id": "0" * 64, "corrected_labels": ["cat"]},
        404,
        ("no uploaded image",),
    ),
    "image_id_path": (
        lambda i: {"image_id": "../../etc/passwd", "corrected_labels": []},
        (404, 422),
        ("image",),
    ),
    "filename_path": (
        lambda i: {"filename": "../../../etc/passwd", "corrected_labels": []},
        404,
        ("no uploaded image",),
    ),
    "empty_object": (lambda i: {}, 422, ("corrected_labels",)),
    "json_array": (lambda i: [i], 422, ("invalid request",)),
}


@pytest.mark.parametrize("case", list(CORRECTIONS_REFUSED))
def test_save_correction_refuses_bad_body(gateway: httpx.Client, image_id: str, record, case: str) -> None:
    """/save_correction refuses the body with a 4xx JSON error and appends nothing."""
    make, status, words = CORRECTIONS_REFUSED[case]
    before = history_length(gateway, image_id)
    reply = gateway.post("/save_correction", json=make(image_id))
    error = assert_json_error(reply, status, *words)
    assert history_length(gateway, image_id) == before
    record(f"{reply.status_code}: {error}")


def test_save_correction_deduplicates_repeated_labels(gateway: httpx.Client, image_id: str, record) -> None:
    """Duplicate labels are one label (decision: accepted, not refused)."""
    reply = gateway.post(
        "/save_correction", json={"image_id": image_id, "corrected_labels": ["dog", "cat", "dog", "Cat"]}
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["correction"]["corrected_labels"] == ["cat", "dog"]
    record("200; stored ['cat', 'dog']")


def test_save_correction_ignores_unknown_field(gateway: httpx.Client, image_id: str, record) -> None:
    """An unknown field is ignored (the service's choice: extra="ignore"), never stored."""
    body = {"image_id": image_id, "corrected_labels": ["cow"], "admin": True}
    reply = gateway.post("/save_correction", json=body)
    assert reply.status_code == 200, reply.text
    assert "admin" not in reply.json()["correction"]
    record("200; the unknown field 'admin' is dropped")


WRONG_BODIES: dict[str, tuple[str, dict, tuple[str, ...]]] = {
    "malformed_json": (
        "/save_correction",
        {"content": b'{"image_id": "ab", "corrected_la', "headers": {"content-type": "application/json"}},
        ("JSON",),
    ),
    "multipart_to_save_correction": (
        "/save_correction",
        {"files": {"file": ("a.jpg", b"xx", "image/jpeg")}},
        ("takes a JSON body",),
    ),
    "text_to_save_correction": (
        "/save_correction",
        {"content": b"cat, dog", "headers": {"content-type": "text/plain"}},
        ("takes a JSON body",),
    ),
    "json_to_predict": ("/predict", {"json": {"file": "cat.jpg"}}, ("file",)),
    "no_file_to_predict": ("/predict", {"data": {"threshold": "0.5"}}, ("file",)),
    "no_files_to_batch_predict": ("/batch_predict", {"data": {"threshold": "0.5"}}, ("files",)),
    "file_as_text_field": ("/predict", {"data": {"file": "not a file"}}, ("file",)),
    "malformed_json_to_retrain": (
        "/retrain",
        {"content": b"{epochs: 3", "headers": {"content-type": "application/json"}},
        ("JSON",),
    ),
    "retrain_epochs_not_a_number": ("/retrain", {"json": {"epochs": "many"}}, ("epochs",)),
}


@pytest.mark.parametrize("case", list(WRONG_BODIES))
def test_api_refuses_wrong_body(gateway: httpx.Client, unchanged: None, record, case: str) -> None:
    """Wrong content type, missing fields or malformed JSON: 4xx (422/400) in the JSON shape."""
    path, request, words = WRONG_BODIES[case]
    reply = gateway.post(path, **request)
    error = assert_json_error(reply, (400, 415, 422), *words)
    record(f"{reply.status_code}: {error}")


BAD_PATHS: dict[str, tuple[str, int | tuple[int, ...], str]] = {
    "limit_not_a_number": ("/get_corrections?limit=abc", 422, "limit"),
    "limit_too_big": ("/get_corrections?limit=100000", 422, "limit"),
    "negative_offset": ("/get_corrections?offset=-1", 422, "offset"),
    "image_path_traversal": ("/images/..%2F..%2Fetc%2Fpasswd", (400, 404), ""),
    "unknown_image": ("/images/" + "0" * 64, 404, "no uploaded image"),
    "history_of_non_sha": ("/corrections/not-a-sha", (404, 422), "image"),
    "unknown_job": ("/jobs/does-not-exist", 404, "job"),
    "job_id_with_space": ("/jobs/no%20such%20job", (404, 422), "job"),
    "job_id_unicode": ("/jobs/%C3%BC", (404, 422), "job"),
    "activate_non_number": ("/models/abc/activate", 422, "version"),
    "activate_unknown_version": ("/models/999/activate", 404, "999"),
}


@pytest.mark.parametrize("case", list(BAD_PATHS))
def test_api_refuses_bad_path_or_query(gateway: httpx.Client, record, case: str) -> None:
    """Bad ids, paths and query values: 4xx in the JSON shape."""
    path, status, word = BAD_PATHS[case]
    method = "POST" if path.endswith("/activate") else "GET"
    reply = gateway.request(method, path)
    error = assert_json_error(reply, status, word)
    record(f"{reply.status_code}: {error}")


FILENAMES = {
    "dot_dot_slash": b"../../../../tmp/tagloop-evil.jpg",
    "nul_byte": b"cat\x00.jpg",
    "300_characters": b"n" * 296 + b".jpg",
    "unicode": "猫の写真 🐱 ünïcødé.jpg".encode(),
    "html": b"<img src=x onerror=alert(1)>.jpg",
}


@pytest.mark.parametrize("case", list(FILENAMES))
def test_predict_keeps_filename_as_metadata_only(
    gateway: httpx.Client, stack: Stack, record, case: str
) -> None:
    """Any client filename is accepted as metadata: the file is stored under its sha256 only."""
    data = photo_jpeg(seed=unique_seed())
    body, content_type = multipart([("file", FILENAMES[case], data)])
    reply = gateway.post("/predict", content=body, headers={"content-type": content_type})
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    digest = hashlib.sha256(data).hexdigest()
    assert answer["image_id"] == digest
    assert (stack.data_dir / "uploads" / digest[:2] / digest).read_bytes() == data
    assert not list(stack.data_dir.rglob("*tagloop-evil*")) and not (stack.workdir / "tmp").exists()
    echoed = answer["filename"] or ""
    assert "\x00" not in json.dumps(echoed) and len(echoed) <= 300
    stored = json.loads((stack.data_dir / "uploads" / digest[:2] / f"{digest}.json").read_text())
    assert all("\x00" not in n and len(n) <= 255 for n in stored["filenames"])
    kept = stored["filenames"]
    record(f"200; stored as uploads/{digest[:2]}/<sha256>; reply filename {echoed[:60]!r}; kept {kept!r}")
