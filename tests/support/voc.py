"""Helpers of the CLI tests: a tiny Pascal VOC folder and a tiny seed-style Keras model."""

from pathlib import Path

from tests.support.images import jpeg_bytes
from tests.support.training import base_photos, variant

# (photo index in base_photos, VOC classes of its objects)
PHOTO_LABELS = [
    (0, ["cat"]),
    (2, ["person"]),
    (5, ["motorbike", "person"]),
    (6, ["horse"]),
    (1, []),
    (3, []),
    (4, ["person"]),
    (7, []),
]

XML = """<annotation>
  <filename>{name}.jpg</filename>
  <size><width>{w}</width><height>{h}</height><depth>3</depth></size>
{objects}</annotation>
"""
OBJECT = """  <object><name>{label}</name><pose>Unspecified</pose>
    <truncated>0</truncated><difficult>0</difficult>
    <bndbox><xmin>1</xmin><ymin>1</ymin><xmax>{w}</xmax><ymax>{h}</ymax></bndbox></object>
"""


def make_voc(root: Path, *, train_variants: int = 2) -> Path:
    """VOC2007-like folder: `train_variants` variants of each photo in trainval, the originals in test."""
    voc = root / "VOC2007"
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (voc / sub).mkdir(parents=True, exist_ok=True)
    photos = base_photos()
    splits: dict[str, list[str]] = {"trainval": [], "test": []}
    for index, labels in PHOTO_LABELS:
        for k in range(train_variants + 1):
            name = f"{index:02d}{k:04d}"
            img = variant(photos[index], k + 1) if k < train_variants else photos[index]
            (voc / "JPEGImages" / f"{name}.jpg").write_bytes(jpeg_bytes(img))
            objects = "".join(OBJECT.format(label=lab, w=img.width, h=img.height) for lab in labels)
            (voc / "Annotations" / f"{name}.xml").write_text(
                XML.format(name=name, w=img.width, h=img.height, objects=objects)
            )
            splits["trainval" if k < train_variants else "test"].append(name)
    for split, names in splits.items():
        (voc / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(names) + "\n")
    return voc


def write_voc(root: Path, images: list[bytes], labels: list[list[str]], *, test: list[bool]) -> Path:
    """A VOC2007-like folder of `images` in this order, each in trainval or (test[i]) test."""
    voc = root / "VOC2007"
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (voc / sub).mkdir(parents=True, exist_ok=True)
    splits: dict[str, list[str]] = {"trainval": [], "test": []}
    for i, (data, wanted) in enumerate(zip(images, labels, strict=True)):
        name = f"{i:06d}"
        (voc / "JPEGImages" / f"{name}.jpg").write_bytes(data)
        objects = "".join(OBJECT.format(label=label, w=10, h=10) for label in wanted)
        (voc / "Annotations" / f"{name}.xml").write_text(XML.format(name=name, w=10, h=10, objects=objects))
        splits["test" if test[i] else "trainval"].append(name)
    for split, names in splits.items():
        (voc / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(names) + "\n")
    return voc


def make_seed_h5(path: Path) -> Path:
    """A small "seed-style" model: conv backbone, GAP, Dense 512/256/20 sigmoid, custom loss."""
    import keras

    def focal(y_true, y_pred):  # a custom loss, as the original seed was compiled with
        return keras.ops.mean((y_true - y_pred) ** 2)

    image = keras.Input((224, 224, 3))
    x = keras.layers.Conv2D(8, 3, strides=4, activation="relu")(image)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(512, activation="relu")(x)
    x = keras.layers.Dropout(0.5)(x)
    x = keras.layers.Dense(256, activation="relu")(x)
    x = keras.layers.Dense(20, activation="sigmoid")(x)
    model = keras.Model(image, x)
    model.compile(optimizer="adam", loss=focal)
    model.save(path)
    return path
