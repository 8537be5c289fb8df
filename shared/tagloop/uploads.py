"""The upload store: every image stored once, by content.

    <root>/<ab>/<sha256>          the bytes, exactly as uploaded (ab = first two hex digits)
    <root>/<ab>/<sha256>.json     sidecar: filenames seen (latest last), first_seen, size, format
    <root>/by-name/<sha256 of the filename>   the image_ids uploaded under that name, one a line

`image_id` is the sha256 of the bytes, so the same image uploaded twice is stored once.
A client's filename is metadata only: it is never part of a path (the by-name index is
keyed by a hash of it). Files are written to a temporary name and renamed, so a reader
never sees half a file; sidecar updates are serialised by a lock file, so concurrent
uploads of the same image from several processes keep every filename.
"""

import contextlib
import hashlib
import json
import re
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tagloop.disk import disk_full_error, is_disk_full
from tagloop.errors import TagloopError
from tagloop.files import locked, write_atomic
from tagloop.images import sniff_format

_IMAGE_ID = re.compile(r"[0-9a-f]{64}")
MAX_FILENAMES = 20
"""How many distinct client filenames a sidecar remembers per image."""


MAX_IDS_PER_NAME = 1000
"""How many different images the by-name index remembers per filename."""


class UnknownImageError(TagloopError):
    """No upload has this image_id (or the id is not a sha256 hex digest)."""


class UploadStore:
    def __init__(self, root: Path, *, sync: bool = False):
        """`sync`: fsync each new image before answering. Off by default: the rename is
        atomic either way, and an fsync costs ~4 ms per image on the request path; only
        a power cut could then lose an image uploaded in the last seconds."""
        self.root = Path(root)
        self.sync = sync
        (self.root / "by-name").mkdir(parents=True, exist_ok=True)

    def put(self, data: bytes, filename: str | None = None, *, image_format: str | None = None) -> str:
        """Store `data` (once) and remember `filename`; returns the image_id (sha256 hex).

        `image_format` (Pillow's name) is read from the header when not given.
        """
        image_id = hashlib.sha256(data).hexdigest()
        path = self._path(image_id)
        created = False
        try:
            if not path.is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(path, data, sync=self.sync)
                created = True
            name = clean_filename(filename)
            with locked(self.root / ".lock"):
                self._update_sidecar(
                    image_id, name, size=len(data), image_format=image_format or sniff_format(data)
                )
                if name:
                    self._remember_name(name, image_id)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            # No image without its sidecar: a full disk leaves the store as it was.
            if created:
                path.unlink(missing_ok=True)
                self._sidecar(image_id).unlink(missing_ok=True)
            raise disk_full_error(self.root) from exc
        return image_id

    def read(self, image_id: str) -> bytes:
        """The stored bytes; UnknownImageError if there is no such upload."""
        try:
            return self._path(image_id).read_bytes()
        except FileNotFoundError:
            raise UnknownImageError(f"no uploaded image has id {image_id}") from None

    def exists(self, image_id: str) -> bool:
        try:
            return self._path(image_id).is_file()
        except UnknownImageError:
            return False

    def meta(self, image_id: str) -> dict[str, Any]:
        """The sidecar: image_id, filenames (latest last), first_seen, size, format."""
        try:
            return json.loads(self._sidecar(image_id).read_text())
        except FileNotFoundError:
            raise UnknownImageError(f"no uploaded image has id {image_id}") from None

    def ids_by_filename(self, name: str) -> list[str]:
        """Every stored image_id uploaded under this client filename, oldest first.

        Filenames are not unique (every camera writes IMG_0001.JPG), so a caller decides
        what several mean; the image_id is the only unambiguous name of an image.
        """
        clean = clean_filename(name)
        if not clean:
            return []
        try:
            lines = self._name_path(clean).read_text().split()
        except FileNotFoundError:
            return []
        return [image_id for image_id in dict.fromkeys(lines) if self.exists(image_id)]

    def find_by_filename(self, name: str) -> str | None:
        """The image_id most recently uploaded under this client filename, or None."""
        found = self.ids_by_filename(name)
        return found[-1] if found else None

    def recent(self, limit: int, *, exclude: Collection[str] = ()) -> list[str]:
        """Up to `limit` image ids, most recently uploaded first, leaving out `exclude`."""
        if limit <= 0:
            return []
        exclude = set(exclude)
        sidecars = [p for p in self.root.glob("??/*.json") if _IMAGE_ID.fullmatch(p.stem)]
        newest = sorted(sidecars, key=_mtime, reverse=True)
        ids = (p.stem for p in newest if p.stem not in exclude and p.with_suffix("").is_file())
        return [image_id for image_id, _ in zip(ids, range(limit), strict=False)]

    def path_of(self, image_id: str) -> Path:
        """Where the bytes live (for readers that want a file, e.g. a static server)."""
        return self._path(image_id)

    # -- internals -----------------------------------------------------------------

    def _path(self, image_id: str) -> Path:
        if not isinstance(image_id, str) or not _IMAGE_ID.fullmatch(image_id):
            raise UnknownImageError(f"{image_id!r} is not an image id (64 lowercase hex digits)")
        return self.root / image_id[:2] / image_id

    def _sidecar(self, image_id: str) -> Path:
        return self._path(image_id).with_suffix(".json")

    def _remember_name(self, name: str, image_id: str) -> None:
        """Called under the store's lock: the read-modify-write of the list cannot race."""
        path = self._name_path(name)
        known: list[str] = []
        with contextlib.suppress(FileNotFoundError):
            known = path.read_text().split()
        if image_id in known:
            return
        write_atomic(path, "\n".join([*known, image_id][-MAX_IDS_PER_NAME:]).encode() + b"\n", sync=False)

    def _name_path(self, name: str) -> Path:
        return self.root / "by-name" / hashlib.sha256(name.encode()).hexdigest()

    def _update_sidecar(self, image_id: str, name: str, *, size: int, image_format: str | None) -> None:
        try:
            meta = json.loads(self._sidecar(image_id).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            now = datetime.now(UTC).isoformat(timespec="seconds")
            meta = {"image_id": image_id, "filenames": [], "first_seen": now, "size": size}
        before = json.dumps(meta)
        if name:
            names = [n for n in meta.get("filenames", []) if n != name] + [name]
            meta["filenames"] = names[-MAX_FILENAMES:]
        if image_format:
            meta["format"] = image_format
        if json.dumps(meta) != before or not self._sidecar(image_id).is_file():
            write_atomic(self._sidecar(image_id), json.dumps(meta).encode(), sync=False)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def clean_filename(name: str | None) -> str:
    """A client filename as metadata: control characters dropped, at most 255 characters.

    It is never used as a path, so '../' is harmless and kept as the client sent it.
    """
    if not name:
        return ""
    return "".join(ch for ch in name if ch.isprintable())[:255]
