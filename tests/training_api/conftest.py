"""Fixtures of the training tests: settings on a real Redis and tmp dirs, an API client."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from training_api import migrate
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


@pytest.fixture(params=["sqlite", "postgres"])
def any_db_client(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str):
    """The API on an empty database of each kind."""
    url = f"sqlite:///{tmp_path / 'tagloop.db'}" if request.param == "sqlite" else None
    url = url or request.getfixturevalue("postgres_url")
    migrate._migrated.clear()
    settings = make_settings(
        models_dir=tmp_path / "models", data_dir=tmp_path / "data", redis_url=redis_url, database_url=url
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client, settings
    migrate._migrated.clear()
