"""Publishing onto a disk that fills up: the scenario of test_full_disk.py.

Runs in the test process on a small tmpfs, or, where mounting is not permitted, as a
subprocess (`python full_disk.py ROOT V1_DIR`) whose file size limit (RLIMIT_FSIZE) makes
big writes fail with EFBIG: the same failure seen from Python, an OSError mid-write.
"""

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tagloop.store import ModelStore
from tagloop.version_meta import VersionMeta

MODEL_NAME = "voc"


@contextlib.contextmanager
def mounted_tmpfs(mountpoint: Path, size_mb: int) -> Iterator[Path | None]:
    """A tmpfs of `size_mb` at `mountpoint`, or None where mounting is not permitted."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mountpoint)], capture_output=True
    )
    if mounted.returncode != 0:
        yield None
        return
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=True)


def half_written(uploads: Path) -> list[str]:
    """What a refused upload must not leave: temp files, or an image without its sidecar."""
    problems = [str(p) for p in uploads.rglob("*.tmp")]
    for image in uploads.glob("??/*"):
        if image.suffix == "" and not image.with_suffix(".json").is_file():
            problems.append(f"{image} has no sidecar")
    return problems


def copy_files(source: Path):
    def write(folder: Path) -> None:
        for name in ("model.h5", "model.onnx"):
            shutil.copyfile(source / name, folder / name)

    return write


def fill_the_disk(folder: Path) -> None:
    """Writes one file until the disk is full, then returns as if all went well."""
    with open(folder / "model.onnx", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EFBIG):
                raise


def tiny_files(folder: Path) -> None:
    (folder / "model.onnx").write_bytes(b"small")


def attempt(store: ModelStore, write, *, activate: bool) -> str:
    """Publish; the name of the error it raised, or 'published vN'."""
    try:
        return f"published v{store.publish(write, VersionMeta(source='full-disk test'), activate=activate)}"
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, type(exc).__name__)


def state(store: ModelStore) -> dict[str, Any]:
    return {
        "versions": store.version_numbers(),
        "active": store.active_version(),
        "staging": sorted(p.name for p in (store.dir / ".staging").iterdir()),
        "entries": sorted(p.name for p in store.dir.iterdir()),
    }


def scenario(root: Path, v1_dir: Path, *, fill: bool) -> dict[str, Any]:
    """Publish v1 (44 MB) onto the small disk; then a disk filled inside write(); then a tiny one."""
    store = ModelStore(root, MODEL_NAME)
    out: dict[str, Any] = {"big": attempt(store, copy_files(v1_dir), activate=True)}
    out["after_big"] = state(store)
    if fill:
        out["filled"] = attempt(store, fill_the_disk, activate=True)
        out["after_filled"] = state(store)
    out["tiny"] = attempt(store, tiny_files, activate=True)
    out["after_tiny"] = state(store)
    version = store.active_version()
    if version is not None:
        out["tiny_meta"] = store.meta(version).model_dump()
    return out


if __name__ == "__main__":
    root, v1 = Path(sys.argv[1]), Path(sys.argv[2])
    os.makedirs(root, exist_ok=True)
    print(json.dumps(scenario(root, v1, fill=False)))
