"""Refuse cross-site and non-JSON requests that would change state, before any route runs.

A web page the user visits can make their browser send a form POST to tagloop (the gateway
answers on localhost or the LAN, and without a token nothing else stops it): such a "simple"
request needs no CORS preflight, so the server itself must refuse it. Browsers say where a
request comes from: `Sec-Fetch-Site` (every current browser) and `Origin` (on every POST).

- A state-changing request (not GET/HEAD/OPTIONS) is refused with 403 when Sec-Fetch-Site
  is present and is neither "same-origin" nor "none" (typed by the user), or, from a
  browser too old to send it, when Origin names another host than the one the request was
  sent to (the Host header, which the gateway passes on as the client sent it). An Origin
  listed in TAGLOOP_ALLOWED_ORIGINS is always let through. Clients that are not browsers
  (curl, scripts) send neither header and are not affected; the admin token stops them.
- JSON routes take JSON only: a state-changing request to any path outside `form_paths`
  with a body or a Content-Type other than application/json gets 415. HTML forms cannot
  send application/json, so this closes the same door a second time.

Pure ASGI, like the services' other middlewares, so nothing is read from the body.

`BodySizeLimitMiddleware` bounds request bodies before any parser (multipart or JSON) reads
them: a declared Content-Length over the limit is refused at once; a body without one
(chunked) is counted while it streams; past the limit reading stops, and whatever the app
then tries to answer is replaced by the 413 (FastAPI turns a failed body read into a 400).
A path can have its own limit (the training API's model import).

`AdminPathGuard` checks that a request to a path that needs an admin (the model import)
comes from one, from its headers, before the body is read: a route's own dependency runs only
after FastAPI has read and spooled the whole multipart body.
"""

import json
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tagloop.errors import NotAuthorizedError, RoleRefusedError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SAME_SITE_FETCH = frozenset({"same-origin", "none"})
DEFAULT_PORTS = {"http": "80", "https": "443"}
BEARER_CHALLENGE = [(b"www-authenticate", b"Bearer")]


class RequestGuardMiddleware:
    def __init__(self, app: ASGIApp, *, form_paths: Iterable[str] = (), allowed_origins: Iterable[str] = ()):
        self.app = app
        self.form_paths = frozenset(form_paths)
        self.allowed_origins = frozenset(_origin_key(o) for o in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        refusal = self._cross_site(headers) or self._not_json(scope["path"], headers)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, code, message = refusal
        await _send_error(send, status, code, message)

    def _cross_site(self, headers: dict[str, str]) -> tuple[int, str, str] | None:
        fetch_site = headers.get("sec-fetch-site")
        origin = headers.get("origin")
        if origin is not None and _origin_key(origin) in self.allowed_origins:
            return None
        if fetch_site is not None:
            # Set by the browser itself, never by a page: the better witness when present.
            return None if fetch_site in SAME_SITE_FETCH else _CROSS_SITE
        if origin is not None and _origin_key(origin) != _host_key(headers.get("host", ""), origin):
            return _CROSS_SITE
        return None

    def _not_json(self, path: str, headers: dict[str, str]) -> tuple[int, str, str] | None:
        if path in self.form_paths:
            return None
        content_type = headers.get("content-type")
        if content_type is None:
            has_body = headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in headers
            return _NOT_JSON if has_body else None
        media = content_type.split(";", 1)[0].strip().lower()
        if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
            return None
        return _NOT_JSON


_CROSS_SITE = (
    403,
    "cross_site_request",
    "refused: this request came from another web site (Origin / Sec-Fetch-Site); "
    "use tagloop's own page, or add that site to TAGLOOP_ALLOWED_ORIGINS",
)
_NOT_JSON = (415, "json_required", "this route takes a JSON body: send Content-Type: application/json")


def _headers(scope: Scope) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}


def _origin_key(origin: str) -> str:
    """scheme-free host:port of an Origin, with the scheme's default port made explicit."""
    parts = urlsplit(origin.strip().lower())
    if not parts.scheme or not parts.hostname:
        return "\0invalid"  # "null" (sandboxed frames, file://) matches nothing
    port = str(parts.port) if parts.port else DEFAULT_PORTS.get(parts.scheme, "")
    return f"{parts.hostname}:{port}"


def _host_key(host: str, origin: str) -> str:
    """The Host header as _origin_key writes it, a missing port taken from the Origin's scheme."""
    scheme = urlsplit(origin.strip().lower()).scheme or "http"
    return _origin_key(f"{scheme}://{host.strip()}") if host.strip() else "\0nohost"


async def _send_error(
    send: Send, status: int, code: str, message: str, *, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"success": False, "error": message, "code": code}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    """Raised into the app when a streamed body passes the limit."""


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int, path_limits: Mapping[str, int] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = dict(path_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.path_limits.get(scope["path"], self.max_bytes)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse_too_large(send, limit)
            return
        state = {"read": 0, "over": False, "started": False}

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["read"] += len(message.get("body", b""))
                if state["read"] > limit:
                    state["over"] = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            if state["over"]:
                if message["type"] == "http.response.start" and not state["started"]:
                    state["started"] = True
                    await _refuse_too_large(send, limit)
                return
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            if not state["started"]:
                await _refuse_too_large(send, limit)


async def _refuse_too_large(send: Send, limit: int) -> None:
    body = json.dumps(
        {
            "success": False,
            "error": f"the request body is larger than {limit / (1024 * 1024):g} MiB",
            "code": "too_large",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class AdminPathGuard:
    """401 (`not_authorized`) or 403 (`admin_only`) for a state-changing request to one of
    `paths` that `check` refuses from its headers alone (it raises NotAuthorizedError or
    RoleRefusedError); every other request passes."""

    def __init__(self, app: ASGIApp, *, paths: Iterable[str], check: Callable[[dict[str, str]], None]):
        self.app = app
        self.paths = frozenset(paths)
        self.check = check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS and scope["path"] in self.paths:
            try:
                self.check(_headers(scope))
            except NotAuthorizedError as exc:
                await _send_error(
                    send, 401, "not_authorized", str(exc), extra=[(b"www-authenticate", b"Bearer")]
                )
                return
            except RoleRefusedError as exc:
                await _send_error(send, 403, exc.code or "admin_only", str(exc))
                return
        await self.app(scope, receive, send)
