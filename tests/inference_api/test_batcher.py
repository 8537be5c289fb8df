"""The dynamic batcher: concurrent requests gathered into one pass, pinned jobs kept apart."""

import time
from pathlib import Path

import numpy as np
import pytest
from inference_api.batcher import DynamicBatcher
from inference_api.engine import ModelNotReadyError, ModelSlot, ServedModel, load_version

from tests.support.inference import tiny_onnx
from tests.support.waiting import wait_until


@pytest.fixture
def tiny_model(tmp_path: Path) -> ServedModel:
    tiny_onnx(tmp_path / "model.onnx")
    return load_version(folder=tmp_path, version=7)


def images(n: int, value: float = 0.5) -> np.ndarray:
    return np.full((n, 224, 224, 3), value, dtype=np.float32)


def test_batcher_gathers_requests_that_are_still_decoding(tiny_model: ServedModel) -> None:
    slot = ModelSlot()
    slot.current = tiny_model
    sizes: list[int] = []
    batcher = DynamicBatcher(slot=slot, max_batch=4, max_wait_s=0.5, observe=sizes.append)
    batcher.start()
    try:
        with batcher.expecting(), batcher.expecting():
            first = batcher.submit(images(1, 0.1))
            second = batcher.submit(images(1, 0.9))
        third = batcher.submit(images(1, 0.3))
        results = [f.result(timeout=5) for f in (first, second, third)]
    finally:
        batcher.stop()
    assert sum(sizes) == 3 and len(sizes) <= 2  # not three passes of one
    assert [r.version for r in results] == [7, 7, 7]
    alone = tiny_model.run(images(1, 0.9))
    np.testing.assert_allclose(results[1].scores, alone, atol=1e-3)  # float sums: order differs
    # Each request learns how long it queued and how big and long the pass that took it was.
    assert all(r.queued_s >= 0 and r.forward_s >= 0 for r in results)
    assert {r.pass_images for r in results} <= set(sizes)
    assert results[0].forward_s == results[1].forward_s  # gathered into one pass


def test_batcher_does_not_wait_when_nothing_is_decoding(tiny_model: ServedModel) -> None:
    slot = ModelSlot()
    slot.current = tiny_model
    batcher = DynamicBatcher(slot=slot, max_batch=4, max_wait_s=60.0)
    batcher.start()
    try:
        version, scores, *_ = batcher.submit(images(1)).result(timeout=10)  # far less than max_wait
    finally:
        batcher.stop()
    assert version == 7 and scores.shape == (1, 20)


def test_batcher_runs_a_pinned_job_on_its_model(tiny_model: ServedModel, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    tiny_onnx(tmp_path / "other" / "model.onnx", bias=3.0)
    slot = ModelSlot()
    slot.current = load_version(folder=tmp_path / "other", version=8)
    batcher = DynamicBatcher(slot=slot, max_batch=4, max_wait_s=0.0, runners=2)
    batcher.start()
    try:
        pinned = batcher.submit(images(3), model=tiny_model).result(timeout=5)
        current = batcher.submit(images(1)).result(timeout=5)
    finally:
        batcher.stop()
    assert pinned[0] == 7 and pinned[1].shape == (3, 20)
    assert current[0] == 8


def test_batcher_fails_the_job_when_no_model_is_loaded() -> None:
    batcher = DynamicBatcher(slot=ModelSlot(), max_batch=4, max_wait_s=0.0)
    batcher.start()
    try:
        with pytest.raises(ModelNotReadyError):
            batcher.submit(images(1)).result(timeout=5)
    finally:
        batcher.stop()


def test_batcher_gives_memory_back_once_idle_after_a_pass(tiny_model: ServedModel) -> None:
    slot = ModelSlot()
    slot.current = tiny_model
    trims: list[float] = []
    batcher = DynamicBatcher(
        slot=slot, max_batch=4, max_wait_s=0.0, runners=2, idle_trim_s=0.2, trim=lambda: trims.append(1)
    )
    batcher.start()
    try:
        time.sleep(0.5)
        assert trims == []  # nothing ran: nothing to give back
        for _ in range(5):  # busy: passes closer together than idle_trim_s
            batcher.submit(images(1)).result(timeout=10)
        assert trims == []
        wait_until(lambda: trims == [1], timeout=5, what="one trim after the passes")
        time.sleep(0.5)
        assert trims == [1]  # once per idle spell, by one of the two runners
        batcher.submit(images(2)).result(timeout=10)
        wait_until(lambda: len(trims) == 2, timeout=5, what="a trim after the next pass")
    finally:
        batcher.stop()
