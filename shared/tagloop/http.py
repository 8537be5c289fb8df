"""The one JSON error shape of every tagloop service: {"success": false, "error": "...", "code": "..."}.

`error` is a sentence for a person (English); `code` is stable, for programs and for the
UI's translations: a domain error's `code` attribute, else its class name in snake case
without "Error" (UnknownImageError -> "unknown_image"); an HTTP error's status name.

Both services install these handlers in their app factory; a domain error class is mapped
to its HTTP status once, here or by the service, never in route handlers.
"""

import logging
import re
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from tagloop.disk import disk_full_error, is_disk_full
from tagloop.errors import (
    DiskFullError,
    NoActiveVersionError,
    NotAuthorizedError,
    RoleRefusedError,
    TagloopError,
    VersionNotFoundError,
)

log = logging.getLogger(__name__)

DEFAULT_STATUS: dict[type[Exception], int] = {
    VersionNotFoundError: 404,
    NoActiveVersionError: 503,
    NotAuthorizedError: 401,
    RoleRefusedError: 403,
    DiskFullError: 507,
}


class ErrorBody(BaseModel):
    """The one error shape of every tagloop service."""

    success: Literal[False] = False
    error: str
    code: str


ERROR_MEANINGS = {
    400: "the request or its image cannot be read",
    401: "a token or a sign-in is needed (the admin token, or a user's in team mode)",
    404: "no such thing",
    409: "conflicts with the current state",
    413: "too large",
    403: "refused: a cross-site request, or a role that may not do this (team mode)",
    415: "not a supported image type, or not JSON",
    422: "invalid input",
    429: "too many attempts: wait (Retry-After) and try again",
    503: "a dependency (model, Redis, database) is not available",
    507: "the data volume is full: nothing was stored",
}


STATUS_CODES = {
    400: "bad_request",
    401: "token_required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_type",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
    504: "timed_out",
    507: "disk_full",
}
"""The `code` of an error that is only an HTTP status (no domain error behind it)."""


def error_code(exc: BaseException) -> str:
    """The stable code of a domain error: its `code` attribute, else its snake-cased class name."""
    explicit = getattr(type(exc), "code", None)
    if isinstance(explicit, str) and explicit:
        return explicit
    name = type(exc).__name__.removesuffix("Error") or "error"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def status_code_name(status: int) -> str:
    return STATUS_CODES.get(status, "bad_request" if status < 500 else "internal")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` declaring these statuses with the one error shape.

    Declaring 422 here also replaces FastAPI's own `{"detail": [...]}` schema, which
    this service never sends.
    """
    return {status: {"model": ErrorBody, "description": ERROR_MEANINGS[status]} for status in statuses}


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None, *, code: str | None = None
) -> JSONResponse:
    body = {"success": False, "error": message, "code": code or status_code_name(status)}
    return JSONResponse(body, status_code=status, headers=headers)


def describe_validation_error(exc: RequestValidationError) -> str:
    """Turn pydantic's error list into one sentence a person can act on."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "form"))
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else err.get("msg", "invalid"))
    return "invalid request: " + "; ".join(parts)


def _volume_path(request: Request, exc: BaseException) -> Path:
    """The file the refused write was for, else the service's data dir."""
    filename = getattr(exc, "filename", None)
    if isinstance(filename, str | Path):
        return Path(filename)
    settings = getattr(request.app.state, "settings", None)
    return Path(getattr(settings, "data_dir", "."))


def install_error_handlers(app: FastAPI, status_by_error: dict[type[Exception], int]) -> None:
    """Map TagloopError subclasses to statuses (most specific class wins) and wrap the rest."""
    table = {**DEFAULT_STATUS, **status_by_error}

    async def on_domain_error(request: Request, exc: Exception) -> JSONResponse:
        for cls in type(exc).__mro__:
            if cls in table:
                status = table[cls]
                headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
                retry_after = getattr(exc, "retry_after", None)
                if retry_after is not None:
                    headers["Retry-After"] = str(retry_after)
                return error_response(status, str(exc), headers, code=error_code(exc))
        return error_response(400, str(exc), code=error_code(exc))

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(422, describe_validation_error(exc), code="invalid_request")

    async def on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        # A write refused for lack of space, wherever it happened (an upload, SQLite,
        # a publish): the person can act on it, so it is no "internal error".
        if is_disk_full(exc):
            log.error("%s %s: the disk is full: %s", request.method, request.url.path, exc)
            full = disk_full_error(_volume_path(request, exc))
            return error_response(507, str(full), code=error_code(full))
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error; the service log has the details")

    app.add_exception_handler(TagloopError, on_domain_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected_error)
