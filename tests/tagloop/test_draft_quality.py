"""The JPEG draft decode (tagloop.images.DRAFT_SIZE) against a full-size decode, judged by
version 1 on fixture photos enlarged to phone sizes: scores within 0.05, and the same labels
wherever a score is not within 0.05 of its threshold."""

import io
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image
from tagloop.contract import session_inputs
from tagloop.images import decode_image, draft_size, to_model_inputs

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "photos"
BOUND = 0.05


def scores(session: ort.InferenceSession, photos: list[bytes], draft: tuple[int, int]) -> np.ndarray:
    inputs = session_inputs(session)
    arrays = [
        to_model_inputs(decode_image(d, draft=draft, max_bytes=1 << 30), [s for _, s in inputs])
        for d in photos
    ]
    return session.run(None, {name: np.stack([a[i] for a in arrays]) for i, (name, _) in enumerate(inputs)})[
        0
    ]


@pytest.mark.parametrize("size", [(2000, 1500), (4000, 3000)])
def test_draft_decode_gives_the_labels_of_a_full_size_decode(
    v1_model_dir: Path, size: tuple[int, int]
) -> None:
    photos = []
    for name in (
        "astronaut.jpg",
        "chelsea.jpg",
        "motorcycle.jpg",
        "london_bus.jpg",
        "kitten.jpg",
        "footballer.jpg",
    ):
        buf = io.BytesIO()
        Image.open(FIXTURE / name).convert("RGB").resize(size, Image.Resampling.BICUBIC).save(
            buf, "JPEG", quality=90
        )
        photos.append(buf.getvalue())
    assert decode_image(photos[0]).size[0] <= size[0] // 4  # the draft does reduce these
    session = ort.InferenceSession(str(v1_model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    served = draft_size([size for _, size in session_inputs(session)])  # as inference decodes
    full, drafted = scores(session, photos, (10**6, 10**6)), scores(session, photos, served)
    assert np.abs(full - drafted).max() <= BOUND
    clear = np.abs(full - 0.5) > BOUND
    assert np.array_equal((full >= 0.5)[clear], (drafted >= 0.5)[clear])
    assert (full >= 0.5).any()  # some labels to keep
