"""The data volume helpers: a full disk recognised, a bounded cache, a store left whole."""

import errno
import os
import sqlite3
from pathlib import Path

import pytest
from tagloop import disk
from tagloop.errors import DiskFullError
from tagloop.uploads import UploadStore


def test_is_disk_full_recognises_enospc_and_sqlite_full() -> None:
    assert disk.is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert disk.is_disk_full(sqlite3.OperationalError("database or disk is full"))
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("publish failed") from inner
    except RuntimeError as outer:
        assert disk.is_disk_full(outer)
    assert not disk.is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not disk.is_disk_full(ValueError("bad"))


def test_disk_full_error_names_the_volume_and_its_free_space(tmp_path: Path) -> None:
    message = str(disk.disk_full_error(tmp_path / "not-yet" / "file"))
    assert str(disk.volume_of(tmp_path)) in message and "MB free" in message


def test_evict_lru_deletes_the_least_recently_used_first(tmp_path: Path) -> None:
    for i, name in enumerate(["old", "middle", "new"]):
        path = tmp_path / "sub" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"x" * 1000)
        os.utime(path, (1_000_000 + i, 1_000_000 + i))
    evicted = disk.evict_lru(tmp_path, 2000)
    assert [p.name for p in evicted] == ["old"]
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["middle", "new"]


def test_put_upload_on_full_disk_raises_disk_full_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = UploadStore(tmp_path / "uploads")

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "_update_sidecar", full)  # the image lands, its sidecar does not
    with pytest.raises(DiskFullError, match="MB free"):
        store.put(b"\xff\xd8\xff\xe0 fake jpeg", "a.jpg")
    assert [p for p in (tmp_path / "uploads").rglob("*") if p.is_file() and p.name != ".lock"] == []
