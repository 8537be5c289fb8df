"""The one image factory of the tests: encode pictures as the files a person would upload."""

import io

import numpy as np
from PIL import Image


def encode(image: Image.Image | np.ndarray, fmt: str = "JPEG", **options: object) -> bytes:
    """`image` (a PIL image or an HxWxC uint8 array) as a file of format `fmt`."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def jpeg_bytes(
    image: Image.Image | np.ndarray | None = None,
    *,
    size: tuple[int, int] = (320, 240),
    color: tuple[int, int, int] = (200, 40, 40),
    quality: int = 90,
) -> bytes:
    """`image` as a JPEG; without one, a `size` picture of `color` with a green gradient
    (real content, not one flat block)."""
    if image is None:
        pixels = np.empty((size[1], size[0], 3), np.uint8)
        pixels[:] = color
        pixels[:, :, 1] = np.linspace(0, 255, size[0], dtype=np.uint8)[np.newaxis, :]
        image = pixels
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    return encode(image.convert("RGB"), "JPEG", quality=quality)


def png_bytes(size: tuple[int, int] = (64, 48), mode: str = "RGBA") -> bytes:
    """A blank PNG of `size` in `mode`."""
    return encode(Image.new(mode, size), "PNG")
