"""tagloop.uploads: stored once by content; a client's filename is metadata, never a path."""

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image
from tagloop.uploads import UnknownImageError, UploadStore


def jpeg(color: tuple[int, int, int] = (10, 20, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(buf, "JPEG")
    return buf.getvalue()


def stored_files(root: Path) -> list[Path]:
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.parent.name != "by-name" and p.name != ".lock"
    )


def test_put_returns_the_sha256_and_read_returns_the_bytes(tmp_path: Path) -> None:
    store = UploadStore(tmp_path)
    data = jpeg()
    image_id = store.put(data, "cat.jpg")
    assert image_id == hashlib.sha256(data).hexdigest()
    assert store.read(image_id) == data
    assert store.exists(image_id)
    assert store.path_of(image_id) == tmp_path / image_id[:2] / image_id


def test_put_stores_the_same_bytes_once_and_keeps_every_filename(tmp_path: Path) -> None:
    store = UploadStore(tmp_path)
    first = store.put(jpeg(), "a.jpg")
    second = store.put(jpeg(), "b.jpg")
    assert first == second
    assert len(stored_files(tmp_path)) == 2  # the image and its sidecar
    meta = store.meta(first)
    assert meta["filenames"] == ["a.jpg", "b.jpg"]
    assert meta["size"] == len(jpeg())
    assert meta["format"] == "JPEG"
    assert meta["first_seen"]


def test_put_keeps_a_filename_with_dotdot_or_nul_as_metadata_only(tmp_path: Path) -> None:
    root = tmp_path / "uploads"
    store = UploadStore(root)
    image_id = store.put(jpeg(), "../../etc/passwd\x00.jpg")
    assert store.meta(image_id)["filenames"] == ["../../etc/passwd.jpg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["uploads"]  # nothing written outside
    assert all(p.resolve().is_relative_to(root.resolve()) for p in root.rglob("*"))
    assert store.find_by_filename("../../etc/passwd\x00.jpg") == image_id


def test_find_by_filename_returns_the_latest_upload_with_that_name(tmp_path: Path) -> None:
    store = UploadStore(tmp_path)
    store.put(jpeg((1, 2, 3)), "photo.jpg")
    latest = store.put(jpeg((200, 100, 50)), "photo.jpg")
    assert store.find_by_filename("photo.jpg") == latest
    assert store.find_by_filename("other.jpg") is None
    assert store.find_by_filename("") is None


@pytest.mark.parametrize("bad_id", ["", "../../etc/passwd", "A" * 64, "0" * 63, "g" * 64])
def test_read_refuses_ids_that_are_not_sha256_hex(tmp_path: Path, bad_id: str) -> None:
    store = UploadStore(tmp_path)
    with pytest.raises(UnknownImageError, match="not an image id"):
        store.read(bad_id)
    assert store.exists(bad_id) is False


def test_read_and_meta_of_an_unknown_image_raise_unknown_image(tmp_path: Path) -> None:
    store = UploadStore(tmp_path)
    with pytest.raises(UnknownImageError, match="no uploaded image"):
        store.read("0" * 64)
    with pytest.raises(UnknownImageError):
        store.meta("0" * 64)


def test_put_without_filename_stores_the_image(tmp_path: Path) -> None:
    store = UploadStore(tmp_path)
    image_id = store.put(b"not even an image")
    assert store.read(image_id) == b"not even an image"
    assert store.meta(image_id)["filenames"] == []
