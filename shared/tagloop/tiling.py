"""Sliced (SAHI-style) inference for large photos: the detector also sees overlapping tiles.

A served version 1 sees the whole photo at the detector's input size (320 px by default), so
a person that fills a few percent of a 2000 px photo is a handful of pixels to it. With
tiling, a photo larger than one tile becomes several rows of one forward pass: the full
view, then one row per tile whose detector input (every input after the first) sees the
tile while the ImageNet input keeps the full view; each class keeps its highest score over
the rows. Version 1's score rises with the detector's (noisy-OR), so this is the score the
photo would get if its best tile were the detector's whole view.

The inference service tiles when `TAGLOOP_TILE_SIZE` is set (off by default: one forward
pass per tile; docs/EVALUATION.md "Tiling" has its cost and what it found). numpy and
Pillow only: inference imports it without TensorFlow.
"""

from collections.abc import Sequence

import numpy as np
from PIL import Image

from tagloop.images import Size, to_model_inputs

Box = tuple[int, int, int, int]

OVERLAP = 0.2
"""Neighbouring tiles overlap by this fraction of a tile, so an object on a seam is whole in one."""


def tile_boxes(width: int, height: int, *, tile: int, overlap: float = OVERLAP) -> list[Box]:
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


def decode_draft(draft: Size, tile: int) -> Size:
    """The JPEG draft target when tiling: the decoded photo keeps at least two tiles a side,
    else its tiles would be as coarse as the full view."""
    return (max(draft[0], 2 * tile), max(draft[1], 2 * tile))


def views(img: Image.Image, sizes: Sequence[Size], *, tile: int = 0) -> dict[Size, np.ndarray]:
    """The model's input rows for one RGB photo: (rows, H, W, 3) per input size. One row (the
    full view) without `tile`, for a one-input model or a photo no larger than a tile."""
    full = to_model_inputs(img, sizes)
    boxes = tile_boxes(img.width, img.height, tile=tile) if tile and len(sizes) > 1 else []
    rows = [full] + [(full[0], *to_model_inputs(img.crop(box), sizes[1:])) for box in boxes]
    return {size: np.stack([row[i] for row in rows]) for i, size in enumerate(sizes)}
