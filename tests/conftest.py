"""Fixtures shared by every test: a real Redis, the version-1 model, the real stack."""

import fcntl
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from tagloop.settings import CommonSettings
from tagloop.store import ModelStore

from tests.support import postgres
from tests.support.stack import MODEL_NAME, REPO, Stack, free_port, port_open, running_stack, seed_models_dir
from tests.support.waiting import wait_until

CACHE = REPO / ".cache" / "tests"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free port, with a password as every tagloop Redis has;
    yields its base URL with the password in it (no database number)."""
    port = free_port()
    password = secrets.token_hex(16)
    workdir = tmp_path_factory.mktemp("redis")
    (workdir / "auth.conf").write_text(f'requirepass "{password}"\n')
    proc = subprocess.Popen(
        [
            "redis-server",
            str(workdir / "auth.conf"),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
    )

    def listening() -> bool:
        assert proc.poll() is None, "redis-server exited"
        return port_open(port)

    wait_until(listening, timeout=10, what="redis-server listening")
    yield f"redis://:{password}@127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A real PostgreSQL server on a free port; yields its base URL (no database name)."""
    with postgres.postgres_server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh database of its own on the test server, for one test."""
    return postgres.new_database(postgres_server)


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """A dedicated Redis database, flushed before and after the test (as rq's RQTestCase)."""
    url = f"{redis_server}/1"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


def v1_settings(prior: str | None = None) -> CommonSettings:
    """Settings that build version 1 with `prior` (default: TAGLOOP_PRIOR's) into .cache/tests,
    one store per prior actually used (the detector may be missing: then it is "imagenet")."""
    base = CommonSettings() if prior is None else CommonSettings(prior=prior)
    detector_dir = base.detector_dir if base.detector_dir.is_absolute() else REPO / base.detector_dir
    used = base.prior
    if not all((detector_dir / name).is_file() for name in ("centernet.json", "centernet.bin")):
        used = "imagenet"
    suffix = f"-{base.detector_size}" if used == "imagenet+coco" else ""
    return CommonSettings(
        models_dir=CACHE / f"models-{used.replace('+', '-')}{suffix}",
        data_dir=CACHE / "data",
        model_name=MODEL_NAME,
        prior=used,
        detector_dir=detector_dir,
        detector_size=base.detector_size,
    )


@pytest.fixture(scope="session")
def v1_model_dir() -> Path:
    """Version 1 (Lite0 + the ImageNet prior, and the COCO detector's unless
    TAGLOOP_PRIOR=imagenet), built once into .cache/tests and reused."""
    return build_v1(v1_settings())


def build_v1(settings: CommonSettings) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    # Several pytest runs may share the cache: build it under a lock, once.
    with open(CACHE / "v1.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        from tagloop.model.bootstrap import ensure_first_version

        ensure_first_version(settings)
    store = ModelStore(settings.models_dir, MODEL_NAME)
    return store.path(store.version_numbers()[0])


@pytest.fixture
def models_dir(tmp_path: Path, v1_model_dir: Path) -> Path:
    return seed_models_dir(tmp_path / "models", v1_model_dir)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, v1_model_dir: Path) -> Iterator[Stack]:
    """The whole system, started under supervisord as `make run` does, on free ports, stopped at the end.

    Shared by every test that does not change the model's state; teardown fails the run if
    any process or port outlives the stack.
    """
    with running_stack(tmp_path_factory.mktemp("stack"), v1_model_dir) as system:
        yield system


@pytest.fixture(scope="module")
def gateway(stack: Stack) -> Iterator[httpx.Client]:
    """A client of the system (the session's stack, or a module's own), through the gateway
    (a slow machine may take a while)."""
    with httpx.Client(base_url=stack.url, timeout=120) as client:
        yield client


@pytest.fixture(scope="session")
def v1_imagenet_model_dir() -> Path:
    """Version 1 built with TAGLOOP_PRIOR=imagenet: the one-input Lite0 model alone."""
    return build_v1(v1_settings("imagenet"))
