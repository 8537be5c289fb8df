"""Fixtures of the inference tests: apps on a tiny ONNX model or on the real version 1."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tagloop.store import ModelStore

from tests.support.inference import MODEL_NAME, publish_tiny, serving


@pytest.fixture
def tiny_models_dir(tmp_path: Path) -> Path:
    """A models root whose active version 1 is a tiny ONNX model (no TensorFlow needed)."""
    root = tmp_path / "tiny-models"
    publish_tiny(ModelStore(root, MODEL_NAME))
    return root


@pytest.fixture
def tiny_client(tiny_models_dir: Path, tmp_path: Path, redis_url: str) -> Iterator[TestClient]:
    yield from serving(tiny_models_dir, tmp_path, redis_url)


@pytest.fixture
def v1_client(models_dir: Path, tmp_path: Path, redis_url: str) -> Iterator[TestClient]:
    """The app serving the real version 1 (Lite0 + ImageNet prior)."""
    yield from serving(models_dir, tmp_path, redis_url)
