"""The versioned model store, laid out in the spirit of TF Serving.

    <root>/<name>/<version>/{model.h5, model.onnx, meta.json}
    <root>/<name>/active          a file holding the live version number
    <root>/<name>/.staging/       half-written versions, never listed

A version becomes visible only by one rename of a complete, fsynced folder, so a reader
never sees a half-written version, and a publisher killed mid-write leaves only a
staging folder that the next publisher removes. Version numbers are given out under an
exclusive file lock, so two publishers (threads or processes) never collide.
"""

import contextlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tagloop.errors import NoActiveVersionError, VersionNotFoundError
from tagloop.files import locked, write_atomic
from tagloop.process import pid_alive
from tagloop.version_meta import VersionMeta

log = logging.getLogger(__name__)

META_FILE = "meta.json"
ACTIVE_FILE = "active"
STAGING_DIR = ".staging"
LOCK_FILE = ".lock"


@dataclass(frozen=True)
class VersionInfo:
    version: int
    path: Path
    meta: VersionMeta
    active: bool


Announce = Callable[[int], None]


class ModelStore:
    def __init__(self, root: Path, name: str, *, keep: int = 10, announce: Announce | None = None):
        self.dir = Path(root) / name
        self.keep = keep
        self.announce = announce
        (self.dir / STAGING_DIR).mkdir(parents=True, exist_ok=True)

    # -- reading -------------------------------------------------------------------

    def path(self, version: int) -> Path:
        """Folder of a published version; VersionNotFoundError if there is none."""
        path = self.dir / str(version)
        if not (path / META_FILE).is_file():
            raise VersionNotFoundError(f"model version {version} does not exist")
        return path

    def meta(self, version: int) -> VersionMeta:
        return VersionMeta.model_validate_json((self.path(version) / META_FILE).read_text())

    def version_numbers(self) -> list[int]:
        """Published versions, oldest first."""
        return sorted(
            int(p.name) for p in self.dir.iterdir() if p.name.isdigit() and (p / META_FILE).is_file()
        )

    def active_version(self) -> int | None:
        """The live version, or None when nothing was ever activated."""
        try:
            return int((self.dir / ACTIVE_FILE).read_text().strip())
        except FileNotFoundError:
            return None

    def require_active(self) -> int:
        version = self.active_version()
        if version is None:
            raise NoActiveVersionError("no model version is active yet")
        return version

    def versions(self) -> list[VersionInfo]:
        """Every published version with its metadata, newest first."""
        active = self.active_version()
        infos = []
        for v in reversed(self.version_numbers()):
            with contextlib.suppress(VersionNotFoundError, FileNotFoundError):
                infos.append(VersionInfo(v, self.dir / str(v), self.meta(v), v == active))
        return infos

    # -- writing -------------------------------------------------------------------

    def publish(self, write: Callable[[Path], None], meta: VersionMeta, *, activate: bool) -> int:
        """Publish a new version whose files `write(folder)` creates; returns its number.

        `write` runs outside the lock (exports take seconds); the number is given out
        and the folder renamed into place under it.
        """
        staging = self._new_staging()
        try:
            write(staging)
            created = meta.created or datetime.now(UTC).isoformat(timespec="seconds")
            with self._locked():
                version = max(self.version_numbers(), default=0) + 1
                full_meta = meta.model_copy(update={"created": created, "version": version})
                (staging / META_FILE).write_text(full_meta.to_json())
                _fsync_tree(staging)
                os.rename(staging, self.dir / str(version))
                _fsync_dir(self.dir)
                if activate:
                    self._write_active(version)
                self._apply_retention()
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log.info("published %s version %d (active=%s)", self.dir.name, version, activate)
        if activate:
            self._announce(version)
        return version

    def activate(self, version: int) -> None:
        """Make `version` the live one (this is also how rollback is done)."""
        with self._locked():
            self.path(version)
            self._write_active(version)
        log.info("activated %s version %d", self.dir.name, version)
        self._announce(version)

    def _write_active(self, version: int) -> None:
        write_atomic(self.dir / ACTIVE_FILE, f"{version}\n".encode(), sync=True)
        _fsync_dir(self.dir)

    def _apply_retention(self) -> None:
        """Drop the oldest versions beyond `keep`, never the active one."""
        active = self.active_version()
        numbers = [v for v in self.version_numbers() if v != active]
        excess = len(numbers) + (active is not None) - self.keep
        for v in numbers[: max(excess, 0)]:
            # Rename first so that no reader ever sees a half-deleted version.
            doomed = self.dir / STAGING_DIR / f"deleted-{v}-{uuid.uuid4().hex}"
            os.rename(self.dir / str(v), doomed)
            shutil.rmtree(doomed, ignore_errors=True)
            log.info("retention removed %s version %d", self.dir.name, v)

    def _announce(self, version: int) -> None:
        if self.announce is None:
            return
        try:
            self.announce(version)
        except Exception as exc:  # Inference also watches the pointer: a lost message is fine.
            log.warning("could not announce version %d: %s", version, exc)

    def _new_staging(self) -> Path:
        self._remove_abandoned_staging()
        path = self.dir / STAGING_DIR / f"{os.getpid()}-{uuid.uuid4().hex}"
        path.mkdir(parents=True)
        return path

    def _remove_abandoned_staging(self) -> None:
        """Remove staging folders whose publisher process is gone (killed mid-write)."""
        for path in (self.dir / STAGING_DIR).iterdir():
            pid = path.name.split("-", 1)[0]
            if pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True)

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        return locked(self.dir / LOCK_FILE)


def redis_announcer(redis_client: Any, channel: str) -> Announce:
    """An `announce` callback that publishes the activated version on Redis pub/sub."""

    def announce(version: int) -> None:
        redis_client.publish(channel, json.dumps({"version": version, "at": time.time()}))

    return announce


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
