"""Version 1 with both priors through the real stack: a photo of a person says "person"."""

import io

import httpx
import pytest
from PIL import Image

from tests.support.stack import Stack

pytestmark = pytest.mark.integration


def astronaut_jpeg() -> bytes:
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def test_a_photo_of_a_person_says_person_through_the_gateway(stack: Stack) -> None:
    health = httpx.get(f"{stack.url}/health/inference").json()
    if health.get("model_prior") != "imagenet+coco":
        pytest.skip("the served version is not built with the COCO detector (TAGLOOP_PRIOR or no detector)")
    assert [i["name"] for i in health["model_inputs"]] == ["image", "detector_image"]
    reply = httpx.post(
        f"{stack.url}/predict", files={"file": ("astronaut.jpg", astronaut_jpeg(), "image/jpeg")}, timeout=60
    )
    assert reply.status_code == 200, reply.text
    labels = [p["label"] for p in reply.json()["predictions"]]
    assert "person" in labels


def test_the_system_view_says_which_prior_serves(stack: Stack) -> None:
    inference = httpx.get(f"{stack.url}/health").json()["parts"]["inference"]
    assert inference["prior"] in ("imagenet+coco", "imagenet")
