"""The 20 Pascal VOC classes, in the order of every model's output."""

import json
from importlib import resources

VOC_CLASSES: tuple[str, ...] = tuple(
    json.loads(resources.files("tagloop.data").joinpath("classes.json").read_text())
)
NUM_CLASSES = len(VOC_CLASSES)
CLASS_INDEX: dict[str, int] = {name: i for i, name in enumerate(VOC_CLASSES)}
