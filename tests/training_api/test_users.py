"""Users: `tagloop users add|list|remove`, their tokens and passwords stored hashed, on
SQLite and PostgreSQL (`-k postgres`)."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tagloop.cli import main
from training_api import users
from training_api.config import Settings
from training_api.db import Credential, User, make_engine


@pytest.fixture
def cli_env(any_db_client, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The CLI on the same database as the running API."""
    _, settings = any_db_client
    monkeypatch.setenv("TAGLOOP_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TAGLOOP_MODELS_DIR", str(settings.models_dir))
    if settings.database_url:
        monkeypatch.setenv("TAGLOOP_DATABASE_URL", settings.database_url)
    return settings


@contextmanager
def database(settings: Settings) -> Iterator[Session]:
    engine = make_engine(settings.sqlalchemy_url())
    try:
        with Session(engine) as db:
            yield db
    finally:
        engine.dispose()


def add(name: str, role: str, capsys: pytest.CaptureFixture[str], password: str | None = None) -> str:
    argv = ["users", "add", name, "--role", role]
    if password is not None:
        argv.append("--password-stdin")
    assert main(argv) == 0
    return capsys.readouterr().out.splitlines()[-1]


def test_add_prints_the_token_alone_on_its_last_line_and_stores_only_hashes(
    cli_env: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    token = add("alice", "annotator", capsys, password="correct horse battery")
    assert token.startswith("tl_") and " " not in token and len(token) > 40
    with database(cli_env) as db:
        user = db.scalar(select(User).where(User.name == "alice"))
        secrets = [c.secret_hash for c in db.scalars(select(Credential)).all()]
        assert user is not None and user.role == "annotator"
        assert user.password_hash is not None and user.password_hash.startswith("$argon2")
        assert "correct horse" not in user.password_hash
        assert secrets and all(s.startswith("$argon2") and token.split("_", 2)[2] not in s for s in secrets)
        assert users.identify(db, token) == users.Caller("alice", "annotator")
        assert users.identify(db, token[:-2] + "xx") is None
        assert users.login(db, "alice", "correct horse battery")[1].name == "alice"
        with pytest.raises(users.BadLoginError):
            users.login(db, "alice", "wrong password")


def test_list_remove_and_a_second_user_of_one_name(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["users", "list"]) == 0
    assert "single-user mode" in capsys.readouterr().out
    token = add("boss", "admin", capsys)
    add("ann", "annotator", capsys)
    assert main(["users", "add", "ann", "--role", "admin"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert main(["users", "list"]) == 0
    listed = capsys.readouterr().out
    assert "boss" in listed and "admin" in listed and "ann" in listed and "annotator" in listed
    assert token not in listed
    assert main(["users", "remove", "boss"]) == 0
    with database(cli_env) as db:
        assert users.identify(db, token) is None, "a removed user's token still works"
        assert users.team_mode(db)
    assert main(["users", "remove", "ann"]) == 0
    assert "single-user mode again" in capsys.readouterr().out
    assert main(["users", "remove", "nobody"]) == 2
