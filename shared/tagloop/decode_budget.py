"""How much memory decoding an image takes, and a limit on all decodes at once.

Pillow decodes a whole image into memory before anything can be resized, so what an
upload costs is set by its header, not by its size on disk: a 77 KB PNG of 6300x6300
16-bit samples decodes to 79 MB. `decoded_bytes` reads that cost from the header
(width x height x channels x bytes per sample, as Pillow stores them: RGB takes 4 bytes
a pixel); decode_image refuses an image over its limit (413) before any pixel is decoded,
and a DecodeBudget makes concurrent decodes wait until their total fits.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image

WIDE_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
"""Modes with more than 8 bits a sample: converted to 8-bit L strip by strip."""

_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2, "I": 4, "F": 4}
"""Pillow's storage per pixel; every other mode (RGB, RGBA, LA, CMYK...) takes 4 bytes."""

_CONVERSION_BYTES = {"1": 1, "P": 4, "LA": 4, "La": 4, "PA": 4, "RGBa": 4, "CMYK": 4, "YCbCr": 4}
"""Per pixel, the full-size copy a mode needs before it can be reduced (wide modes: 1, to L)."""


def decoded_bytes(img: Image.Image) -> int:
    """Memory the decoded pixels of `img` take (after a JPEG draft, if one was set)."""
    width, height = img.size
    return width * height * _BYTES_PER_PIXEL.get(img.mode, 4)


def peak_bytes(img: Image.Image) -> int:
    """Decoded pixels plus the one full-size conversion some modes need first."""
    width, height = img.size
    extra = 1 if img.mode in WIDE_MODES else _CONVERSION_BYTES.get(img.mode, 0)
    return decoded_bytes(img) + width * height * extra


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
