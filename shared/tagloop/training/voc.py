"""Read a Pascal VOC folder: JPEGImages/, Annotations/*.xml, ImageSets/Main/<split>.txt.

A folder without Annotations/ is read at image level from ImageSets/Main/<class>_<split>.txt
("<name> 1" when the image has the class), as `tagloop export --format voc` writes it.
"""

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tagloop.classes import CLASS_INDEX, NUM_CLASSES
from tagloop.errors import TagloopError


class VocLayoutError(TagloopError):
    """The folder is not a Pascal VOC folder, or a split/annotation is missing."""


@dataclass(frozen=True)
class VocItem:
    image_id: str
    image_path: Path
    labels: tuple[str, ...]


def read_split(voc_dir: Path, split: str) -> list[VocItem]:
    """The images of one split with the classes of their objects (sorted, unique)."""
    voc_dir = Path(voc_dir)
    split_file = voc_dir / "ImageSets" / "Main" / f"{split}.txt"
    if not split_file.is_file():
        raise VocLayoutError(f"{split_file} does not exist (is {voc_dir} a VOC folder like VOC2007?)")
    ids = [line.split()[0] for line in split_file.read_text().splitlines() if line.strip()]
    if not (voc_dir / "Annotations").is_dir():
        return _image_level_items(voc_dir, split, ids)
    return [_item(voc_dir, image_id) for image_id in ids]


def _image_level_items(voc_dir: Path, split: str, ids: list[str]) -> list[VocItem]:
    """Labels from the per-class split files, for a folder without Annotations/."""
    labels: dict[str, set[str]] = {image_id: set() for image_id in ids}
    for name in CLASS_INDEX:
        class_file = voc_dir / "ImageSets" / "Main" / f"{name}_{split}.txt"
        if not class_file.is_file():
            raise VocLayoutError(f"{voc_dir} has no Annotations/ and no {class_file.name} for labels")
        for line in class_file.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[1] == "1" and parts[0] in labels:
                labels[parts[0]].add(name)
    items = []
    for image_id in ids:
        image = voc_dir / "JPEGImages" / f"{image_id}.jpg"
        if not image.is_file():
            raise VocLayoutError(f"image {image_id!r} is missing under {voc_dir}")
        items.append(VocItem(image_id, image, tuple(sorted(labels[image_id]))))
    return items


def available_splits(voc_dir: Path) -> list[str]:
    main = Path(voc_dir) / "ImageSets" / "Main"
    return [s for s in ("train", "val", "trainval", "test") if (main / f"{s}.txt").is_file()]


def _item(voc_dir: Path, image_id: str) -> VocItem:
    image = voc_dir / "JPEGImages" / f"{image_id}.jpg"
    annotation = voc_dir / "Annotations" / f"{image_id}.xml"
    if not image.is_file() or not annotation.is_file():
        raise VocLayoutError(f"image or annotation of {image_id!r} is missing under {voc_dir}")
    return VocItem(image_id, image, read_labels(annotation))


def read_labels(annotation: Path) -> tuple[str, ...]:
    """The VOC classes named by the <object><name> elements of one annotation file."""
    try:
        root = ET.parse(annotation).getroot()
    except ET.ParseError as exc:
        raise VocLayoutError(f"{annotation} is not valid XML ({exc})") from exc
    names = {(obj.findtext("name") or "").strip().lower() for obj in root.iter("object")}
    unknown = names - set(CLASS_INDEX)
    if unknown:
        raise VocLayoutError(f"{annotation} names unknown classes: {sorted(unknown)}")
    return tuple(sorted(names))


def label_matrix(label_sets: list[tuple[str, ...]] | list[list[str]]) -> np.ndarray:
    """(N, 20) multi-hot float32 matrix in classes.json order."""
    y = np.zeros((len(label_sets), NUM_CLASSES), dtype=np.float32)
    for row, labels in enumerate(label_sets):
        for name in labels:
            y[row, CLASS_INDEX[name]] = 1.0
    return y
