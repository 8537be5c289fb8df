"""The fixed ImageNet -> VOC prior that makes version 1 useful before any correction.

`data/imagenet_to_voc.json` maps each VOC class to the ImageNet classes that show it
(reviewed by hand: dog breeds -> dog, airliner/warplane -> aeroplane, clothing -> person,
...). A VOC class' prior probability is the softmax mass of its ImageNet classes, turned
into a logit and calibrated: `prior_logit = PRIOR_SCALE * logit(p) + PRIOR_SHIFT`.
"""

import json
from importlib import resources

import numpy as np

from tagloop.classes import VOC_CLASSES

MAPPING_FILE = "imagenet_to_voc.json"
NUM_IMAGENET_CLASSES = 1000

PRIOR_SCALE = 1.0
"""Slope on logit(p). ImageNet's softmax is already well calibrated for its own classes."""

PRIOR_SHIFT = 1.0
"""Offset added to the prior logit: p = 0.27 of mapped ImageNet mass reaches 0.5.

A VOC class often shares the image with other objects (a person is seen through the
clothing classes, a car among road scenes), so its ImageNet mass is spread; a shift of +1
lets such classes reach the 0.5 threshold while an unrelated photo (skimage's `coffee`:
espresso, cup) stays far below it.
"""


def imagenet_to_voc() -> dict[str, dict[int, str]]:
    """The reviewed mapping: VOC class -> {ImageNet index: ImageNet name}."""
    raw = json.loads(resources.files("tagloop.data").joinpath(MAPPING_FILE).read_text())
    return {voc: {int(i): name for i, name in raw[voc].items()} for voc in VOC_CLASSES}


def mapping_matrix() -> np.ndarray:
    """(1000, 20) 0/1 matrix: entry [i, c] is 1 when ImageNet class i shows VOC class c."""
    matrix = np.zeros((NUM_IMAGENET_CLASSES, len(VOC_CLASSES)), dtype=np.float32)
    for c, indices in enumerate(imagenet_to_voc().values()):
        matrix[list(indices), c] = 1.0
    return matrix
