"""Image preprocessing shared by inference and training: bytes -> (H, W, 3) float32 in [0, 1]
for each input size the model takes (224, and 512 for the two-prior model's detector).

Both services call these functions, so a model is served on exactly the pixels it was
trained on (tf.image.resize differs from Pillow by 2-4/255; docs/ARCHITECTURE.md, "Decoding").

- The format is decided by content, never by the file name: JPEG, PNG and WebP only.
- The pixel count and the memory decoding takes are checked from the header, before any
  pixel is decoded (image bombs); a DecodeBudget bounds the memory of concurrent decodes.
- Truncated files are errors: Pillow's LOAD_TRUNCATED_IMAGES stays False.
- JPEGs are decoded in draft mode (libjpeg's DCT scaling) at no less than DRAFT_SIZE (320)
  and no less than the largest input, so a 12 MP photo decodes in a few ms; the resizes
  that follow antialias. An image is decoded once and resized for each input.
- Every other image is shrunk by an integer factor (box filter) to no less than the draft
  size right after decoding; a mode other than RGB and L (palette, alpha, CMYK) is
  converted to RGB strip by strip on the way, transparency on white, and 16-bit samples
  go to 8 bits strip by strip, so no full-size copy is made but the decode itself (and
  never a float64 one).
- What a decode really costs at its peak (tagloop.decode_budget.peak_bytes: progressive
  JPEG coefficients, libwebp's buffers, the conversion) is what the shared budget counts;
  above `peak_factor` times the decode limit (256 MiB by default) the image is refused
  before decoding, and after a decode that cost more than TRIM_ABOVE the freed memory is
  handed back to the system (the decoding thread's arena would keep it).
- EXIF orientation is applied; every mode is converted to RGB, transparency on white.
"""

import io
import re
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from tagloop.contract import IMAGE_SIZE
from tagloop.decode_budget import (
    STRIP_PIXELS,
    WIDE_MODES,
    DecodeBudget,
    coefficient_bytes,
    decoded_bytes,
    peak_bytes,
)
from tagloop.errors import TagloopError
from tagloop.heap import trim_heap

ALLOWED_FORMATS = ("JPEG", "MPO", "PNG", "WEBP")
"""Pillow format names accepted (MPO: the multi-picture JPEG some cameras write)."""

DEFAULT_MAX_PIXELS = 40_000_000
"""Largest image (width x height) accepted; 40 MP covers any phone photo."""

DEFAULT_MAX_DECODE_BYTES = 64 * 1024 * 1024
"""Most memory one image's decoded pixels may take: an 8-bit RGB PNG of 16 MP, a 16-bit
grayscale one of 33 MP; a JPEG counts at its draft size, so any phone photo fits."""


