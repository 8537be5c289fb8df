"""The one JSON error shape of every tagloop service: {"success": false, "error": "..."}.

Both services install these handlers in their app factory; a domain error class is mapped
to its HTTP status once, here or by the service, never in route handlers.
"""

import logging
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from tagloop.errors import NoActiveVersionError, NotAuthorizedError, TagloopError, VersionNotFoundError

log = logging.getLogger(__name__)

DEFAULT_STATUS: dict[type[Exception], int] = {
    VersionNotFoundError: 404,
    NoActiveVersionError: 503,
    NotAuthorizedError: 401,
}


class ErrorBody(BaseModel):
    """The one error shape of every tagloop service."""

    success: Literal[False] = False
    error: str
    code: str | None = None


ERROR_MEANINGS = {
    400: "the request or its image cannot be read",
    401: "the admin token is needed",
    404: "no such thing",
    409: "conflicts with the current state",
    413: "too large",
    403: "refused: a cross-site request",
    415: "not a supported image type, or not JSON",
    422: "invalid input",
    503: "a dependency (model, Redis, database) is not available",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` declaring these statuses with the one error shape.

    Declaring 422 here also replaces FastAPI's own `{"detail": [...]}` schema, which
    this service never sends.
    """
    return {status: {"model": ErrorBody, "description": ERROR_MEANINGS[status]} for status in statuses}


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None, code: str | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"success": False, "error": message}
    if code:
        body["code"] = code
    return JSONResponse(body, status_code=status, headers=headers)


def describe_validation_error(exc: RequestValidationError) -> str:
    """Turn pydantic's error list into one sentence a person can act on."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "form"))
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else err.get("msg", "invalid"))
    return "invalid request: " + "; ".join(parts)


def install_error_handlers(app: FastAPI, status_by_error: dict[type[Exception], int]) -> None:
    """Map TagloopError subclasses to statuses (most specific class wins) and wrap the rest."""
    table = {**DEFAULT_STATUS, **status_by_error}

    async def on_domain_error(request: Request, exc: Exception) -> JSONResponse:
        for cls in type(exc).__mro__:
            if cls in table:
                status = table[cls]
                headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
                return error_response(status, str(exc), headers, getattr(exc, "code", None))
        return error_response(400, str(exc), code=getattr(exc, "code", None))

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(422, describe_validation_error(exc))

    async def on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error; the service log has the details")

    app.add_exception_handler(TagloopError, on_domain_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected_error)
