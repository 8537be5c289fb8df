"""Corrections as files: CSV, a Pascal VOC folder (image level) and COCO-style JSON.

The VOC folder is what `tagloop train --voc-dir` reads:

    JPEGImages/<name>.jpg                    every image, as JPEG
    ImageSets/Main/{train,val,trainval}.txt  the image names of each split
    ImageSets/Main/<class>_<split>.txt       "<name>  1" when the image has the class, else "-1"

There are no Annotations/ (no boxes: the labels are image-level). Every fifth image (by
image_id) goes to val, at least one when there are two or more images.

Exported files are opened by other programs, so what a client named its upload is
neutralised: a file name keeps only its base name (no folders, no `..`), and a CSV cell
that a spreadsheet would take for a formula (`= + - @`, tab, carriage return at its start)
is prefixed with `'`. The VOC zip is produced in chunks, one member at a time, so its
memory does not grow with the session.
"""

import csv
import io
import json
import posixpath
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from tagloop.classes import VOC_CLASSES
from tagloop.errors import TagloopError
from tagloop.uploads import UploadStore

FORMATS = ("csv", "voc", "coco")
VAL_EVERY = 5


class NothingToExportError(TagloopError):
    """There are no corrections (in the session) to export."""


@dataclass(frozen=True)
class ExportRow:
    image_id: str
    filename: str | None
    labels: tuple[str, ...]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula (OWASP's CSV injection list)."""


def base_name(filename: str | None) -> str:
    """The last part of a client's file name, whatever its separators: never a path."""
    if not filename:
        return ""
    name = posixpath.basename(filename.replace("\\", "/"))
    return "" if name in (".", "..") else name


def safe_cell(value: str) -> str:
    """A CSV cell a spreadsheet shows as text: a formula-like start gets a leading `'`."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def to_csv(rows: Sequence[ExportRow]) -> str:
    """filename,image_id,labels (labels separated by spaces)."""
    return "".join(csv_lines(rows))


def csv_lines(rows: Iterable[ExportRow]) -> Iterator[str]:
    """The CSV, one line at a time (streamed: memory stays flat however many rows)."""
    out = io.StringIO()
    # CRLF (RFC 4180): then a CR inside a cell is quoted, not read as the end of a row.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["filename", "image_id", "labels"])
    for row in rows:
        cells = [base_name(row.filename), row.image_id, " ".join(row.labels)]
        writer.writerow([safe_cell(cell) for cell in cells])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()  # the header alone, when there is no row


def coco_chunks(rows: Sequence[ExportRow], uploads: UploadStore) -> Iterator[str]:
    """COCO-style JSON: images, the 20 categories, one image-level annotation per label (no
    bbox), written one image and one annotation at a time (streamed: each image's size is
    read from its file header as it goes)."""
    categories = [{"id": k + 1, "name": name, "supercategory": "voc"} for k, name in enumerate(VOC_CLASSES)]
    category_id = {c["name"]: c["id"] for c in categories}
    yield '{"info": {"description": "tagloop corrections (image-level labels)"},\n"images": ['
    for k, row in enumerate(rows, start=1):
        width, height = _size(uploads, row.image_id)
        image = {
            "id": k,
            "file_name": base_name(row.filename) or f"{row.image_id}.jpg",
            "image_id": row.image_id,
            "width": width,
            "height": height,
        }
        yield ("" if k == 1 else ",") + "\n" + json.dumps(image)
    yield '],\n"annotations": ['
    annotations = (
        {"image_id": k, "category_id": category_id[label]}
        for k, row in enumerate(rows, 1)
        for label in row.labels
    )
    for n, annotation in enumerate(annotations, start=1):
        yield ("" if n == 1 else ",") + "\n" + json.dumps({"id": n, **annotation})
    yield '],\n"categories": ' + json.dumps(categories) + "}\n"


def _size(uploads: UploadStore, image_id: str) -> tuple[int, int]:
    with Image.open(uploads.path_of(image_id)) as img:
        return img.size


def split_of(rows: Sequence[ExportRow]) -> dict[str, str]:
    """image_id -> "train" or "val": every fifth by image_id, at least one val from two images."""
    ids = sorted(row.image_id for row in rows)
    val = {image_id for k, image_id in enumerate(ids) if k % VAL_EVERY == VAL_EVERY - 1}
    if not val and len(ids) >= 2:
        val = {ids[-1]}
    return {image_id: "val" if image_id in val else "train" for image_id in ids}


def write_voc(rows: Sequence[ExportRow], uploads: UploadStore, dest: Path) -> Path:
    """The VOC folder under `dest` (created); returns it."""
    if not rows:
        raise NothingToExportError("there are no corrections to export")
    images, main = dest / "JPEGImages", dest / "ImageSets" / "Main"
    images.mkdir(parents=True, exist_ok=True)
    main.mkdir(parents=True, exist_ok=True)
    for name, data in voc_files(rows, uploads):
        path = dest / name
        path.write_bytes(data)
    return dest


def voc_files(rows: Sequence[ExportRow], uploads: UploadStore) -> Iterator[tuple[str, bytes]]:
    """(relative path, bytes) of every file of the VOC folder, one image at a time."""
    split = split_of(rows)
    names: dict[str, list[str]] = {"train": [], "val": []}
    for row in rows:
        name = row.image_id[:16]
        yield f"JPEGImages/{name}.jpg", _jpeg(uploads, row.image_id)
        names[split[row.image_id]].append(name)
    names["trainval"] = names["train"] + names["val"]
    by_name = {row.image_id[:16]: set(row.labels) for row in rows}
    for part, members in names.items():
        yield f"ImageSets/Main/{part}.txt", "".join(f"{n}\n" for n in members).encode()
        for cls in VOC_CLASSES:
            lines = "".join(f"{n} {1 if cls in by_name[n] else -1:>2}\n" for n in members)
            yield f"ImageSets/Main/{cls}_{part}.txt", lines.encode()


def voc_zip(rows: Sequence[ExportRow], uploads: UploadStore, folder: str = "VOCtagloop") -> Iterator[bytes]:
    """The VOC folder as a zip, everything under `folder/`, in chunks of about one member.

    Refuses an empty export at once (before the first chunk), so a caller can still answer
    with an error instead of a broken download."""
    if not rows:
        raise NothingToExportError("there are no corrections to export")
    return _zip_chunks((f"{folder}/{name}", data) for name, data in voc_files(rows, uploads))


def _zip_chunks(members: Iterable[tuple[str, bytes]]) -> Iterator[bytes]:
    sink = _ChunkSink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            # A JPEG does not deflate: stored, it costs no CPU.
            kind = zipfile.ZIP_STORED if name.endswith(".jpg") else zipfile.ZIP_DEFLATED
            archive.writestr(name, data, compress_type=kind)
            yield sink.take()
    yield sink.take()  # the central directory, written on close


class _ChunkSink(io.RawIOBase):
    """A write-only stream zipfile can write to without seeking (it then uses data
    descriptors); what was written is taken out chunk by chunk."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def _jpeg(uploads: UploadStore, image_id: str) -> bytes:
    data = uploads.read(image_id)
    if data[:3] == b"\xff\xd8\xff":
        return data
    with Image.open(io.BytesIO(data)) as img:
        out = io.BytesIO()
        img.convert("RGB").save(out, "JPEG", quality=95)
        return out.getvalue()
