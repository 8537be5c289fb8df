"""Sign-in attempts, limited: after `attempts` failures within `window_s` for one user name
or from one address, further attempts are refused (429, `too_many_logins`) until the
oldest failure leaves the window; a success clears the name's count. In this process's
memory (one training API per data volume natively; with several replicas each counts its own).
"""

import threading
import time
from collections import deque

from tagloop.errors import TagloopError


class TooManyLoginsError(TagloopError):
    """Too many failed sign-ins for this name or address (429); `retry_after` in seconds."""

    code = "too_many_logins"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class LoginLimiter:
    def __init__(self, *, attempts: int = 5, window_s: float = 300.0):
        self.attempts = attempts
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                recent = self._recent(key, now)
                if len(recent) >= self.attempts:
                    wait = int(recent[0] + self.window_s - now) + 1
                    raise TooManyLoginsError(
                        f"too many failed sign-ins; try again in {wait} s", retry_after=wait
                    )

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        found = self._failures.setdefault(key, deque())
        while found and found[0] <= now - self.window_s:
            found.popleft()
        return found
