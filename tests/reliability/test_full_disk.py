"""A full disk: during publish, an error, no version visible, no staging left behind; on
the running system, every refused write a 507 naming the volume, /health degraded, and
everything back once the volume grows, with no acknowledged correction lost."""

import json
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.clients import Saved, lost_corrections
from tests.support.full_disk import half_written, mounted_tmpfs, scenario
from tests.support.stack import running_stack
from tests.support.testfiles import photo_jpeg, unique_seed

DISK_BYTES = 3 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path | None]:
    """A 3 MB tmpfs, or None where mounting is not permitted (not root, no CAP_SYS_ADMIN)."""
    with mounted_tmpfs(tmp_path / "small-disk", DISK_BYTES // (1024 * 1024)) as mountpoint:
        yield mountpoint


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


DATA_VOLUME_MB = 40


@pytest.fixture
def small_data_volume(tmp_path: Path) -> Iterator[Path]:
    """The stack's data dir on a 40 MB tmpfs of its own."""
    with mounted_tmpfs(tmp_path / "data", DATA_VOLUME_MB) as volume:
        if volume is None:
            pytest.skip("mounting a tmpfs is not permitted here (needs root or CAP_SYS_ADMIN)")
        yield volume


@pytest.mark.integration
@pytest.mark.slow
def test_uploads_on_full_data_volume_answer_507_and_recover_when_it_grows(
    small_data_volume: Path, tmp_path: Path, v1_model_dir: Path, record
) -> None:
    """Uploads and saves until a 40 MB data volume is full: 507s naming it, never 500; grown: all works."""
    env = {"TAGLOOP_DISK_FREE_FLOOR_MB": "2"}
    with (
        running_stack(tmp_path, v1_model_dir, extra_env=env) as stack,
        httpx.Client(base_url=stack.url, timeout=120) as gateway,
    ):
        statuses: dict[int, int] = {}
        refused: list[dict] = []
        saved: list[Saved] = []
        for _ in range(400):
            seed = unique_seed()
            upload = ("big.jpg", photo_jpeg(seed=seed, size=(1400, 1000), quality=97), "image/jpeg")
            reply = gateway.post("/predict", files={"file": upload})
            statuses[reply.status_code] = statuses.get(reply.status_code, 0) + 1
            if reply.status_code != 200:
                refused.append(reply.json())
                if len(refused) >= 3:
                    break
                continue
            image_id = reply.json()["image_id"]
            save = gateway.post("/save_correction", json={"image_id": image_id, "corrected_labels": ["dog"]})
            statuses[save.status_code] = statuses.get(save.status_code, 0) + 1
            if save.status_code == 200:
                saved.append(Saved(save.json()["correction"]["id"], image_id, ["dog"]))
            else:
                refused.append(save.json())
        health = gateway.get("/health")
        retrain = gateway.post("/retrain", json={})
        leftovers = half_written(small_data_volume / "uploads")
        subprocess.run(
            ["mount", "-o", f"remount,size={DATA_VOLUME_MB * 4}m", str(small_data_volume)], check=True
        )
        after = gateway.post(
            "/predict", files={"file": ("after.jpg", photo_jpeg(seed=unique_seed()), "image/jpeg")}
        )
        after_save = gateway.post(
            "/save_correction", json={"image_id": after.json().get("image_id"), "corrected_labels": ["cat"]}
        )
        grown = stack.wait_ready(timeout=60)
        lost = lost_corrections(gateway, saved)
    record(
        f"statuses {statuses}; refused: {refused[0]['error'] if refused else 'none'!r}; "
        f"/health {health.status_code} disk {health.json()['parts'].get('disk')}; "
        f"retrain {retrain.status_code}; "
        f"after growing: predict {after.status_code}, save {after_save.status_code}, "
        f"{len(lost)} of {len(saved)} acknowledged corrections lost"
    )
    assert refused, f"the volume never filled: {statuses}"
    assert set(statuses) <= {200, 507}, statuses
    for body in refused:
        assert body["code"] == "disk_full" and str(small_data_volume) in body["error"], body
        assert "MB free" in body["error"], body
    assert health.status_code == 503 and health.json()["status"] == "degraded", health.json()
    assert health.json()["parts"]["disk"]["ok"] is False, health.json()
    assert retrain.status_code == 507 and retrain.json()["code"] == "disk_full", retrain.text
    assert leftovers == [], leftovers
    assert after.status_code == 200, after.text
    assert after_save.status_code == 200, after_save.text
    assert grown["parts"]["disk"]["ok"] is True, grown
    assert not lost, lost
