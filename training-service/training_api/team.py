"""Who may do what, in both modes.

Single-user mode (no user exists): exactly as before the users, the optional admin token
(tagloop.access). Team mode (one user exists): every route but /health, /livez and the
sign-in needs a user, by `Authorization: Bearer <token>` or the UI's login cookie;
annotators may predict, review, save and undo their own corrections and export; the
rest (retrain, cancel, activate, import, users, resolving disagreements, assigning
sessions) needs an admin. TAGLOOP_ADMIN_TOKEN, when set, is an admin in both modes.
"""

import hmac
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie
from typing import Any

from sqlalchemy.orm import Session
from tagloop.access import check_bearer, check_open_action
from tagloop.errors import NotAuthorizedError, RoleRefusedError

from training_api.config import Settings
from training_api.users import SINGLE_USER, Caller, identify, team_mode

LOGIN_COOKIE = "tagloop_login"

NEEDS_USER = "sign in, or send your API token as 'Authorization: Bearer <token>' (team mode)"


def presented(authorization: str | None, login_cookie: str | None) -> str | None:
    """The credential a request carries: a Bearer token first, else the login cookie."""
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and given.strip():
        return given.strip()
    return login_cookie or None


def cookie_value(cookie_header: str | None) -> str | None:
    """The login cookie out of a raw Cookie header (middlewares have no parsed cookies)."""
    try:
        morsel = SimpleCookie(cookie_header or "").get(LOGIN_COOKIE)
    except CookieError:
        return None
    return morsel.value if morsel else None


def caller(
    db: Session, settings: Settings, authorization: str | None, login_cookie: str | None, *, admin: bool
) -> Caller:
    """The caller of a request that needs a user (`admin`: an admin), or the refusal."""
    if not team_mode(db):
        if admin:
            check_bearer(authorization, settings.admin_token)
        else:
            check_open_action(authorization, settings)
        return SINGLE_USER
    credential = presented(authorization, login_cookie)
    if credential is None:
        raise NotAuthorizedError(NEEDS_USER)
    if settings.admin_token is not None and hmac.compare_digest(
        credential.encode(), settings.admin_token.get_secret_value().encode()
    ):
        return SINGLE_USER
    found = identify(db, credential)
    if found is None:
        raise NotAuthorizedError("this token or sign-in is not (or no longer) valid: " + NEEDS_USER)
    if admin:
        require_admin_caller(found)
    return found


def require_admin_caller(found: Caller) -> None:
    """For routes whose admin need depends on the body (assigning, an automatic retrain)."""
    if not found.is_admin:
        raise RoleRefusedError(f"{found.name} is an annotator; this action needs an admin")


def admin_headers_check(app: Any, settings: Settings) -> Callable[[dict[str, str]], None]:
    """An admin check from a request's headers alone, for tagloop.request_guard.AdminPathGuard
    (the model import's token is checked before its body is read)."""

    def check(headers: dict[str, str]) -> None:
        with app.state.sessions() as db:
            login_cookie = cookie_value(headers.get("cookie"))
            caller(db, settings, headers.get("authorization"), login_cookie, admin=True)

    return check
