"""Clients that call /predict (and save corrections) in a loop while something changes under them."""

import itertools
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx


class Looping:
    """`n` threads running `_loop` from the start of a `with` block until its end."""

    join_timeout = 30.0

    def _threads(self, n: int) -> None:
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(n)]

    def _loop(self) -> None:
        raise NotImplementedError

    def __enter__(self):  # type: ignore[no-untyped-def]  # the subclass itself
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=self.join_timeout)


@dataclass
class Answer:
    started: float
    status: int
    version: int | None


class Clients(Looping):
    """`n` threads calling /predict in a loop until stopped; every answer is recorded.

    Each client sends at most one request per `interval` seconds: together they stay under
    the gateway's per-address rate limit (30 r/s), which would otherwise answer 429.
    """

    def __init__(self, url: str, image: bytes, n: int = 4, interval: float = 0.2):
        self.url, self.image, self.interval = url, image, interval
        self.answers: list[Answer] = []
        self._threads(n)

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


@dataclass
class Saved:
    """A correction the training service acknowledged with 200."""

    correction_id: int
    image_id: str
    labels: list[str]


class PredictAndSave(Looping):
    """`n` threads that each upload a new photo through /predict and save a correction of
    it, in a loop until stopped: every failed request is counted with its time, every
    acknowledged correction kept to check later that it was stored unchanged."""

    LABEL_SETS = (["cat"], ["dog", "person"], ["sheep"], ["car"], ["bird", "boat"])
    join_timeout = 60.0

    def __init__(self, url: str, photo: Callable[[int], bytes], n: int = 2, interval: float = 0.25):
        self.url, self.photo, self.interval = url, photo, interval
        self.saved: list[Saved] = []
        self.failures: list[tuple[float, str]] = []
        self.successes = 0
        self._seed = itertools.count(random.Random().randrange(10**9))
        self._threads(n)

    def failed_between(self, start: float, end: float) -> int:
        return sum(1 for moment, _ in self.failures if start <= moment <= end)

    def _loop(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                started = time.monotonic()
                seed = next(self._seed)
                self._round(client, seed)
                self.stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def _round(self, client: httpx.Client, seed: int) -> None:
        try:
            reply = client.post("/predict", files={"file": (f"p{seed}.jpg", self.photo(seed), "image/jpeg")})
        except httpx.HTTPError as exc:
            self.failures.append((time.monotonic(), f"predict: {exc!r}"))
            return
        if reply.status_code != 200:
            self.failures.append((time.monotonic(), f"predict: {reply.status_code} {reply.text[:200]}"))
            return
        self.successes += 1
        labels = self.LABEL_SETS[seed % len(self.LABEL_SETS)]
        image_id = reply.json()["image_id"]
        try:
            saved = client.post("/save_correction", json={"image_id": image_id, "corrected_labels": labels})
        except httpx.HTTPError as exc:
            self.failures.append((time.monotonic(), f"save: {exc!r}"))
            return
        if saved.status_code != 200:
            self.failures.append((time.monotonic(), f"save: {saved.status_code} {saved.text[:200]}"))
            return
        self.successes += 1
        self.saved.append(Saved(saved.json()["correction"]["id"], image_id, labels))


def lost_corrections(client: httpx.Client, saved: list[Saved]) -> list[Saved]:
    """The acknowledged corrections that are not stored, or stored with other labels."""
    lost = []
    for correction in saved:
        reply = client.get(f"/corrections/{correction.image_id}")
        stored = {c["id"]: sorted(c["corrected_labels"]) for c in reply.json().get("corrections", [])}
        if stored.get(correction.correction_id) != sorted(correction.labels):
            lost.append(correction)
    return lost
