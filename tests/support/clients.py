"""Clients that call /predict in a loop while something changes under them."""

import threading
import time
from dataclasses import dataclass

import httpx


@dataclass
class Answer:
    started: float
    status: int
    version: int | None


class Clients:
    """`n` threads calling /predict in a loop until stopped; every answer is recorded.

    Each client sends at most one request per `interval` seconds: together they stay under
    the gateway's per-address rate limit (30 r/s), which would otherwise answer 429.
    """

    def __init__(self, url: str, image: bytes, n: int = 4, interval: float = 0.2):
        self.url, self.image, self.interval = url, image, interval
        self.answers: list[Answer] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(n)]

    def __enter__(self) -> "Clients":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)

    def _loop(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    reply = client.post("/predict", files={"file": ("x.jpg", self.image, "image/jpeg")})
                    version = reply.json().get("model_version") if reply.status_code == 200 else None
                    self.answers.append(Answer(started, reply.status_code, version))
                except httpx.HTTPError:
                    self.answers.append(Answer(started, 0, None))
                self.stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
