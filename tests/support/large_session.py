"""A review session of thousands of cards built straight into the upload store and the API,
without running inference thousands of times (the Review tab's 5,000-photo folder)."""

import io
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image
from tagloop.classes import VOC_CLASSES
from tagloop.uploads import UploadStore

LOW = {name: 0.02 for name in VOC_CLASSES}


def distinct_pngs(n: int) -> list[bytes]:
    """n distinct, valid 16x12 PNGs: one picture, each file with its own text chunk (cheap)."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), (90, 140, 200)).save(buf, "PNG")
    base = buf.getvalue()
    head, iend = base[:-12], base[-12:]  # IEND is the last 12 bytes

    def chunk(k: int) -> bytes:
        body = b"tEXt" + b"card\x00" + str(k).encode()
        return struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))

    return [head + chunk(k) + iend for k in range(n)]


def large_session_items(uploads_dir: Path, n: int) -> list[dict]:
    """n items for POST /sessions, their photos stored: card00000.png..., card k scoring "cat"
    at 0.95 when k is a multiple of 10, every other score 0.02 (so every card is confident)."""
    uploads = UploadStore(uploads_dir)
    with ThreadPoolExecutor(4) as pool:  # the store's writes wait on the disk, not the CPU
        ids = list(pool.map(lambda data: uploads.put(data, image_format="PNG"), distinct_pngs(n)))
    return [
        {
            "image_id": image_id,
            "filename": f"card{k:05d}.png",
            "scores": {**LOW, "cat": 0.95 if k % 10 == 0 else 0.02},
            "model_version": 1,
        }
        for k, image_id in enumerate(ids)
    ]
