"""The `Server-Timing` header of /predict and /batch_predict: where a request's time went.

`ServerTimingMiddleware` starts a `ServerTiming` when a request comes in and writes it,
with `total` (arrival to response headers), into the reply's headers; the code that
serves the request adds its phases (time.perf_counter, no locks) as it goes. A phase with
a `desc` ran beside others (e.g. storing the upload during the forward pass), so only the
phases without one add up, to no more than `total`.
"""

import re
import time
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SCOPE_KEY = "server_timing"
"""Where the middleware keeps a request's ServerTiming in `scope["state"]` (request.state)."""

_METRIC = re.compile(r'^\s*([\w-]+)\s*(?:;\s*dur=([0-9.]+))?\s*(?:;\s*desc="?([^";]*)"?)?\s*$')


@dataclass(frozen=True)
class Phase:
    name: str
    ms: float
    desc: str | None = None
    """Set on a phase that overlaps others: it is not part of the sequential sum."""


@dataclass
class ServerTiming:
    started: float = field(default_factory=time.perf_counter)
    phases: list[Phase] = field(default_factory=list)
    mark: float = field(init=False)
    """End of the last sequential phase: the next one starts here."""

    def __post_init__(self) -> None:
        self.mark = self.started

    def lap(self, name: str) -> None:
        """A sequential phase from the end of the previous one (or the arrival) to now."""
        now = time.perf_counter()
        self.phases.append(Phase(name, (now - self.mark) * 1e3))
        self.mark = now

    def add(self, name: str, seconds: float, desc: str | None = None) -> None:
        """A phase measured elsewhere (in the batcher, in a worker thread)."""
        self.phases.append(Phase(name, seconds * 1e3, desc))

    def header(self) -> str:
        total = (time.perf_counter() - self.started) * 1e3
        return ", ".join(_metric(p) for p in [*self.phases, Phase("total", total)])


def _metric(phase: Phase) -> str:
    text = f"{phase.name};dur={phase.ms:.2f}"
    return text if phase.desc is None else f'{text};desc="{phase.desc}"'


def parse_server_timing(value: str) -> list[Phase]:
    """The phases of a `Server-Timing` header (ValueError if one does not parse)."""
    phases = []
    for item in value.split(","):
        match = _METRIC.match(item)
        if match is None or match.group(2) is None:
            raise ValueError(f"not a Server-Timing metric with a duration: {item!r}")
        phases.append(Phase(match.group(1), float(match.group(2)), match.group(3)))
    return phases


class ServerTimingMiddleware:
    """Times the requests to `paths` and adds their `Server-Timing` header (errors too)."""

    def __init__(self, app: ASGIApp, *, paths: tuple[str, ...]):
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        timing = ServerTiming()
        scope.setdefault("state", {})[SCOPE_KEY] = timing

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", timing.header().encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_timing)


def timing_of(state: object) -> ServerTiming:
    """A request's ServerTiming (a detached one when the middleware is not installed)."""
    timing = getattr(state, SCOPE_KEY, None)
    return timing if isinstance(timing, ServerTiming) else ServerTiming()
