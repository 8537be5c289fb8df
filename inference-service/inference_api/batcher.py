"""The dynamic batcher: runner threads run the forward passes, gathering concurrent requests.

Requests are decoded in the thread pool, then queued here. A runner thread takes the
first job and, while requests are still being decoded (`expecting()`), waits up to
`max_wait_s` for them, then runs everything gathered (up to `max_batch` images) as one
pass, the way Triton's dynamic batcher does. With a single client nothing is being
decoded at that moment, so nothing waits.

`runners` threads take jobs from the one queue: on two cores two single-threaded passes
side by side give more images/s than one pass using both cores (docs/ARCHITECTURE.md,
"Serving engine"), and the per-image cost of a pass grows past a batch of ~4 on this CPU
(cache), so batches stay small.

A job may pin a model (a /batch_predict keeps one version across its chunks); unpinned
jobs run on whatever `slot.current` is when the pass starts.

When no job has come for `idle_trim_s` after a pass, the runner that notices hands the C
heap's free memory back to the system (tagloop.heap): a pass's activations and the
images are freed into glibc's per-thread arenas, which keep them, and RSS after a burst of
large batches stayed ~200 MB above what the model needs (docs/ARCHITECTURE.md, "Serving engine").
"""

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from tagloop.heap import trim_heap

from inference_api.engine import Batch, ModelSlot, ServedModel, as_batch, batch_rows, concat_batches

log = logging.getLogger(__name__)


class Result(NamedTuple):
    """One job's answer, and how long it took (for the Server-Timing header)."""

    version: int
    scores: np.ndarray
    """(N, 20) probabilities."""
    queued_s: float
    """From `submit` to the start of the pass that took the job."""
    forward_s: float
    """That whole pass, which may have run other requests' images too."""
    pass_images: int


@dataclass(eq=False)
class _Job:
    images: Batch
    model: ServedModel | None
    future: Future[Result] = field(default_factory=Future)
    submitted: float = field(default_factory=time.perf_counter)

    @property
    def rows(self) -> int:
        return batch_rows(self.images)


_STOP = _Job(images={}, model=None)


class DynamicBatcher:
    def __init__(
        self,
        *,
        slot: ModelSlot,
        max_batch: int,
        max_wait_s: float,
        runners: int = 1,
        observe: Callable[[int], None] = lambda n: None,
        idle_trim_s: float | None = None,
        trim: Callable[[], object] = trim_heap,
    ):
        self.slot = slot
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.observe = observe
        self.idle_trim_s = idle_trim_s
        self._trim = trim
        self._untrimmed = False  # a pass ran since the last trim
        self._queue: queue.Queue[_Job] = queue.Queue()
        self._decoding = 0
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, name=f"batcher-{i}", daemon=True) for i in range(runners)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        for _ in self._threads:
            self._queue.put(_STOP)
        for thread in self._threads:
            thread.join(timeout=10)

    @contextlib.contextmanager
    def expecting(self) -> Iterator[None]:
        """Wrap the decoding of a request that will be submitted: the runner waits for it."""
        with self._lock:
            self._decoding += 1
        try:
            yield
        finally:
            with self._lock:
                self._decoding -= 1

    def submit(self, images: np.ndarray | Batch, *, model: ServedModel | None = None) -> Future[Result]:
        """Queue images ((N, H, W, 3), or one array per input size); the future gives
        (version, (N, 20) scores)."""
        job = _Job(images=as_batch(images), model=model)
        self._queue.put(job)
        return job.future

    # -- the runner threads --------------------------------------------------------

    def _run(self) -> None:
        carry: _Job | None = None
        while True:
            first = carry if carry is not None else self._next_job()
            if first is _STOP:
                return
            jobs, carry = self._gather(first)
            self._run_pass(jobs)
            # Drop the references before blocking on the queue again: an idle runner must
            # not keep a retired model (pinned by a job) alive, nor the images.
            del first, jobs

    def _next_job(self) -> _Job:
        """The next job; if none comes within idle_trim_s after a pass, trim the heap first."""
        if self.idle_trim_s is None:
            return self._queue.get()
        try:
            return self._queue.get(timeout=self.idle_trim_s)
        except queue.Empty:
            with self._lock:
                untrimmed, self._untrimmed = self._untrimmed, False
            if untrimmed:
                self._trim()
            return self._queue.get()

    def _gather(self, first: _Job) -> tuple[list[_Job], _Job | None]:
        """`first` plus whatever joins it within the wait; returns the job left over, if any."""
        jobs, rows = [first], first.rows
        deadline = time.monotonic() + self.max_wait_s
        while rows < self.max_batch and first.model is None:
            timeout = deadline - time.monotonic() if self._decoding else 0.0
            try:
                job = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
            except queue.Empty:
                return jobs, None
            if job is _STOP or job.model is not None or rows + job.rows > self.max_batch:
                return jobs, job
            jobs.append(job)
            rows += job.rows
        return jobs, None

    def _run_pass(self, jobs: list[_Job]) -> None:
        started = time.perf_counter()
        try:
            model = jobs[0].model or self.slot.require()
            batch = concat_batches([j.images for j in jobs])
            scores = model.run(batch)
        except Exception as exc:
            for job in jobs:
                job.future.set_exception(exc)
            return
        forward_s = time.perf_counter() - started
        self._untrimmed = True
        self.observe(len(scores))
        start = 0
        for job in jobs:
            rows = scores[start : start + job.rows]
            job.future.set_result(
                Result(model.version, rows, started - job.submitted, forward_s, len(scores))
            )
            start += job.rows
