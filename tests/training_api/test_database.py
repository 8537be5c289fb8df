"""The corrections database on SQLite and on a real PostgreSQL, with the one set of Alembic
migrations: the schema the code expects, several processes starting at once, a database
made before the migrations, and the corrections API on each (`pytest -k postgres` runs
the PostgreSQL half)."""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, text
from training_api import migrate
from training_api.db import Base, make_engine
from training_api.main import create_app

from tests.support.training import image_bytes, make_settings, store_images

HEAD = ScriptDirectory(str(migrate.MIGRATIONS)).get_current_head()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tagloop.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(autouse=True)
def fresh_process_memory() -> Iterator[None]:
    """Each test's database is new: forget which URLs this process already migrated."""
    migrate._migrated.clear()
    yield
    migrate._migrated.clear()


def revisions(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))]


def test_migrations_make_the_schema_the_code_expects(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        differences = compare(conn)
    assert differences == [], "the models and the migrations disagree: add a migration"
    assert revisions(engine) == [HEAD]
    engine.dispose()


def compare(conn: Connection) -> list:
    return compare_metadata(MigrationContext.configure(conn), Base.metadata)


MIGRATE_AND_EXIT = "import sys; from training_api.db import make_engine; make_engine(sys.argv[1]).dispose()"


def test_processes_starting_together_migrate_once(database_url: str) -> None:
    starts = [
        subprocess.Popen([sys.executable, "-c", MIGRATE_AND_EXIT, database_url], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    errors = [proc.communicate(timeout=120)[1].decode() for proc in starts]
    assert [proc.returncode for proc in starts] == [0] * 4, errors
    engine = create_engine(database_url)
    assert revisions(engine) == [HEAD]
    engine.dispose()


def test_a_database_made_before_the_migrations_is_kept_and_adopted(database_url: str) -> None:
    # What `create_all` made before there were migrations: the corrections table alone, as
    # the first migration makes it, and no record of any migration.
    old = create_engine(database_url)
    with old.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), "0001")
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(
            text(
                "INSERT INTO corrections (image_id, corrected_labels, timestamp)"
                " VALUES ('abc', '[\"cat\"]', CURRENT_TIMESTAMP)"
            )
        )
    old.dispose()
    engine = make_engine(database_url)
    assert revisions(engine) == [HEAD]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT image_id FROM corrections")).scalars().all() == ["abc"]
    engine.dispose()


def test_the_corrections_api_works_the_same(database_url: str, tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(
        models_dir=tmp_path / "models",
        data_dir=tmp_path / "data",
        redis_url=redis_url,
        database_url=database_url,
    )
    ids = store_images(settings.uploads_dir, image_bytes(3))
    with TestClient(create_app(settings)) as client:
        for image_id, labels in zip(ids, [["cat"], ["dog", "person"], ["cat", "sofa"]], strict=True):
            body = {"image_id": image_id, "corrected_labels": labels, "predicted": {"cat": 0.25}}
            assert client.post("/save_correction", json=body).status_code == 200
        client.post("/save_correction", json={"image_id": ids[0], "corrected_labels": ["bird"]})
        cats = client.get("/get_corrections", params={"label": "cat"}).json()
        page = client.get("/get_corrections", params={"limit": 2, "offset": 0}).json()
        history = client.get(f"/corrections/{ids[0]}").json()
        health = client.get("/health").json()
    assert health["database"] is True
    # The latest per image, newest first; the label filter matches whole label names.
    assert (cats["total"], [c["image_id"] for c in cats["corrections"]]) == (1, [ids[2]])
    assert page["total"] == 3 and [c["image_id"] for c in page["corrections"]] == [ids[0], ids[2]]
    assert page["corrections"][1]["predicted"] == [{"label": "cat", "confidence": 0.25}]
    assert [c["corrected_labels"] for c in history["corrections"]] == [["bird"], ["cat"]]
