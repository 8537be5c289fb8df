"""Corrections as files: CSV, a Pascal VOC folder (image level) and COCO-style JSON.

The VOC folder is what `tagloop train --voc-dir` reads:

    JPEGImages/<name>.jpg                    every image, as JPEG
    ImageSets/Main/{train,val,trainval}.txt  the image names of each split
    ImageSets/Main/<class>_<split>.txt       "<name>  1" when the image has the class, else "-1"

There are no Annotations/ (no boxes: the labels are image-level). Every fifth image (by
image_id) goes to val, at least one when there are two or more images.
"""

import csv
import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def to_csv(rows: Sequence[ExportRow]) -> str:
    """filename,image_id,labels (labels separated by spaces)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["filename", "image_id", "labels"])
    for row in rows:
        writer.writerow([row.filename or "", row.image_id, " ".join(row.labels)])
    return out.getvalue()


def to_coco(rows: Sequence[ExportRow], uploads: UploadStore) -> dict[str, Any]:
    """COCO-style JSON: images, the 20 categories, one image-level annotation per label (no bbox)."""
    categories = [{"id": k + 1, "name": name, "supercategory": "voc"} for k, name in enumerate(VOC_CLASSES)]
    category_id = {c["name"]: c["id"] for c in categories}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for k, row in enumerate(rows, start=1):
        width, height = _size(uploads, row.image_id)
        images.append(
            {
                "id": k,
                "file_name": row.filename or f"{row.image_id}.jpg",
                "image_id": row.image_id,
                "width": width,
                "height": height,
            }
        )
        for label in row.labels:
            annotations.append({"id": len(annotations) + 1, "image_id": k, "category_id": category_id[label]})
    return {
        "info": {"description": "tagloop corrections (image-level labels)"},
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }


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
    for name, data in voc_files(rows, uploads).items():
        path = dest / name
        path.write_bytes(data)
    return dest


def voc_files(rows: Sequence[ExportRow], uploads: UploadStore) -> dict[str, bytes]:
    """Relative path -> bytes of every file of the VOC folder."""
    split = split_of(rows)
    files: dict[str, bytes] = {}
    names: dict[str, list[str]] = {"train": [], "val": []}
    for row in rows:
        name = row.image_id[:16]
        files[f"JPEGImages/{name}.jpg"] = _jpeg(uploads, row.image_id)
        names[split[row.image_id]].append(name)
    names["trainval"] = names["train"] + names["val"]
    by_name = {row.image_id[:16]: set(row.labels) for row in rows}
    for part, members in names.items():
        files[f"ImageSets/Main/{part}.txt"] = "".join(f"{n}\n" for n in members).encode()
        for cls in VOC_CLASSES:
            lines = "".join(f"{n} {1 if cls in by_name[n] else -1:>2}\n" for n in members)
            files[f"ImageSets/Main/{cls}_{part}.txt"] = lines.encode()
    return files


def voc_zip(rows: Sequence[ExportRow], uploads: UploadStore, folder: str = "VOCtagloop") -> bytes:
    """The VOC folder as a zip, everything under `folder/`."""
    if not rows:
        raise NothingToExportError("there are no corrections to export")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in voc_files(rows, uploads).items():
            archive.writestr(f"{folder}/{name}", data)
    return out.getvalue()


def _jpeg(uploads: UploadStore, image_id: str) -> bytes:
    data = uploads.read(image_id)
    if data[:3] == b"\xff\xd8\xff":
        return data
    with Image.open(io.BytesIO(data)) as img:
        out = io.BytesIO()
        img.convert("RGB").save(out, "JPEG", quality=95)
        return out.getvalue()


def coco_json(rows: Sequence[ExportRow], uploads: UploadStore) -> str:
    return json.dumps(to_coco(rows, uploads), indent=1)
