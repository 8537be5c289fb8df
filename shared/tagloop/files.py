"""File writes that readers in other processes can trust."""

import contextlib
import fcntl
import os
import uuid
from collections.abc import Iterator
from pathlib import Path


def write_atomic(path: Path, data: bytes, *, sync: bool = False) -> None:
    """Write `data` to a temporary name beside `path`, then rename it into place: a reader
    sees the old file or the whole new one, never half of it, even if the writer is killed.
    `sync`: fsync before the rename, so the bytes survive a power cut too."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """An exclusive lock shared with every process that locks the same file."""
    with open(lock_file, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
