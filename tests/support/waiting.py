"""The one waiter of the tests: poll a condition instead of sleeping a fixed time."""

import time
from collections.abc import Callable
from typing import TypeVar

import httpx

# What a condition may raise while the thing it looks at is still starting or restarting.
TRANSIENT = (httpx.HTTPError, ValueError, KeyError)

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    *,
    timeout: float,
    interval: float = 0.05,
    what: str | Callable[[], str] = "",
    error: type[Exception] = AssertionError,
) -> T:
    """Call `condition` until it returns something true and return that; after `timeout`
    seconds raise `error` saying `what` was awaited (a callable is asked then, e.g. for the
    logs). A condition gives up at once by raising anything but a TRANSIENT error."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if result := condition():
                return result
        except TRANSIENT:
            pass
        if time.monotonic() >= deadline:
            said = what() if callable(what) else what
            raise error(f"not met after {timeout}s: {said or condition}")
        time.sleep(interval)
