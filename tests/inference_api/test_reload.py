"""Hot reload in-process: pub/sub, the pointer watch, broken versions, the swap itself."""

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient
from inference_api.engine import ModelSlot, ServedModel, load_version
from inference_api.main import create_app
from inference_api.reloader import ModelReloader
from tagloop.store import ModelStore, redis_announcer

from tests.support.images import png_bytes
from tests.support.inference import MODEL_NAME, make_settings, publish_tiny, served_version
from tests.support.publishing import publish_copy, truncated_onnx
from tests.support.stack import free_port
from tests.support.waiting import wait_until


@pytest.fixture
def announcing_store(tiny_models_dir: Path, redis_url: str) -> Iterator[ModelStore]:
    client = redis.Redis.from_url(redis_url)
    yield ModelStore(tiny_models_dir, MODEL_NAME, announce=redis_announcer(client, "tagloop:model-activated"))
    client.close()


def subscribers(redis_url: str, channel: str) -> int:
    with redis.Redis.from_url(redis_url) as client:
        return dict(client.pubsub_numsub(channel)).get(channel.encode(), 0)


def test_reload_follows_a_pubsub_announcement(
    tiny_models_dir: Path, tmp_path: Path, redis_url: str, announcing_store: ModelStore
) -> None:
    # A pointer poll of a minute: only the announcement can explain a quick swap.
    settings = make_settings(
        models_dir=tiny_models_dir, data_dir=tmp_path, redis_url=redis_url, reload_poll_s=60
    )
    with TestClient(create_app(settings)) as client:
        wait_until(lambda: client.get("/health").json()["redis"], timeout=30)
        # The flag is set just before the subscription reaches Redis.
        wait_until(lambda: subscribers(redis_url, "tagloop:model-activated") > 0, timeout=30)
        version = publish_tiny(announcing_store, bias=1.0)
        wait_until(lambda: client.get("/health").json()["model_version"] == version, timeout=30)
        assert served_version(client) == version


def test_reload_watches_the_pointer_when_redis_is_away(tiny_models_dir: Path, tmp_path: Path) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    settings = make_settings(models_dir=tiny_models_dir, data_dir=tmp_path, redis_url=nowhere)
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").json()["redis"] is False
        store = ModelStore(tiny_models_dir, MODEL_NAME)
        version = publish_tiny(store, bias=-1.0, activate=False)
        store.activate(version)
        wait_until(lambda: client.get("/health").json()["model_version"] == version, timeout=30)
        assert served_version(client) == version
        store.activate(1)  # rollback is an activation too
        wait_until(lambda: served_version(client) == 1, timeout=30)


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        ({"nan": True}, "NaN"),
        ({"outputs": 7}, "must be (N, 20)"),
    ],
)
def test_reload_refuses_a_version_failing_its_checks(
    tiny_client: TestClient, tiny_models_dir: Path, breakage: dict, reason: str
) -> None:
    store = ModelStore(tiny_models_dir, MODEL_NAME)
    bad = publish_tiny(store, **breakage)
    wait_until(lambda: tiny_client.get("/health").json()["model_error"] is not None, timeout=30)
    health = tiny_client.get("/health").json()
    assert health["status"] == "ok" and health["model_version"] == 1
    assert health["model_error"].startswith(f"version {bad} failed")
    assert reason in health["model_error"]
    assert served_version(tiny_client) == 1
    assert "tagloop_inference_failed_reloads_total 1.0" in tiny_client.get("/metrics").text
    good = publish_tiny(store, bias=0.5)
    wait_until(lambda: tiny_client.get("/health").json()["model_version"] == good, timeout=30)
    assert tiny_client.get("/health").json()["model_error"] is None


def test_reload_refuses_a_truncated_onnx_and_does_not_retry_it(
    tiny_client: TestClient, tiny_models_dir: Path
) -> None:
    store = ModelStore(tiny_models_dir, MODEL_NAME)
    bad = publish_copy(store, 1, activate=True, onnx=truncated_onnx(store, 1))
    wait_until(lambda: tiny_client.get("/health").json()["model_error"] is not None, timeout=30)
    assert f"version {bad} failed to load" in tiny_client.get("/health").json()["model_error"]
    time.sleep(0.6)  # three more pointer polls
    assert "tagloop_inference_failed_reloads_total 1.0" in tiny_client.get("/metrics").text
    assert served_version(tiny_client) == 1


def test_reload_error_clears_when_the_pointer_returns_to_the_live_version(
    tiny_client: TestClient, tiny_models_dir: Path
) -> None:
    store = ModelStore(tiny_models_dir, MODEL_NAME)
    publish_tiny(store, nan=True)
    wait_until(lambda: tiny_client.get("/health").json()["model_error"] is not None, timeout=30)
    store.activate(1)
    wait_until(lambda: tiny_client.get("/health").json()["model_error"] is None, timeout=30)
    assert served_version(tiny_client) == 1


def test_reload_keeps_a_request_on_the_model_it_started_with(
    tiny_client: TestClient, tiny_models_dir: Path
) -> None:
    slot = tiny_client.app.state.predictor.slot  # type: ignore[attr-defined]
    held = slot.require()
    version = publish_tiny(ModelStore(tiny_models_dir, MODEL_NAME), bias=2.0)
    wait_until(lambda: slot.version == version, timeout=30)
    assert held.version == 1
    assert held.run(np.zeros((1, 224, 224, 3), np.float32)).shape == (1, 20)


def test_reload_releases_the_retired_model_once_requests_are_done(
    tiny_client: TestClient, tiny_models_dir: Path
) -> None:
    files = [("files", (f"{i}.png", png_bytes(), "image/png")) for i in range(6)]
    assert tiny_client.post("/batch_predict", files=files).status_code == 200  # pins version 1
    version = publish_tiny(ModelStore(tiny_models_dir, MODEL_NAME), bias=1.5)
    # No other request in between: idle runners must not keep the pinned version alive.
    wait_until(lambda: tiny_client.get("/health").json()["model_version"] == version, timeout=30)
    reloader = tiny_client.app.state.reloader  # type: ignore[attr-defined]
    wait_until(lambda: not reloader.retired_in_use(), timeout=30)


def test_reload_never_swaps_in_a_version_activated_before_the_one_live_now(tiny_models_dir: Path) -> None:
    """Version 2 is activated, and while it loads version 3 is: 2 must never be served."""
    store = ModelStore(tiny_models_dir, MODEL_NAME)
    second = publish_tiny(store, activate=False, bias=1.0)
    third = publish_tiny(store, activate=False, bias=2.0)
    served: list[int] = []

    def load(*, folder: Path, version: int) -> ServedModel:
        if version == second:
            store.activate(third)  # a newer activation lands while `second` loads
        return load_version(folder=folder, version=version)

    slot = ModelSlot()
    reloader = ModelReloader(
        store=store,
        slot=slot,
        load=load,
        redis_url="redis://127.0.0.1:1/0",
        channel="unused",
        on_reload=lambda ok, version: served.append(version),
    )
    reloader.check_pointer()  # version 1, as at start
    store.activate(second)
    reloader.check_pointer()
    assert slot.version == third
    assert served == [1, third]
