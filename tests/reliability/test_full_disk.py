"""A full disk during publish: an error, no version visible, no staging left behind."""

import json
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.full_disk import scenario

DISK_BYTES = 3 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path | None]:
    """A 3 MB tmpfs, or None where mounting is not permitted (not root, no CAP_SYS_ADMIN)."""
    mountpoint = tmp_path / "small-disk"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mountpoint)], capture_output=True
    )
    if mounted.returncode != 0:
        yield None
        return
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=True)


def run_with_file_size_limit(root: Path, v1_dir: Path) -> dict:
    """The scenario in a subprocess whose writes past DISK_BYTES fail with EFBIG."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (DISK_BYTES, DISK_BYTES))

    result = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("full_disk.py")), str(root), str(v1_dir)],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_publish_on_full_disk_leaves_no_version(
    small_disk: Path | None, tmp_path: Path, v1_model_dir: Path, record
) -> None:
    """Publishing v1 (44 MB) onto a 3 MB disk fails cleanly; the next publish leaves no staging."""
    if small_disk is not None:
        how = "3 MB tmpfs"
        out = scenario(small_disk / "models", v1_model_dir, fill=True)
    else:
        how = "RLIMIT_FSIZE 3 MB (mount not permitted)"
        out = run_with_file_size_limit(tmp_path / "models", v1_model_dir)
    assert out["big"] in ("ENOSPC", "EFBIG"), out
    assert out["after_big"]["versions"] == [] and out["after_big"]["active"] is None, out
    assert out["after_big"]["staging"] == [], out
    if "filled" in out:  # the disk filled inside write(): meta.json then fails under the lock
        assert out["filled"] in ("ENOSPC", "EFBIG"), out
        assert out["after_filled"]["versions"] == [] and out["after_filled"]["staging"] == [], out
    assert out["tiny"] == "published v1", out
    assert out["after_tiny"]["versions"] == [1] and out["after_tiny"]["staging"] == [], out
    assert out["tiny_meta"]["version"] == 1
    assert not [e for e in out["after_tiny"]["entries"] if e.startswith(".active.")], out
    record(
        f"{how}: big publish -> {out['big']}, disk filled in write -> {out.get('filled', 'n/a')}; "
        "next publish ok, no staging left"
    )
