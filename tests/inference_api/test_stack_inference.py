"""The inference service in the real stack, only through the gateway: shapes, errors, hot reload."""

import hashlib
import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from PIL import Image
from skimage import data as skdata
from tagloop.classes import VOC_CLASSES
from tagloop.store import ModelStore, redis_announcer

from tests.support.clients import Clients
from tests.support.inference import MODEL_NAME
from tests.support.publishing import publish_copy, truncated_onnx
from tests.support.stack import KEEP_VERSIONS, Stack
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

CHANNEL = "tagloop:model-activated"


@pytest.fixture(scope="module")
def cat_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(skdata.chelsea()).resize((1600, 1200)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture
def store(stack: Stack) -> Iterator[ModelStore]:
    """The stack's model store, announcing on its Redis; the active version is restored after."""
    client = redis.Redis.from_url(stack.redis_url, socket_connect_timeout=1)
    store = ModelStore(
        stack.models_dir, MODEL_NAME, keep=KEEP_VERSIONS, announce=redis_announcer(client, CHANNEL)
    )
    before = store.require_active()
    yield store
    if store.active_version() != before:
        store.activate(before)
    client.close()


def predict(gateway: httpx.Client, data: bytes, *, filename: str = "x.jpg", **form: str) -> httpx.Response:
    return gateway.post("/predict", files={"file": (filename, data, "image/jpeg")}, data=form)


def inference_health(gateway: httpx.Client) -> dict:
    return gateway.get("/health/inference").json()


# -- shapes and errors ---------------------------------------------------------------


def test_gateway_predict_returns_the_full_shape(gateway: httpx.Client, cat_jpeg: bytes) -> None:
    reply = predict(gateway, cat_jpeg, filename="chelsea.jpg", threshold="0.2")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert set(body) == {
        "success",
        "model_version",
        "image_id",
        "filename",
        "predictions",
        "scores",
        "thresholds",
    }
    assert body["thresholds"] == dict.fromkeys(VOC_CLASSES, 0.2)
    assert body["image_id"] == hashlib.sha256(cat_jpeg).hexdigest()
    assert body["filename"] == "chelsea.jpg"
    assert list(body["scores"]) == list(VOC_CLASSES)
    # Other tests on the shared stack may have taught chelsea more labels; cat stays.
    assert "cat" in [p["label"] for p in body["predictions"]]
    confidences = [p["confidence"] for p in body["predictions"]]
    assert confidences == sorted(confidences, reverse=True) and min(confidences) >= 0.2


def test_gateway_batch_predict_returns_the_others_when_one_file_is_corrupt(
    gateway: httpx.Client, cat_jpeg: bytes
) -> None:
    files = [
        ("files", ("cat.jpg", cat_jpeg, "image/jpeg")),
        ("files", ("cut.jpg", cat_jpeg[: len(cat_jpeg) // 3], "image/jpeg")),
        ("files", ("coffee.png", _png(skdata.coffee()), "image/png")),
    ]
    reply = gateway.post("/batch_predict", files=files, data={"threshold": "0.5"})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["success"] is True and isinstance(body["model_version"], int)
    cat, cut, coffee = body["results"]
    assert "cat" in [p["label"] for p in cat["predictions"]]
    assert cut == {"filename": "cut.jpg", "error": cut["error"], "code": "corrupt_image"}
    assert "truncated" in cut["error"]
    assert len(coffee["scores"]) == 20 and coffee["filename"] == "coffee.png"


@pytest.mark.parametrize(
    ("make", "status", "text"),
    [
        (lambda jpg: jpg[: len(jpg) // 2], 400, "damaged or truncated"),
        (lambda jpg: b"plain text, not a photo\n", 415, "found: text"),
        (lambda jpg: _png_bomb(), 413, "megapixels"),
    ],
    ids=["truncated-400", "text-415", "bomb-413"],
)
def test_gateway_predict_maps_image_errors(
    gateway: httpx.Client, cat_jpeg: bytes, make, status: int, text: str
) -> None:  # type: ignore[no-untyped-def]
    reply = predict(gateway, make(cat_jpeg))
    assert reply.status_code == status
    assert reply.json()["success"] is False
    assert text in reply.json()["error"]


@pytest.mark.parametrize("threshold", ["abc", "-1", "2", "NaN"])
def test_gateway_predict_rejects_bad_threshold(
    gateway: httpx.Client, cat_jpeg: bytes, threshold: str
) -> None:
    reply = predict(gateway, cat_jpeg, threshold=threshold)
    assert reply.status_code == 422
    assert reply.json()["success"] is False and "threshold" in reply.json()["error"]


def test_inference_process_has_no_tensorflow(stack: Stack, gateway: httpx.Client) -> None:
    pid = stack.processes["inference"].pid  # the supervised command execs uvicorn: same pid
    maps = Path(f"/proc/{pid}/maps").read_text()
    assert "onnxruntime" in maps
    assert "tensorflow" not in maps


# -- hot reload ----------------------------------------------------------------------


@pytest.mark.slow
def test_reload_under_load_serves_every_request_and_never_a_broken_version(
    stack: Stack, gateway: httpx.Client, store: ModelStore, cat_jpeg: bytes
) -> None:
    source = before = store.require_active()

    def serving(version: int) -> bool:
        return inference_health(gateway).get("model_version") == version

    with Clients(stack.url, cat_jpeg) as clients:
        wait_until(lambda: len(clients.answers) >= 8, timeout=20, what="traffic flowing")
        published = []
        for _ in range(3):
            version = publish_copy(store, source, activate=True)
            published.append(version)
            wait_until(lambda: serving(version), timeout=10, what=f"version {version} served")  # noqa: B023
        last_served_at = time.monotonic()
        seen = len(clients.answers)
        wait_until(lambda: len(clients.answers) >= seen + 20, timeout=30, what="traffic on the last version")
        broken = publish_copy(store, source, activate=True, onnx=truncated_onnx(store, source))
        wait_until(
            lambda: (inference_health(gateway).get("model_error") or "").startswith(f"version {broken}"),
            timeout=10,
        )
        seen = len(clients.answers)
        wait_until(lambda: len(clients.answers) >= seen + 8, timeout=20, what="traffic after the broken one")
    answers = clients.answers
    assert answers, "no request was answered"
    assert [a for a in answers if a.status != 200] == []
    assert {a.version for a in answers} <= {before, *published}
    late = [a.version for a in answers if a.started > last_served_at]
    assert late and set(late) == {published[-1]}
    health = inference_health(gateway)
    assert health["model_version"] == published[-1]
    assert "failed to load" in health["model_error"]
    system = gateway.get("/health").json()
    assert system["parts"]["inference"]["error"] == health["model_error"]


@pytest.mark.slow
def test_reload_follows_the_pointer_while_redis_is_down(
    stack: Stack, gateway: httpx.Client, store: ModelStore, cat_jpeg: bytes
) -> None:
    spare = publish_copy(store, store.require_active(), activate=True)
    wait_until(lambda: inference_health(gateway).get("model_version") == spare, timeout=10)
    previous = max(
        v for v in store.version_numbers() if v != spare and not store.meta(v).extra("replaced_onnx")
    )
    stack.kill("redis")
    try:
        wait_until(lambda: inference_health(gateway).get("redis") is False, timeout=10)
        store.activate(previous)  # its announcement is lost: Redis is down
        wait_until(lambda: inference_health(gateway).get("model_version") == previous, timeout=5)
        assert predict(gateway, cat_jpeg).json()["model_version"] == previous
    finally:
        stack.start("redis")
    wait_until(lambda: inference_health(gateway).get("redis") is True, timeout=20)


def test_inference_memory_peak_with_two_versions_stays_under_600_mib(stack: Stack) -> None:
    # Runs after the reload tests above: the peak covers two versions loaded side by side.
    assert _rss_peak_mib(stack.processes["inference"].pid) <= 600


# -- helpers -------------------------------------------------------------------------


def _png(array) -> bytes:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def _png_bomb() -> bytes:
    buf = io.BytesIO()
    Image.new("1", (8000, 8000)).save(buf, "PNG")
    return buf.getvalue()


def _rss_peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


def test_gateway_answers_503_json_while_inference_is_down(
    stack: Stack, gateway: httpx.Client, cat_jpeg: bytes
) -> None:
    stack.kill("inference")
    try:
        reply = predict(gateway, cat_jpeg)
        # nginx's own answer: 502 (or 503 with error_page =503), always the JSON shape.
        assert reply.status_code in (502, 503)
        assert reply.json() == {
            "success": False,
            "error": "the inference service is not answering; try again shortly",
            "code": "unavailable",
        }
    finally:
        stack.start("inference")
    stack.wait_ready(timeout=60)
    assert predict(gateway, cat_jpeg).status_code == 200
