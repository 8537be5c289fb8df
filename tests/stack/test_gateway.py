"""The gateway in front of the real services: routing, limits, headers, health."""

import gzip
import io
import signal
import time

import httpx
import pytest
from PIL import Image
from skimage import data as skdata
from tagloop.store import ModelStore

from tests.support.images import jpeg_bytes
from tests.support.stack import MODEL_NAME, REPO, Stack
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

AUTH_CACHE_S = 1
"""How long the gateway takes the training API's answer to a prediction's auth check as fresh."""


def active_version(stack: Stack) -> int:
    """Other tests share the stack and may have activated another version."""
    return ModelStore(stack.models_dir, MODEL_NAME).require_active()


def test_health_reports_every_part_green(stack: Stack) -> None:
    reply = httpx.get(f"{stack.url}/health")
    body = reply.json()
    assert reply.status_code == 200, body
    assert body["status"] == "ok"
    parts = body["parts"]
    assert parts["inference"]["ok"] and parts["inference"]["ready"]
    assert parts["inference"]["model_version"] == active_version(stack)
    assert parts["training_api"]["ok"]
    assert parts["redis"]["ok"]
    assert parts["workers"]["ok"] and parts["workers"]["count"] >= 1


def test_each_service_health_is_routed(stack: Stack) -> None:
    inference = httpx.get(f"{stack.url}/health/inference").json()
    training = httpx.get(f"{stack.url}/health/training").json()
    assert inference["ready"] is True and inference["model_version"] == active_version(stack)
    assert training["redis"] is True and training["database"] is True


def test_ui_served_with_security_headers(stack: Stack) -> None:
    reply = httpx.get(f"{stack.url}/")
    assert reply.status_code == 200
    assert "text/html" in reply.headers["content-type"]
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["referrer-policy"] == "no-referrer"
    csp = reply.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "object-src 'none'" in csp
    assert "server" not in reply.headers or "/" not in reply.headers["server"]  # no version


def test_api_errors_also_carry_security_headers(stack: Stack) -> None:
    reply = httpx.post(f"{stack.url}/predict")
    assert reply.status_code in (400, 422)
    assert reply.json()["success"] is False
    assert reply.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/index.html"])
def test_static_text_is_gzipped(stack: Stack, path: str) -> None:
    reply = httpx.get(f"{stack.url}{path}", headers={"accept-encoding": "gzip"})
    assert reply.status_code == 200
    assert reply.headers.get("content-encoding") == "gzip"


def test_json_replies_are_gzipped(stack: Stack) -> None:
    image = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(image, "PNG")
    files = {"file": ("red.png", image.getvalue(), "image/png")}
    headers = {"accept-encoding": "gzip"}
    with httpx.stream("POST", f"{stack.url}/predict", files=files, headers=headers) as reply:
        raw = b"".join(reply.iter_raw())
        assert reply.headers.get("content-encoding") == "gzip"
    assert b'"scores"' in gzip.decompress(raw)


def test_directory_is_not_listed(stack: Stack) -> None:
    folders = [p.name for p in (REPO / "web").iterdir() if p.is_dir()]
    assert folders, "web/ has no sub-folder to try"
    reply = httpx.get(f"{stack.url}/{folders[0]}/")
    assert reply.status_code in (403, 404)
    assert "Index of" not in reply.text


def test_unknown_path_answers_json_404(stack: Stack) -> None:
    reply = httpx.get(f"{stack.url}/no/such/thing")
    assert reply.status_code == 404
    assert reply.json() == {"success": False, "error": "not found", "code": "not_found"}


def health_once_down(stack: Stack, part: str, timeout: float = 60) -> tuple[int, dict]:
    """/health as soon as it reports `part` down (a SIGKILLed worker is only noticed
    when its heartbeat is overdue)."""

    def down() -> tuple[int, dict] | None:
        reply = httpx.get(f"{stack.url}/health", timeout=10)
        body = reply.json()
        return None if body.get("parts", {}).get(part, {}).get("ok", True) else (reply.status_code, body)

    return wait_until(down, timeout=timeout, interval=0.5, what=f"/health reports {part} down")


@pytest.mark.parametrize(
    ("process", "part"),
    [("inference", "inference"), ("worker", "workers"), ("redis", "redis")],
)
def test_health_names_the_part_that_is_down(stack: Stack, process: str, part: str) -> None:
    stack.kill(process, signal.SIGKILL)
    try:
        status, body = health_once_down(stack, part)
        assert status == 503, body
        assert body["status"] == "degraded"
        assert body["parts"][part]["ok"] is False
        others = [name for name, info in body["parts"].items() if name != part and not info["ok"]]
        # Redis down also takes the worker count (read from Redis) with it.
        assert others in ([], ["workers"]), body
    finally:
        stack.start(process)
        stack.wait_ready()


def test_health_says_training_api_is_down(stack: Stack) -> None:
    photo = jpeg_bytes(skdata.chelsea())

    def predict() -> int:
        files = {"file": ("cat.jpg", photo, "image/jpeg")}
        return httpx.post(f"{stack.url}/predict", files=files, timeout=30).status_code

    assert predict() == 200  # the gateway's auth check (team mode) has an answer
    stack.kill("training", signal.SIGKILL)
    try:
        reply = httpx.get(f"{stack.url}/health", timeout=10)
        assert reply.status_code == 503
        body = reply.json()
        assert body["parts"]["training_api"]["ok"] is False
        assert "training service" in body["error"]
        # Predictions do not depend on the training service: its last "no users, go on" stands.
        assert httpx.get(f"{stack.url}/health/inference").json()["ready"] is True
        time.sleep(AUTH_CACHE_S + 0.5)  # past the cached answer's freshness: the stale one serves
        assert [predict() for _ in range(3)] == [200, 200, 200]
    finally:
        stack.start("training")
        stack.wait_ready()


def test_predict_while_inference_is_down_answers_json_503(stack: Stack) -> None:
    stack.kill("inference", signal.SIGKILL)
    try:
        reply = httpx.post(f"{stack.url}/predict", files={"file": ("a.png", b"x", "image/png")})
        assert reply.status_code == 503
        assert reply.json() == {
            "success": False,
            "error": "the inference service is not answering; try again shortly",
            "code": "unavailable",
        }
        assert reply.headers["Retry-After"] == "5"
    finally:
        stack.start("inference")
        stack.wait_ready()
