"""The one waiter of the tests: poll a condition instead of sleeping a fixed time."""

import time
from collections.abc import Callable

import httpx

# What a condition may raise while the thing it looks at is still starting or restarting.
TRANSIENT = (httpx.HTTPError, ValueError, KeyError)


def wait_until(
    condition: Callable[[], object], *, timeout: float, interval: float = 0.05, what: str = ""
) -> None:
    """Call `condition` until it returns something true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except TRANSIENT:
            pass
        if time.monotonic() >= deadline:
            raise AssertionError(f"not met after {timeout}s: {what or condition}")
        time.sleep(interval)
