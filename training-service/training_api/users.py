"""Users of a team: create, list, remove; who is asking (API token or UI login).

A credential's secret is shown once (an API token when the user is made, a login cookie
at sign-in) and stored as its argon2 hash, like passwords. A presented credential reads
`tl_<id>_<secret>`: the id finds its row, argon2 checks the secret. argon2 is slow on
purpose (tens of milliseconds); a secret it accepted is remembered in this process for
`VERIFIED_TTL_S` as its SHA-256 (a digest of 32 random bytes cannot be guessed back),
while the row and its user are read on every request, so a removed user is refused at once.
"""

import functools
import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session
from tagloop.errors import TagloopError

from training_api.db import Credential, User

ROLES = ("admin", "annotator")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
LOGIN_TTL = timedelta(hours=12)
"""How long a UI login lasts; the cookie's Max-Age says the same."""
VERIFIED_TTL_S = 60.0
PREFIX = "tl"

_hasher = PasswordHasher()
_verified: dict[str, tuple[int, float]] = {}
"""SHA-256 of a presented secret -> (credential id, monotonic time it was checked)."""


class UserExistsError(TagloopError):
    """A user of that name exists already (409)."""

    code = "user_exists"


class UnknownUserError(TagloopError):
    """No user has that name (404)."""

    code = "unknown_user"


class InvalidUserError(TagloopError):
    """A name or a role a user cannot have (422)."""

    code = "invalid_user"


class BadLoginError(TagloopError):
    """Wrong name or password at sign-in (401)."""

    code = "bad_login"


@dataclass(frozen=True)
class Caller:
    """Who a request comes from. name None: single-user mode or the admin token."""

    name: str | None
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


SINGLE_USER = Caller(name=None, role="admin")


def team_mode(db: Session) -> bool:
    """True as soon as one user exists."""
    return bool(db.scalar(select(exists().where(User.id.is_not(None)))))


def _new_secret(db: Session, user: User, kind: str, expires: datetime | None) -> str:
    secret = secrets.token_urlsafe(32)
    row = Credential(user_id=user.id, kind=kind, secret_hash=_hasher.hash(secret), expires=expires)
    db.add(row)
    db.flush()
    return f"{PREFIX}_{row.id}_{secret}"


def add_user(db: Session, name: str, role: str, password: str | None = None) -> str:
    """Create a user; returns their API token (shown once, stored hashed)."""
    if not NAME.match(name):
        raise InvalidUserError(
            "a user name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    if role not in ROLES:
        raise InvalidUserError(f"a role is one of: {', '.join(ROLES)}")
    if password is not None and len(password) < 8:
        raise InvalidUserError("a password has at least 8 characters")
    if db.scalar(select(User).where(User.name == name)) is not None:
        raise UserExistsError(f"a user named {name!r} exists already")
    user = User(name=name, role=role, password_hash=_hasher.hash(password) if password else None)
    db.add(user)
    db.flush()
    token = _new_secret(db, user, "token", None)
    db.commit()
    return token


def list_users(db: Session) -> list[User]:
    return list(db.scalars(select(User).order_by(User.name)).all())


def remove_user(db: Session, name: str) -> None:
    """Delete a user and every credential of theirs (their corrections keep their name)."""
    user = db.scalar(select(User).where(User.name == name))
    if user is None:
        raise UnknownUserError(f"no user is named {name!r}")
    db.execute(delete(Credential).where(Credential.user_id == user.id))
    db.delete(user)
    db.commit()
    _verified.clear()


def login(db: Session, name: str, password: str) -> tuple[str, Caller]:
    """A new UI login's secret (for the cookie) for a right name and password."""
    user = db.scalar(select(User).where(User.name == name))
    stored = user.password_hash if user is not None else None
    if user is None or stored is None:
        _matches(_dummy_hash(), password)  # as long as a wrong password: no telling which names exist
        raise BadLoginError("wrong name or password")
    if not _matches(stored, password):
        raise BadLoginError("wrong name or password")
    secret = _new_secret(db, user, "login", datetime.now(UTC) + LOGIN_TTL)
    db.commit()
    return secret, Caller(user.name, user.role)


def logout(db: Session, presented: str) -> None:
    """Forget one UI login (its cookie no longer works)."""
    credential_id = _credential_id(presented)
    if credential_id is not None:
        db.execute(delete(Credential).where(Credential.id == credential_id, Credential.kind == "login"))
        db.commit()


def identify(db: Session, presented: str | None) -> Caller | None:
    """The user behind a presented token or login secret, or None."""
    credential_id = _credential_id(presented)
    if presented is None or credential_id is None:
        return None
    found = db.execute(
        select(Credential, User)
        .join(User, User.id == Credential.user_id)
        .where(Credential.id == credential_id)
    ).first()
    if found is None:
        return None
    credential, user = found
    if credential.expires is not None and _aware(credential.expires) < datetime.now(UTC):
        return None
    secret = presented.split("_", 2)[2]
    digest = hashlib.sha256(presented.encode()).hexdigest()
    seen = _verified.get(digest)
    if seen is None or seen[0] != credential.id or time.monotonic() - seen[1] > VERIFIED_TTL_S:
        if not _matches(credential.secret_hash, secret):
            return None
        _verified[digest] = (credential.id, time.monotonic())
    return Caller(user.name, user.role)


def _credential_id(presented: str | None) -> int | None:
    parts = (presented or "").strip().split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1].isdigit() or len(parts[1]) > 9:
        return None
    return int(parts[1])


def _matches(stored: str, given: str) -> bool:
    try:
        return _hasher.verify(stored, given)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def _aware(moment: datetime) -> datetime:
    """SQLite gives naive datetimes back; they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
