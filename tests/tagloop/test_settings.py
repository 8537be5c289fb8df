"""One place for the settings every service shares: the decode limits."""

import pytest
from inference_api.config import Settings as InferenceSettings
from tagloop.images import DEFAULT_MAX_DECODE_BYTES, DEFAULT_MAX_PIXELS, DecodeLimits
from training_api.config import Settings as TrainingSettings


def test_inference_and_training_read_the_same_decode_limits_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TAGLOOP_MAX_IMAGE_PIXELS", "50000000")
    monkeypatch.setenv("TAGLOOP_MAX_DECODE_BYTES", str(128 * 1024 * 1024))
    inference = InferenceSettings(_env_file=None)
    training = TrainingSettings(_env_file=None)
    assert inference.max_image_pixels == training.max_image_pixels == 50_000_000
    assert inference.decode_limits == training.decode_limits == DecodeLimits(50_000_000, 128 * 1024 * 1024)


def test_the_decode_limits_default_to_the_library_s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TAGLOOP_MAX_IMAGE_PIXELS", raising=False)
    monkeypatch.delenv("TAGLOOP_MAX_DECODE_BYTES", raising=False)
    limits = TrainingSettings(_env_file=None).decode_limits
    assert limits == DecodeLimits() == DecodeLimits(DEFAULT_MAX_PIXELS, DEFAULT_MAX_DECODE_BYTES)
