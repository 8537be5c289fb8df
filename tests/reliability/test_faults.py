"""Faults on the real stack: Redis stopped, inference killed, corrupt model versions.

A worker SIGKILLed mid-job is tested by the training suite and not repeated here:
tests/stack/test_retrain_stack.py::test_killed_worker_fails_the_job_and_the_next_retrain_works.
"""

import signal
import time

import httpx
import pytest

from tests.support.stack import Stack
from tests.support.stack_checks import (
    activate_and_wait,
    assert_json_error,
    predict_new_images,
    publish_copy,
    service_pids,
    store_of,
    wait_for_version,
    wait_job,
)
from tests.support.testfiles import photo_jpeg, unique_seed
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_redis_down_keeps_predictions_and_corrections_working(
    gateway: httpx.Client, stack: Stack, record
) -> None:
    """Redis stopped: predict and save work, retrain is 503; all recovers when Redis is back."""
    [image_id] = predict_new_images(gateway, [unique_seed()])
    pids = service_pids(stack)
    stack.kill("redis", signal.SIGKILL)
    try:
        predicted = gateway.post(
            "/predict", files={"file": ("r.jpg", photo_jpeg(seed=unique_seed()), "image/jpeg")}
        )
        assert predicted.status_code == 200, predicted.text
        saved = gateway.post("/save_correction", json={"image_id": image_id, "corrected_labels": ["cat"]})
        assert saved.status_code == 200, saved.text
        listed = gateway.get("/get_corrections", params={"all": "true"})
        assert listed.status_code == 200, listed.text
        refused = gateway.post("/retrain", json={})
        error = assert_json_error(refused, 503, "redis", "unavailable")
        health = gateway.get("/health").json()
        assert health["status"] == "degraded" and health["parts"]["redis"]["ok"] is False, health
    finally:
        stack.start("redis")
    started = time.monotonic()
    stack.wait_ready(timeout=90)
    recovered = time.monotonic() - started
    wait_until(lambda: httpx.get(f"{stack.inference_url}/health").json()["redis"] is True, timeout=30)
    job = gateway.post("/retrain", json={})
    assert job.status_code == 202, job.text
    gateway.delete(f"/jobs/{job.json()['job_id']}")
    wait_job(gateway, job.json()["job_id"], timeout=120)
    pids.pop("redis")
    assert {k: v for k, v in service_pids(stack).items() if k in pids} == pids, "a service was restarted"
    record(
        f"during: /predict 200, /save_correction 200, /retrain 503 {error!r}; "
        f"green {recovered:.1f}s after restart"
    )


def test_inference_sigkill_during_reload_restarts_on_active_version(
    gateway: httpx.Client, stack: Stack, record, restore_version_1: None
) -> None:
    """Inference killed while loading a new version comes back serving the active version."""
    wait_for_version(stack, store_of(stack).require_active())
    version = publish_copy(stack)
    reply = gateway.post(f"/models/{version}/activate")
    assert reply.status_code == 200, reply.text
    serving_at_kill = httpx.get(f"{stack.inference_url}/health").json()["model_version"]
    started = time.monotonic()
    stack.crash("inference")  # supervisord restarts it, as under make run
    wait_for_version(stack, version, timeout=120)
    back = time.monotonic() - started
    predicted = gateway.post(
        "/predict", files={"file": ("k.jpg", photo_jpeg(seed=unique_seed()), "image/jpeg")}
    )
    assert predicted.status_code == 200 and predicted.json()["model_version"] == version, predicted.text
    stack.wait_ready()
    record(
        f"killed while serving v{serving_at_kill} with v{version} activated; "
        f"back on v{version} in {back:.1f}s",
        restart_to_ready_s=round(back, 1),
    )


CORRUPT_ONNX = {
    "truncated": lambda real: real[: len(real) // 3],
    "garbage": lambda real: b"\x08\x07" + b"not an onnx model" * 1000,
    "empty": lambda real: b"",
}


@pytest.mark.parametrize("case", list(CORRUPT_ONNX))
def test_corrupt_onnx_is_never_served(
    gateway: httpx.Client, stack: Stack, record, restore_version_1: None, case: str
) -> None:
    """A version whose model.onnx is corrupt is activated: inference keeps the old one and says why."""
    store = store_of(stack)
    serving = store.require_active()
    real = (store.path(serving) / "model.onnx").read_bytes()
    version = publish_copy(stack, onnx=CORRUPT_ONNX[case](real))
    reply = gateway.post(f"/models/{version}/activate")
    assert reply.status_code == 200, reply.text
    wait_until(
        lambda: f"{version}" in (httpx.get(f"{stack.inference_url}/health").json()["model_error"] or ""),
        timeout=30,
    )
    health = httpx.get(f"{stack.inference_url}/health").json()
    assert health["ready"] is True and health["model_version"] == serving, health
    for _ in range(5):
        predicted = gateway.post(
            "/predict", files={"file": ("c.jpg", photo_jpeg(seed=unique_seed()), "image/jpeg")}
        )
        assert predicted.status_code == 200 and predicted.json()["model_version"] == serving, predicted.text
    record(f"still v{serving}; /health model_error: {health['model_error']!r}")


def test_inference_restart_with_corrupt_active_version_serves_last_good(
    gateway: httpx.Client, stack: Stack, record, restore_version_1: None
) -> None:
    """Inference restarted while the active version is corrupt still serves a good version."""
    store = store_of(stack)
    good = store.require_active()
    version = publish_copy(stack, onnx=b"not an onnx model")
    assert gateway.post(f"/models/{version}/activate").status_code == 200
    stack.crash("inference")  # supervisord restarts it, as under make run
    try:
        wait_until(lambda: httpx.get(f"{stack.inference_url}/health").json()["ready"] is True, timeout=30)
        ready = True
    except AssertionError:
        ready = False
    health = httpx.get(f"{stack.inference_url}/health").json()
    record(f"after restart on corrupt v{version}: {health}")
    # Put a good version back before asserting, so that a failure leaves the stack usable.
    activate_and_wait(stack, good)
    assert ready, f"inference has no model after a restart while v{version} (corrupt) is active: {health}"
    assert health["model_version"] == good and str(version) in (health["model_error"] or ""), health
