"""Photos as the upload bytes the benchmarks send."""

import io

import numpy as np
from PIL import Image


def jpeg_bytes(image: Image.Image | np.ndarray, *, quality: int = 90) -> bytes:
    picture = image if isinstance(image, Image.Image) else Image.fromarray(image)
    out = io.BytesIO()
    picture.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()
