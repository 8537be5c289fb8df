"""The corrections database (SQLAlchemy 2): the append-only corrections, and review sessions.

SQLite in the data volume by default, or PostgreSQL (postgresql+psycopg://...): the same
schema, made and changed by the Alembic migrations in migrations/ (training_api.migrate).
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    create_engine,
    event,
    text,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from training_api.migrate import migrate


def now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Correction(Base):
    """One correction of one image; never updated, the newest per image is the one used."""

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str | None] = mapped_column(String(255))
    corrected_labels: Mapped[list[str]] = mapped_column(JSON)
    model_version: Mapped[int | None] = mapped_column(Integer)
    threshold: Mapped[float | None] = mapped_column(Float)
    predicted: Mapped[Any] = mapped_column(JSON, nullable=True)
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """How it was made: None (one save), "review" (a review session's card), "bulk" (many cards at once),
    "resolved" (an admin's decision between annotators who disagreed)."""
    annotator: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    """The user who made it (team mode); None in single-user mode or with the admin token."""


class ReviewSession(Base):
    """A named set of uploaded images a person reviews one card at a time."""

    __tablename__ = "review_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    sort_order: Mapped[str] = mapped_column(String(16), default="uncertain")
    """"uncertain" (smallest margin to a threshold first), "upload" or "class"."""
    threshold: Mapped[float] = mapped_column(Float, default=0.5)
    """The threshold of classes the model has no threshold of its own for."""
    auto_retrain_after: Mapped[int] = mapped_column(Integer, default=0)
    """Start a retrain after this many saves in the session since the last one (0 = off)."""
    saves_since_retrain: Mapped[int] = mapped_column(Integer, default=0)
    annotators: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    """The users its photos are assigned to (team mode); None: anyone reviews every card."""
    overlap: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    """The fraction of its photos that goes to two annotators (the rest to one)."""
    resolves: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    """A session of disagreements (admins only): a card's save is the admin's resolution."""
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, onupdate=now)


class ReviewItem(Base):
    """One image of a session: its latest prediction and where the person is with it."""

    __tablename__ = "review_items"
    __table_args__ = (UniqueConstraint("session_id", "image_id", "annotator", name="uq_review_items_card"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("review_sessions.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[str] = mapped_column(String(64))
    annotator: Mapped[str] = mapped_column(String(64), default="", server_default="")
    """The user this card is assigned to; "" in a session assigned to no one (anyone's card)."""
    filename: Mapped[str | None] = mapped_column(String(255))
    position: Mapped[int] = mapped_column(Integer)
    """Upload order within the session (a photo's cards for two annotators share it)."""
    scores: Mapped[dict[str, float]] = mapped_column(JSON)
    thresholds: Mapped[dict[str, float] | None] = mapped_column(JSON, nullable=True)
    """Per-class thresholds of the model that scored it, when it has them."""
    model_version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """"pending", "saved" or "skipped"."""
    labels: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    """The labels saved for it (None until saved)."""
    correction_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The correction its save wrote; an undo deletes that one."""
    saved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    leased_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The browser (its client id) the card was handed out to, until `lease_until`."""
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class BulkChange(Base):
    """One bulk write on a session, kept so that one Undo can put every card back."""

    __tablename__ = "review_bulk_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("review_sessions.id", ondelete="CASCADE"), index=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    undone: Mapped[bool] = mapped_column(Boolean, default=False)
    cards: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """Per card: image_id; status, labels, correction_id and saved_at before; the correction written."""


class User(Base):
    """A person of a team; once one exists, every request needs one (team mode)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    """"admin" or "annotator"."""
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    """argon2 hash of the UI password; None: the user signs in with the API token only."""
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class Credential(Base):
    """A secret that says who is asking: an API token ("token") or a UI login ("login")."""

    __tablename__ = "credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(255))
    """argon2 hash of the secret; the secret itself is shown once and never stored."""
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def make_engine(url: str, *, migrated: bool = True) -> Engine:
    """An engine on a database at the newest schema (`migrated`); SQLite gets WAL and a
    busy timeout."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    if migrated:
        migrate(engine)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def sessions(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session:
        yield session


def database_ok(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