@dataclass(frozen=True)
class DecodeLimits:
    """The two limits an image is decoded under. Services take theirs from the settings
    (CommonSettings.decode_limits), the same for inference and training."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_bytes: int = DEFAULT_MAX_DECODE_BYTES


DEFAULT_LIMITS = DecodeLimits()

DRAFT_SIZE = (320, 320)
"""JPEG draft target: libjpeg scales by 1/2, 1/4 or 1/8 while staying at least this big.
320 (was 2 x 224 = 448): a 2000x1500 photo decodes at 500x375 and a 12 MP one at 500x375
instead of twice that, 1.5-1.7x faster to decode and resize; the version 1 scores of the
fixture's photos enlarged to those sizes moved by at most 0.033 from a full-size decode's
(448: 0.016), no label changed (448: one, a score of 0.498)."""

STRIP_ROWS = 256
"""Rows of a 16-bit image converted to 8 bits at a time."""

PEAK_FACTOR = 4
"""A decode may peak at this many times max_bytes (256 MiB by default), all its buffers
counted (peak_bytes); above, the image is refused before decoding."""

TRIM_ABOVE = 32 * 1024 * 1024
"""After a decode whose peak was above this, freed memory goes back to the system."""

_EXIF_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
"""EXIF orientation -> the transpose that makes the image upright (as ImageOps.exif_transpose)."""

Size = tuple[int, int]
"""(height, width) of a model input."""
SEED_SIZES: tuple[Size, ...] = ((IMAGE_SIZE, IMAGE_SIZE),)
"""The input sizes of a seed-style (one-input) model."""


def draft_size(sizes: Sequence[Size]) -> tuple[int, int]:
    """The JPEG draft target for a model with inputs of `sizes`."""
    side = max(DRAFT_SIZE[0], *(max(size) for size in sizes))
    return (side, side)


# Signatures of things people upload by mistake, to name what was found.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF8", "GIF"),
    (b"%PDF", "PDF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"PK\x03\x04", "ZIP archive"),
)


class ImageError(TagloopError):
    """An uploaded file cannot be used as an image."""


class UnsupportedImageError(ImageError):
    """The file is not a JPEG, PNG or WebP image (415)."""


class CorruptImageError(ImageError):
    """The file claims to be a supported image but cannot be decoded: truncated, damaged (400)."""


class ImageTooLargeError(ImageError):
    """The image has more pixels, or needs more memory, than allowed (a decompression bomb, 413)."""

    code = "image_too_large"


def decode_image(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    draft: tuple[int, int] = DRAFT_SIZE,
    max_bytes: int = DEFAULT_MAX_DECODE_BYTES,
    budget: DecodeBudget | None = None,
) -> Image.Image:
    """Decode JPEG/PNG/WebP bytes into an upright RGB image, refusing bombs and damage.

    Large images come back shrunk to no less than `draft` (see the module).
    """
    img = _open(data, max_pixels=max_pixels)
    full_size = img.size
    coefficients = coefficient_bytes(img)
    if img.format in ("JPEG", "MPO"):
        img.draft("RGB", draft)
    if decoded_bytes(img) > max_bytes:
        raise _too_much_memory(img, max_bytes)
    peak = peak_bytes(img, factor=_factor(img, draft), coefficients=coefficients)
    if peak > PEAK_FACTOR * max_bytes:
        raise _too_much_memory(img, PEAK_FACTOR * max_bytes, needed=peak, size=full_size)
    with budget.reserve(peak) if budget else nullcontext():
        try:
            img.load()
            orientation = img.getexif().get(0x0112)
        except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, zlib errors...
            raise CorruptImageError(f"the {img.format} image is damaged or truncated ({exc})") from exc
        img = _reduced(img, draft)
    if peak > TRIM_ABOVE:
        trim_heap()  # the full-size decode is freed now; its thread's arena would keep it
    if orientation in _EXIF_TRANSPOSE:
        img = img.transpose(_EXIF_TRANSPOSE[orientation])
    return to_rgb(img)


def to_model_input(img: Image.Image, size: Size = (IMAGE_SIZE, IMAGE_SIZE)) -> np.ndarray:
    """Resize (plain, no crop, as the original design) to (H, W, 3) float32 in [0, 1]."""
    if img.mode != "RGB":
        img = to_rgb(img)
    height, width = size
    small = img.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(small, dtype=np.float32) / np.float32(255.0)


def to_model_inputs(img: Image.Image, sizes: Sequence[Size]) -> tuple[np.ndarray, ...]:
    """One decoded image resized for each of a model's inputs, in the order of `sizes`."""
    return tuple(to_model_input(img, size) for size in sizes)


def load_image_array(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """decode_image then to_model_input: the whole preprocessing of one upload (224 input)."""
    return to_model_input(decode_image(data, max_pixels=max_pixels))


def load_image_arrays(
    data: bytes, sizes: Sequence[Size], *, limits: DecodeLimits = DEFAULT_LIMITS
) -> tuple[np.ndarray, ...]:
    """The whole preprocessing of one upload for a model with inputs of `sizes`: decoded once."""
    img = decode_image(
        data, max_pixels=limits.max_pixels, max_bytes=limits.max_bytes, draft=draft_size(sizes)
    )
    return to_model_inputs(img, sizes)


def sniff_format(data: bytes) -> str | None:
    """The image format found in the header (Pillow's name), or None; decodes no pixels."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.format
    except Exception:
        return None


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to RGB: 16-bit scaled down, transparency composited on white."""
    if img.mode == "RGB":
        return img
    if img.mode.startswith("I") or img.mode == "F":
        img = _wide_to_l(img)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("LA", "PA", "La", "RGBa") or (img.mode == "L" and "transparency" in img.info):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, img).convert("RGB")
    return img.convert("RGB")


def _reduced(img: Image.Image, draft: tuple[int, int]) -> Image.Image:
    """The decoded image shrunk by _factor, as RGB or L, without a full-size copy of another mode."""
    if img.mode in ("RGB", "L"):
        return _shrink(img, draft)
    if img.mode in WIDE_MODES:
        return _shrink(_wide_to_l(img), draft)
    return _strips_to_rgb(img, _factor(img, draft))


