"""How much memory decoding an image takes, and a limit on all decodes at once.

Pillow decodes a whole image into memory before anything can be resized, so what an
upload costs is set by its header, not by its size on disk: a 77 KB PNG of 6300x6300
16-bit samples decodes to 79 MB. `decoded_bytes` reads the decoded pixels' size from the
header (width x height x channels x bytes per sample, as Pillow stores them: RGB takes 4
bytes a pixel); decode_image refuses an image over its limit (413) before any pixel is
decoded. `peak_bytes` is what the decode really costs at its peak, measured per case:

- a progressive JPEG: libjpeg keeps every DCT coefficient of the whole image (2 bytes a
  sample, at full size and per component's sampling) whatever scale it decodes to: a
  6320x6320 CMYK one holds 320 MB, an RGB 4:2:0 one 120 MB (`coefficient_bytes`);
- a WebP: libwebp decodes into its own full-size buffer, which Pillow then copies (a
  lossless one with alpha peaked at 3.9x its decoded pixels);
- modes other than RGB and L (palette, alpha, CMYK, 1-bit) are converted strip by strip
  (tagloop.images), which costs the strips (STRIP_PIXELS) and the reduced result, not a
  full-size copy.

A DecodeBudget makes concurrent decodes wait until their peaks together fit.
"""

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image

WIDE_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
"""Modes with more than 8 bits a sample: converted to 8-bit L strip by strip."""

_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2, "I": 4, "F": 4}
"""Pillow's storage per pixel; every other mode (RGB, RGBA, LA, CMYK...) takes 4 bytes."""

STRIP_PIXELS = 2_000_000
"""Pixels of the strips a mode other than RGB and L is converted in (tagloop.images)."""

STRIP_BYTES = STRIP_PIXELS * 16
"""A strip's copies at its peak: the strip, RGBA, the white background, the composite."""

WEBP_COPIES = 3
"""libwebp's own decoded buffer and its working memory, besides Pillow's copy."""


def decoded_bytes(img: Image.Image) -> int:
    """Memory the decoded pixels of `img` take (after a JPEG draft, if one was set)."""
    width, height = img.size
    return width * height * _BYTES_PER_PIXEL.get(img.mode, 4)


def coefficient_bytes(img: Image.Image) -> int:
    """What a progressive JPEG's coefficient buffers take (0 for any other image). Call it
    before draft(): it needs the full size, which draft() replaces by the scaled one."""
    if img.format not in ("JPEG", "MPO") or not img.info.get("progressive"):
        return 0
    layers = getattr(img, "layer", None) or [(0, 1, 1, 0)] * len(img.getbands())
    h_max = max(h for _, h, _, _ in layers)
    v_max = max(v for _, _, v, _ in layers)
    width, height = img.size
    total = 0
    for _, h, v, _ in layers:
        blocks_x = math.ceil(width * h / h_max / 8)
        blocks_y = math.ceil(height * v / v_max / 8)
        total += blocks_x * blocks_y * 64 * 2
    return total


def peak_bytes(img: Image.Image, *, factor: int = 1, coefficients: int = 0) -> int:
    """The decode's peak: decoded pixels, the decoder's own buffers (`coefficients` of a
    progressive JPEG, libwebp's copy), and the conversion to RGB reduced by `factor`."""
    width, height = img.size
    decoded = decoded_bytes(img)
    peak = decoded + coefficients
    if img.format == "WEBP":
        peak += WEBP_COPIES * decoded
    if img.mode in WIDE_MODES:
        peak += width * height  # the full-size 8-bit copy
    elif img.mode not in ("RGB", "L"):
        reduced = math.ceil(width / factor) * math.ceil(height / factor) * 4
        peak += min(STRIP_BYTES, width * height * 16) + reduced
    return peak


class DecodeBudget:
    """A semaphore counted in bytes: decodes wait until their peak memory fits the total."""

    def __init__(self, total_bytes: int):
        self.total = total_bytes
        self._free = total_bytes
        self._changed = threading.Condition()

    @contextmanager
    def reserve(self, nbytes: int) -> Iterator[None]:
        """Hold `nbytes` (at most the total, so that one huge image cannot wait forever)."""
        wanted = min(nbytes, self.total)
        with self._changed:
            self._changed.wait_for(lambda: self._free >= wanted)
            self._free -= wanted
        try:
            yield
        finally:
            with self._changed:
                self._free += wanted
                self._changed.notify_all()

    @property
    def free(self) -> int:
        with self._changed:
            return self._free
