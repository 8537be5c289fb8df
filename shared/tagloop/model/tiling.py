"""Sliced (SAHI-style) inference for large photos: the detector also sees overlapping tiles.

A served version 1 sees the whole photo at the detector's input size (320 px by default), so
a person that fills a few percent of a 2000 px photo is a handful of pixels to it. Here the
same `model.onnx` is run once on the full view and once per tile, each tile fed to the
detector input while the ImageNet input keeps the full view, and each class keeps its
highest score. Version 1's score rises with the detector's (noisy-OR), so this is the score
the photo would get if its best tile were the detector's whole view.

Not wired into the inference service: an experiment with its cost measured in
docs/EVALUATION.md ("Tiling"). numpy and onnxruntime only.
"""

from collections.abc import Sequence

import numpy as np
from PIL import Image

from tagloop.images import to_model_inputs

Box = tuple[int, int, int, int]


def tile_boxes(width: int, height: int, *, tile: int, overlap: float = 0.2) -> list[Box]:
    """Square tiles of side `tile` (clipped to the photo) covering it, neighbours overlapping
    by `overlap` of a tile; none when the photo is no larger than one tile."""
    if max(width, height) <= tile:
        return []
    step = max(1, int(tile * (1 - overlap)))

    def starts(length: int) -> list[int]:
        if length <= tile:
            return [0]
        points = list(range(0, length - tile, step))
        return [*points, length - tile]

    return [
        (x, y, min(x + tile, width), min(y + tile, height)) for y in starts(height) for x in starts(width)
    ]


def tiled_scores(
    session, img: Image.Image, sizes: Sequence[tuple[int, int]], *, tile: int, overlap: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """(full-view scores (20,), tiled scores (20,)) of a two-input version (image, detector
    image) on an RGB photo: the tiled scores are the class-wise max over the full view and
    every tile."""
    names = [i.name for i in session.get_inputs()]
    full = to_model_inputs(img, sizes)
    boxes = tile_boxes(img.width, img.height, tile=tile, overlap=overlap)
    detector_views = [full[1]] + [to_model_inputs(img.crop(box), sizes[1:])[0] for box in boxes]
    images = np.stack([full[0]] * len(detector_views))
    scores = session.run(None, {names[0]: images, names[1]: np.stack(detector_views)})[0]
    return scores[0], scores.max(axis=0)