def _strips_to_rgb(img: Image.Image, factor: int) -> Image.Image:
    """Any mode to RGB (transparency on white), reduced by `factor`, a strip of rows at a time:
    a palette image with transparency made RGBA at full size cost 4 copies of 4 bytes a pixel."""
    width, height = img.size
    rows = max(factor, STRIP_PIXELS // max(width, 1) // factor * factor)
    out = Image.new("RGB", (-(-width // factor), -(-height // factor)))
    for top in range(0, height, rows):
        strip = to_rgb(img.crop((0, top, width, min(top + rows, height))))
        out.paste(strip.reduce(factor) if factor > 1 else strip, (0, top // factor))
    return out


def _factor(img: Image.Image, draft: tuple[int, int]) -> int:
    """The largest integer factor that keeps both sides >= the draft size (at least 1)."""
    return max(1, min(img.width // draft[0], img.height // draft[1]))


def _shrink(img: Image.Image, draft: tuple[int, int]) -> Image.Image:
    """Reduce by the largest integer factor that keeps both sides >= the draft size."""
    factor = _factor(img, draft)
    return img.reduce(factor) if factor >= 2 else img


def _too_much_memory(
    img: Image.Image, max_bytes: int, *, needed: int | None = None, size: tuple[int, int] | None = None
) -> ImageTooLargeError:
    mib = 1024 * 1024
    needed = decoded_bytes(img) if needed is None else needed
    width, height = size or img.size
    return ImageTooLargeError(
        f"decoding this {width}x{height} {img.mode} image would take "
        f"{needed / mib:.0f} MiB of memory; the limit is {max_bytes / mib:g} MiB"
    )


def _open(data: bytes, *, max_pixels: int) -> Image.Image:
    if not data:
        raise CorruptImageError("the file is empty")
    try:
        img = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_large(_bomb_pixels(exc), max_pixels=max_pixels) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _unreadable(data) from exc
    if img.format not in ALLOWED_FORMATS:
        raise UnsupportedImageError(f"{img.format} images are not supported; send a JPEG, PNG or WebP image")
    width, height = img.size
    if width * height > max_pixels:
        raise _too_large(width * height, max_pixels=max_pixels, size=f"{width}x{height} = ")
    return img


def _too_large(pixels: int | None, *, max_pixels: int, size: str = "") -> ImageTooLargeError:
    """Our limit and the image's size only (Pillow's own, higher, limit means nothing to a user)."""
    found = f"the image is {size}{pixels / 1e6:.1f} megapixels" if pixels else "the image has too many pixels"
    return ImageTooLargeError(f"{found}; the limit is {max_pixels / 1e6:g} megapixels")


def _bomb_pixels(exc: Exception) -> int | None:
    """The pixel count in Pillow's "Image size (N pixels) exceeds limit of M pixels"."""
    match = re.search(r"\((\d+) pixels\)", str(exc))
    return int(match.group(1)) if match else None


def _unreadable(data: bytes) -> ImageError:
    """The right error for bytes Pillow cannot open: damaged if the header says image."""
    found = describe_content(data)
    if found in ("JPEG", "PNG", "WebP"):
        return CorruptImageError(f"the file starts like a {found} image but cannot be read")
    return UnsupportedImageError(f"the file is not a JPEG, PNG or WebP image (found: {found})")


def describe_content(data: bytes) -> str:
    """A short name for what the bytes look like, for error messages."""
    for magic, name in _SIGNATURES:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[4:8] == b"ftyp":
        return "HEIC/AVIF or MP4 (ftyp container)"
    head = data[:1024].lstrip().lower()
    if head.startswith(b"<?xml") or b"<svg" in head:
        return "SVG/XML"
    if head.startswith(b"<"):
        return "HTML/XML text"
    try:
        data[:1024].decode("utf-8")
    except UnicodeDecodeError:
        return "unknown binary data"
    return "text"


def _wide_to_l(img: Image.Image) -> Image.Image:
    """16/32-bit integer or float grayscale to 8-bit L (convert('L') would clip, not scale).

    Strip by strip in float32, into one uint8 array: the only full-size copy is 1 byte a pixel.
    """
    extrema = img.getextrema()
    high = float(extrema[1]) if isinstance(extrema, tuple) and not isinstance(extrema[1], tuple) else 0.0
    if img.mode.startswith("I;16") or high > 255:
        scale = np.float32(1 / 257)
    elif img.mode == "F" and high <= 1.0:
        scale = np.float32(255)
    else:
        scale = np.float32(1)
    out = np.empty((img.height, img.width), dtype=np.uint8)
    for top in range(0, img.height, STRIP_ROWS):
        strip = img.crop((0, top, img.width, min(top + STRIP_ROWS, img.height)))
        values = np.asarray(strip).astype(np.float32) * scale
        out[top : top + strip.height] = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return Image.fromarray(out)
