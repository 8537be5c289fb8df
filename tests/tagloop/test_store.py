"""The model store: atomic publish, two publishers, killed publishers, rollback, retention."""

import json
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import redis
from tagloop.errors import NoActiveVersionError, VersionNotFoundError
from tagloop.store import ModelStore, redis_announcer
from tagloop.version_meta import VersionMeta

from tests.support.waiting import wait_until


def write_files(payload: bytes = b"model"):
    def write(folder: Path) -> None:
        (folder / "model.h5").write_bytes(payload)
        (folder / "model.onnx").write_bytes(payload)

    return write


def test_publish_creates_complete_active_version(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, "voc")
    version = store.publish(write_files(), VersionMeta(samples=3), activate=True)
    assert version == 1
    assert store.active_version() == 1
    assert sorted(p.name for p in store.path(1).iterdir()) == ["meta.json", "model.h5", "model.onnx"]
    meta = store.meta(1)
    assert meta.version == 1 and meta.samples == 3 and meta.created


def test_publish_inactive_keeps_the_active_version(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, "voc")
    store.publish(write_files(), VersionMeta(), activate=True)
    assert store.publish(write_files(), VersionMeta(), activate=False) == 2
    assert store.active_version() == 1
    assert [(v.version, v.active) for v in store.versions()] == [(2, False), (1, True)]


def test_failed_write_publishes_nothing(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, "voc")

    def broken(folder: Path) -> None:
        (folder / "model.h5").write_bytes(b"half")
        raise RuntimeError("export failed")

    with pytest.raises(RuntimeError):
        store.publish(broken, VersionMeta(), activate=True)
    assert store.version_numbers() == []
    assert store.active_version() is None
    assert list((tmp_path / "voc" / ".staging").iterdir()) == []


def test_activate_rolls_back_and_announces(tmp_path: Path, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    pubsub.subscribe("models")
    pubsub.get_message(timeout=1)
    store = ModelStore(tmp_path, "voc", announce=redis_announcer(client, "models"))
    store.publish(write_files(), VersionMeta(), activate=True)
    store.publish(write_files(), VersionMeta(), activate=True)
    store.activate(1)
    assert store.active_version() == 1
    seen = []
    while (message := pubsub.get_message(timeout=1)) is not None:
        seen.append(json.loads(message["data"])["version"])
    assert seen == [1, 2, 1]


def test_activate_unknown_version_is_refused(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, "voc")
    with pytest.raises(VersionNotFoundError, match="version 7 does not exist"):
        store.activate(7)
    with pytest.raises(NoActiveVersionError):
        store.require_active()


def test_publish_survives_redis_being_down(tmp_path: Path) -> None:
    dead = redis.Redis(port=1, socket_connect_timeout=0.2)
    store = ModelStore(tmp_path, "voc", announce=redis_announcer(dead, "models"))
    assert store.publish(write_files(), VersionMeta(), activate=True) == 1
    assert store.active_version() == 1


def test_retention_keeps_newest_and_never_the_active(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, "voc", keep=3)
    store.publish(write_files(), VersionMeta(), activate=True)  # 1 stays active throughout
    for _ in range(5):
        store.publish(write_files(), VersionMeta(), activate=False)
    assert store.version_numbers() == [1, 5, 6]
    assert store.active_version() == 1


def _publish_many(root: str, count: int, tag: int) -> None:
    store = ModelStore(Path(root), "voc", keep=100)
    for i in range(count):
        store.publish(write_files(f"{tag}-{i}".encode()), VersionMeta(tag=tag), activate=True)


def test_two_publisher_processes_get_distinct_complete_versions(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_publish_many, args=(str(tmp_path), 10, tag)) for tag in (1, 2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    store = ModelStore(tmp_path, "voc", keep=100)
    assert store.version_numbers() == list(range(1, 21))
    payloads = {(store.path(v) / "model.h5").read_bytes() for v in store.version_numbers()}
    assert len(payloads) == 20
    assert sorted(store.meta(v).extra("tag") for v in store.version_numbers()) == [1] * 10 + [2] * 10


def _publish_slowly(root: str) -> None:
    store = ModelStore(Path(root), "voc")

    def write(folder: Path) -> None:
        (folder / "model.h5").write_bytes(b"x" * 1000)
        time.sleep(60)  # killed here

    store.publish(write, VersionMeta(), activate=True)


def test_publisher_killed_mid_write_leaves_no_version(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, "voc")
    store.publish(write_files(), VersionMeta(), activate=True)
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_publish_slowly, args=(str(tmp_path),))
    proc.start()
    staging = tmp_path / "voc" / ".staging"
    wait_until(lambda: any(staging.iterdir()), timeout=30, what="the slow publisher's staging folder")
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    assert store.version_numbers() == [1] and store.active_version() == 1
    # The next publisher cleans up what the dead one left and numbers on from 1.
    assert store.publish(write_files(), VersionMeta(), activate=True) == 2
    assert list(staging.iterdir()) == []


def test_reader_never_sees_a_half_published_version(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, "voc", keep=5)
    store.publish(write_files(), VersionMeta(), activate=True)
    stop = threading.Event()
    failures: list[str] = []

    def read() -> None:
        reader = ModelStore(tmp_path, "voc", keep=5)
        while not stop.is_set():
            try:
                active = reader.require_active()
                files = {p.name for p in reader.path(active).iterdir()}
                if files != {"meta.json", "model.h5", "model.onnx"}:
                    failures.append(f"v{active}: {files}")
                for info in reader.versions():
                    assert info.meta.version == info.version
            except Exception as exc:  # any failure at all is what this test looks for
                failures.append(repr(exc))

    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in readers:
        t.start()
    for _ in range(30):
        store.publish(write_files(b"m" * 100_000), VersionMeta(), activate=True)
    stop.set()
    for t in readers:
        t.join()
    assert failures == []
