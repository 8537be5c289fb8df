"""The training worker: `python -m training_api.worker`.

Runs an RQ SimpleWorker on the training queue and, beside it, imports TensorFlow and loads
the active version once. SimpleWorker does not fork, so TensorFlow, the traced graphs and
the last loaded model stay warm from one job to the next (forking after TensorFlow has
started its thread pools is also unsafe). The worker registers (and /health counts it)
before that warm-up ends, so a restarted worker is back in seconds, not in the ~20 s an
import of TensorFlow takes on a busy machine; a job that comes meanwhile waits for it.

A running job heartbeats from a side thread every `worker_heartbeat` seconds with a TTL
of three beats, so when the worker is killed its job leaves RQ's StartedJobRegistry as
"abandoned" (failed) within ~3 beats, on the next registry cleanup (GET /jobs runs one).
Publishing is atomic (the model store), so a killed job leaves no partial version.
"""

import logging
import threading

from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import Job
from tagloop.redis_auth import authenticated_url

from training_api.config import Settings
from training_api.jobs import preload

log = logging.getLogger("training_api.worker")


class TrainingWorker(SimpleWorker):
    heartbeat_interval: int = 5
    warmed: threading.Event | None = None
    """Set once the warm-up (TensorFlow, the active version) is done; jobs wait for it."""

    def get_heartbeat_ttl(self, job: Job) -> int:
        return 3 * self.heartbeat_interval

    def execute_job(self, job: Job, queue: Queue) -> None:
        done = threading.Event()
        beater = threading.Thread(target=self._beat, args=(job, done), name="job-heartbeat", daemon=True)
        beater.start()
        try:
            if self.warmed is not None:
                self.warmed.wait()
            super().execute_job(job, queue)
        finally:
            done.set()
            beater.join(timeout=5)

    def _beat(self, job: Job, done: threading.Event) -> None:
        while not done.wait(self.heartbeat_interval):
            try:
                self.maintain_heartbeats(job)
            except Exception as exc:  # the job may have just ended; the next beat decides
                log.debug("heartbeat of job %s skipped: %s", job.id, exc)


def warm_up() -> None:
    """Import TensorFlow and the training code now, not in the first job."""
    import tagloop.model.build
    import tagloop.model.publish
    import tagloop.training.fit  # noqa: F401
    import tensorflow  # noqa: F401


def _warm(settings: Settings, done: threading.Event) -> None:
    try:
        warm_up()
        preload(settings)
    finally:
        done.set()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    redis = Redis.from_url(authenticated_url(settings))
    queue = Queue(settings.queue_name, connection=redis)
    # A short TTL so that a killed idle worker drops out of Worker.all() (health) soon.
    worker = TrainingWorker([queue], connection=redis, worker_ttl=30)
    worker.heartbeat_interval = settings.worker_heartbeat
    worker.warmed = threading.Event()
    threading.Thread(target=_warm, args=(settings, worker.warmed), name="warm-up", daemon=True).start()
    log.info("worker %s listening on queue %s", worker.name, settings.queue_name)
    worker.work(with_scheduler=False)


if __name__ == "__main__":
    main()
