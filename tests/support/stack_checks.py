"""Checks on the real stack shared by the reliability tests."""

import time
from pathlib import Path

import httpx
from tagloop.store import ModelStore

from tests.support import publishing
from tests.support.stack import KEEP_VERSIONS, Stack
from tests.support.testfiles import photo_jpeg
from tests.support.waiting import wait_until

MODEL_NAME = "voc"


def upload_files(stack: Stack) -> list[Path]:
    """Every file the upload store holds (images, sidecars, the by-name index)."""
    root = stack.data_dir / "uploads"
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != ".lock")


def assert_json_error(reply: httpx.Response, status: int | tuple[int, ...], *words: str) -> str:
    """The one error shape (a sentence and a stable code) with the expected status; each word
    in the error text (any case)."""
    statuses = (status,) if isinstance(status, int) else status
    assert reply.status_code in statuses, f"{reply.status_code}: {reply.text[:500]}"
    kind = reply.headers.get("content-type", "no content type")
    assert kind.startswith("application/json"), f"{reply.status_code} {kind}: {reply.text[:150]}"
    body = reply.json()
    assert body.get("success") is False, body
    assert isinstance(body.get("error"), str) and body["error"], body
    assert "Traceback" not in body["error"]
    assert isinstance(body.get("code"), str) and body["code"].replace("_", "").isalpha(), body
    for word in words:
        assert word.lower() in body["error"].lower(), f"{word!r} not in {body['error']!r}"
    return body["error"]


def assert_system_green(stack: Stack) -> None:
    reply = httpx.get(f"{stack.url}/health", timeout=10)
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "ok", reply.text


def activate_and_wait(stack: Stack, version: int, *, timeout: float = 60) -> float:
    """Activate `version` through the API; wait until inference serves it; returns the wait (s)."""
    started = time.monotonic()
    reply = httpx.post(f"{stack.url}/models/{version}/activate", timeout=30)
    assert reply.status_code == 200, reply.text
    return wait_for_version(stack, version, timeout=timeout, started=started)


def wait_for_version(
    stack: Stack, version: int, *, timeout: float = 60, started: float | None = None
) -> float:
    """Poll inference's /health until it serves `version`; returns seconds since `started`."""
    started = started or time.monotonic()
    body: dict = {}

    def serves() -> bool:
        nonlocal body
        body = httpx.get(f"{stack.inference_url}/health", timeout=5).json()
        return body.get("model_version") == version

    wait_until(
        serves,
        timeout=max(0.0, timeout - (time.monotonic() - started)),
        interval=0.1,
        what=lambda: f"inference serves version {version}: {body}",
    )
    return time.monotonic() - started


def store_of(stack: Stack) -> ModelStore:
    """The stack's model store, as the training service opens it (announcing on Redis)."""
    return ModelStore(stack.models_dir, MODEL_NAME, keep=KEEP_VERSIONS)


def publish_copy(stack: Stack, *, source: int = 1, onnx: bytes | None = None) -> int:
    """A new, inactive version of the stack's store holding version `source`'s files."""
    return publishing.publish_copy(store_of(stack), source, activate=False, onnx=onnx)


def service_pids(stack: Stack) -> dict[str, int]:
    """The pid of each running process of the stack (to prove nothing was restarted)."""
    return {name: proc.pid for name, proc in stack.processes.items() if proc.poll() is None}


ENDED = {"finished", "failed", "stopped", "canceled"}


def wait_job(client: httpx.Client, job_id: str, *, timeout: float, until: set[str] = ENDED) -> dict:
    """Poll GET /jobs/{id} until its status is in `until`; returns the last state."""
    state: dict = {}

    def reached() -> dict | None:
        nonlocal state
        reply = client.get(f"/jobs/{job_id}")
        if reply.status_code == 200:
            state = reply.json()
        return state if state.get("status") in until else None

    return wait_until(
        reached, timeout=timeout, interval=0.25, what=lambda: f"job {job_id} in {until}: {state}"
    )


def predict_new_images(client: httpx.Client, seeds: list[int]) -> list[str]:
    """Upload one new photo per seed through /predict; returns their image_ids."""
    ids = []
    for seed in seeds:
        upload = (f"img{seed}.jpg", photo_jpeg(seed=seed), "image/jpeg")
        reply = client.post("/predict", files={"file": upload})
        assert reply.status_code == 200, reply.text
        ids.append(reply.json()["image_id"])
    return ids


def predict_photo(client: httpx.Client, data: bytes, name: str) -> dict:
    """POST /predict of one JPEG through `client`; the reply's body (after asserting 200)."""
    reply = client.post("/predict", files={"file": (name, data, "image/jpeg")})
    assert reply.status_code == 200, reply.text
    return reply.json()
