"""Files for the reliability tests, good and bad, built in memory (nothing is downloaded)."""

import io
import itertools
import json
import random
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from tests.support.images import encode

_SEEDS = itertools.count(random.randrange(1 << 40))


def unique_seed() -> int:
    """A seed no other call in this process used: images nobody uploaded before."""
    return next(_SEEDS)


def photo_jpeg(*, seed: int, size: tuple[int, int] = (320, 240), quality: int = 85) -> bytes:
    """A photo-like JPEG (smooth gradients plus noise), different for every seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(0, 255, 3)
    slope = rng.uniform(-0.5, 0.5, (2, 3))
    pixels = base + xs[..., None] * slope[0] + ys[..., None] * slope[1] + rng.normal(0, 12, (h, w, 3))
    img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    return encode(img, "JPEG", quality=quality)


def noise_jpeg(*, seed: int, size: tuple[int, int] = (2048, 1536), quality: int = 92) -> bytes:
    """A JPEG of pure noise: as large as a photo of its size gets (2048x1536: about 3 MB)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return encode(Image.fromarray(pixels, "RGB"), "JPEG", quality=quality)


def small_png(size: tuple[int, int] = (64, 64), color: tuple[int, int, int] = (10, 120, 200)) -> bytes:
    return encode(Image.new("RGB", size, color), "PNG")


def truncated(data: bytes, *, keep: float = 0.5) -> bytes:
    """The first `keep` of the bytes: a download or upload cut short."""
    return data[: int(len(data) * keep)]


def png_bomb(width: int = 20000, height: int = 20000, *, bit_depth: int = 1) -> bytes:
    """A real, complete grayscale PNG of width x height zeros: at 1 bit, ~50 KB that decodes
    to 400 MP; png_bomb(6300, 6300, bit_depth=16) is the 77 KB one that cost a gigabyte."""
    row = b"\0" + b"\0" * ((width * bit_depth + 7) // 8)  # filter byte + packed samples
    compressor = zlib.compressobj(9)
    # Compress row by row so the raw scanlines never sit in memory at once.
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)  # grayscale
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def palette_png_bomb(width: int = 6320, height: int = 6320) -> bytes:
    """The review's 4,952-byte PNG: a 1-bit palette image with transparency, 6320x6320
    (just under 40 MP). Decoded naively it becomes RGBA at full size, several times over."""
    row = b"\0" + b"\0" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 3, 0, 0, 0)  # 1 bit, palette
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"PLTE", b"\x10\x80\xf0\xff\xff\xff")
        + _chunk(b"tRNS", b"\x00")
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def progressive_jpeg(mode: str = "RGB", size: tuple[int, int] = (6320, 6320)) -> bytes:
    """A flat progressive JPEG (a few hundred KB): libjpeg keeps every DCT coefficient of a
    progressive image, 2 bytes a sample at full size, whatever scale it decodes to."""
    color = (0, 128, 255, 0) if mode == "CMYK" else (40, 128, 220)
    return encode(Image.new(mode, size, color[: len(mode)]), "JPEG", progressive=True, quality=90)


def lossless_webp(side: int = 4090) -> bytes:
    """A tiny lossless WebP with alpha, side x side: libwebp decodes it whole (RGBA)."""
    return encode(Image.new("RGBA", (side, side), (40, 128, 220, 128)), "WEBP", lossless=True)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def giant_exif_jpeg(exif_bytes: int = 60_000) -> bytes:
    """A valid JPEG whose EXIF (APP1) block holds ~60 KB: an ImageDescription of that length."""
    exif = Image.Exif()
    exif[0x010E] = "x" * exif_bytes
    return encode(Image.new("RGB", (96, 64), (200, 40, 40)), "JPEG", exif=exif.tobytes())


def garbage_exif_jpeg(exif_bytes: int = 60_000) -> bytes:
    """A JPEG whose ~60 KB EXIF block is garbage after a valid TIFF header."""
    exif = b"Exif\0\0MM\0*" + b"\xff" * exif_bytes
    return encode(Image.new("RGB", (96, 64), (40, 200, 40)), "JPEG", exif=exif)


def animated_gif(frames: int = 3) -> bytes:
    images = [Image.new("RGB", (32, 32), (i * 80, 0, 0)) for i in range(frames)]
    return encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)


SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
    b'<script>alert(1)</script><rect width="100" height="100" fill="red"/></svg>'
)

HTML_TAIL = b"<html><body><script>alert(document.cookie)</script></body></html>"


def jpeg_with_zip_appended(*, seed: int) -> bytes:
    """A valid JPEG followed by a ZIP archive (a classic polyglot)."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("payload.txt", "not an image")
    return photo_jpeg(seed=seed, size=(64, 64)) + archive.getvalue()


def jpeg_with_html_appended(*, seed: int) -> bytes:
    return photo_jpeg(seed=seed, size=(64, 64)) + HTML_TAIL


def gif_js_polyglot() -> bytes:
    """Bytes that are both a GIF header and a JavaScript statement (GIFAR-style)."""
    return b"GIF89a/*\x01\x00\x01\x00\x00\xff\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x00;*/=alert(1);//"


def multipart(parts: list[tuple[str, bytes, bytes]], boundary: str = "tagloopboundary7") -> tuple[bytes, str]:
    """A multipart/form-data body built by hand: (field name, raw filename bytes, data).

    httpx escapes control characters in filenames; this sends them exactly, NUL included.
    Returns (body, content-type header).
    """
    out = b""
    for name, filename, data in parts:
        out += (
            f"--{boundary}\r\n".encode()
            + f'Content-Disposition: form-data; name="{name}"; filename="'.encode()
            + filename
            + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
            + data
            + b"\r\n"
        )
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def photo_png(*, seed: int, size: tuple[int, int] = (160, 120)) -> bytes:
    """A noisy PNG (compresses poorly, so cutting it in half cuts the pixel data)."""
    rng = np.random.default_rng(seed)
    return encode(Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB"), "PNG")


def zip_bomb_keras(path: Path, *, config_mib: int = 256) -> Path:
    """The review's .keras: a few hundred KB of zip holding a config.json of `config_mib` MiB."""
    archive = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    with archive, archive.open("config.json", "w", force_zip64=True) as member:
        chunk = b" " * (1 << 20)
        for _ in range(config_mib):
            member.write(chunk)
    return path


def keras_config(*, inputs: int, units: int) -> dict:
    """A .keras config.json of one Dense layer (inputs -> units), as Keras 3 writes it."""
    dense = {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {"name": "dense_1", "units": units, "use_bias": True, "dtype": "float32"},
        "build_config": {"input_shape": [None, inputs]},
        "name": "dense_1",
        "inbound_nodes": [],
    }
    layer_in = {
        "module": "keras.layers",
        "class_name": "InputLayer",
        "config": {"batch_shape": [None, inputs]},
    }
    return {
        "module": "keras",
        "class_name": "Functional",
        "config": {"name": "m", "layers": [layer_in, dense]},
    }


def crafted_keras(path: Path, *, config: dict, weights_mib: int = 0) -> Path:
    """A .keras archive with `config` and a model.weights.h5 of `weights_mib` MiB of zeros
    (deflated: 480 MiB make about 480 KB)."""
    archive = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    with archive:
        archive.writestr("metadata.json", '{"keras_version": "3.0.0"}')
        archive.writestr("config.json", json.dumps(config))
        with archive.open("model.weights.h5", "w", force_zip64=True) as member:
            member.write(b"\x89HDF\r\n\x1a\n")
            for _ in range(weights_mib):
                member.write(bytes(1 << 20))
    return path
