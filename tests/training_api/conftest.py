"""Fixtures of the training tests: settings on a real Redis and tmp dirs, an API client."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from training_api.config import Settings
from training_api.main import create_app

from tests.support.training import make_settings


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Settings:
    """Settings on the test Redis and tmp dirs, with an empty model store."""
    return make_settings(models_dir=tmp_path / "models", data_dir=tmp_path / "data", redis_url=redis_url)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client
