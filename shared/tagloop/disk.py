"""The data volume: how full it is, a full one as a clear error, and a bounded cache.

A write that fails for lack of space (ENOSPC, a quota, SQLite's "database or disk is
full") becomes DiskFullError, which both services answer with 507 in the JSON error
shape, naming the volume and its free space. /health turns degraded below
settings.disk_free_floor_mb; the cache under the data dir is kept under
settings.cache_max_mb by evicting its least recently used files.
"""

import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from tagloop.errors import DiskFullError

MB = 1024 * 1024
FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
FULL_MESSAGES = ("database or disk is full", "no space left on device", "disk quota exceeded")


def volume_of(path: Path) -> Path:
    """The mount point that holds `path` (its nearest existing parent that is a mount)."""
    path = Path(path).resolve()
    while not path.exists():
        path = path.parent
    while not os.path.ismount(path):
        path = path.parent
    return path


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer can still use on `path`'s volume."""
    existing = Path(path).resolve()
    while not existing.exists():
        existing = existing.parent
    return shutil.disk_usage(existing).free


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is a write refused for lack of space."""
    for cause in _causes(exc):
        if isinstance(cause, DiskFullError):
            return True
        if isinstance(cause, OSError) and cause.errno in FULL_ERRNOS:
            return True
        if any(words in str(cause).lower() for words in FULL_MESSAGES):
            return True
    return False


def disk_full_error(path: Path) -> DiskFullError:
    """The error a person reads: which volume, how much is free, what to do."""
    volume = volume_of(path)
    free = free_bytes(path) / MB
    return DiskFullError(
        f"the data volume {volume} is full ({free:.1f} MB free): nothing was stored; "
        "free some space there or grow the volume, then try again"
    )


def require_free_space(path: Path, floor_mb: float) -> None:
    """DiskFullError when `path`'s volume has less than `floor_mb` free (before a big write
    such as a retrain or an export, which would otherwise fail halfway)."""
    if free_bytes(path) < floor_mb * MB:
        raise disk_full_error(path)


def disk_health(path: Path, floor_mb: float) -> dict[str, object]:
    """The /health part of the data volume: ok while at least `floor_mb` is free."""
    free = free_bytes(path)
    return {
        "ok": free >= floor_mb * MB,
        "volume": str(volume_of(path)),
        "free_mb": round(free / MB, 1),
        "floor_mb": floor_mb,
    }


def evict_lru(folder: Path, max_bytes: int) -> list[Path]:
    """Delete the least recently used files under `folder` until it holds at most
    `max_bytes`; returns what was deleted. A reader that has a file open keeps it (Linux
    frees it on close); the cache's owner rebuilds a missing file on its next use."""
    files = []
    for path in Path(folder).rglob("*"):
        try:
            info = path.stat()
        except OSError:
            continue
        if path.is_file() and not path.name.endswith(".lock"):
            files.append((max(info.st_atime, info.st_mtime), info.st_size, path))
    total = sum(size for _, size, _ in files)
    evicted = []
    for _, size, path in sorted(files):
        if total <= max_bytes:
            break
        try:
            path.unlink()
        except OSError:
            continue
        total -= size
        evicted.append(path)
    return evicted
