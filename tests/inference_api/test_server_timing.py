"""The Server-Timing header of /predict and /batch_predict: in-process and through the gateway.

Structure and consistency only (no timed thresholds): the phases a request goes through
are named, none is negative, and the sequential ones (no `desc`) add up to at most `total`.
"""

import httpx
import pytest
from fastapi.testclient import TestClient
from inference_api.timing import Phase, parse_server_timing

from tests.support.images import jpeg_bytes

PREDICT_PHASES = ["read", "decode", "queue", "forward", "store", "total"]
BATCH_PHASES = ["read", "prepare", "wait", "decode", "store", "queue", "forward", "total"]


def phases_of(reply: httpx.Response) -> list[Phase]:
    assert reply.status_code == 200, reply.text
    return parse_server_timing(reply.headers["server-timing"])


def assert_consistent(phases: list[Phase], names: list[str]) -> None:
    assert [p.name for p in phases] == names
    assert all(p.ms >= 0 for p in phases)
    *named, total = phases
    assert sum(p.ms for p in named if p.desc is None) <= total.ms
    assert all(p.ms <= total.ms for p in named if p.desc is None or "beside" in p.desc)


def post_predict(client: httpx.Client, data: bytes) -> httpx.Response:
    return client.post("/predict", files={"file": ("x.jpg", data, "image/jpeg")})


def post_batch(client: httpx.Client, images: list[bytes]) -> httpx.Response:
    return client.post(
        "/batch_predict", files=[("files", (f"{i}.jpg", d, "image/jpeg")) for i, d in enumerate(images)]
    )


def test_predict_says_where_its_time_went(tiny_client: TestClient) -> None:
    assert_consistent(phases_of(post_predict(tiny_client, jpeg_bytes())), PREDICT_PHASES)


def test_batch_predict_says_where_its_time_went_and_sums_over_files_and_passes(
    tiny_client: TestClient,
) -> None:
    images = [jpeg_bytes(color=(i * 40, 20, 20)) for i in range(5)]
    phases = phases_of(post_batch(tiny_client, images))
    assert_consistent(phases, BATCH_PHASES)
    descs = {p.name: p.desc for p in phases}
    assert descs["decode"] == descs["store"] == "summed over 5 files"
    assert descs["forward"] is not None and descs["forward"].startswith("summed over")


def test_an_unreadable_image_still_gets_the_phases_it_went_through(tiny_client: TestClient) -> None:
    reply = post_predict(tiny_client, b"not an image")
    assert reply.status_code == 415
    phases = parse_server_timing(reply.headers["server-timing"])
    assert [p.name for p in phases] == ["read", "total"]


def test_other_routes_have_no_server_timing(tiny_client: TestClient) -> None:
    assert "server-timing" not in tiny_client.get("/health").headers


# -- through the gateway -------------------------------------------------------------


@pytest.mark.integration
def test_gateway_passes_server_timing_of_predict(gateway: httpx.Client) -> None:
    assert_consistent(phases_of(post_predict(gateway, jpeg_bytes(size=(1600, 1200)))), PREDICT_PHASES)


@pytest.mark.integration
def test_gateway_passes_server_timing_of_batch_predict(gateway: httpx.Client) -> None:
    images = [jpeg_bytes(size=(800, 600), color=(20, i * 60, 20)) for i in range(3)]
    assert_consistent(phases_of(post_batch(gateway, images)), BATCH_PHASES)
