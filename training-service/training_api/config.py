"""Settings of the training API and its worker (TAGLOOP_* environment variables)."""

from pydantic import Field
from tagloop.settings import CommonSettings


class Settings(CommonSettings):
    database_url: str | None = None
    """SQLAlchemy URL of the corrections database; default: sqlite file <data_dir>/tagloop.db."""

    queue_name: str = "tagloop-training"
    """RQ queue that carries retrain jobs."""

    health_timeout: float = 1.0
    """Seconds /health/system waits for inference's /health."""

    job_timeout: int = 900
    """Seconds a retrain job may run before RQ kills it."""

    job_result_ttl: int = 7 * 24 * 3600
    """Seconds RQ keeps a finished (or failed) job and its result, so the UI can show it."""

    retrain_epochs: int = Field(default=100, ge=1, le=1000)
    """Most epochs of a retrain; training stops earlier once every corrected label fits."""

    learning_rate: float = Field(default=2e-3, gt=0, le=1)
    """Adam's learning rate. The original 1e-5 did not move the loss (docs/ARCHITECTURE.md,
    "Fine-tuning"). 2e-3 rather than Adam's usual 1e-3: 20 corrections were learned in 13-15 epochs instead of
    20-26, and images nobody corrected moved less (mean |dp| 0.016 against 0.024)."""

    batch_size: int = Field(default=16, ge=1)
    focal_gamma: float = 2.0
    focal_alpha: float = Field(default=0.25, ge=0, le=1)

    fit_margin: float = Field(default=0.1, ge=0, lt=0.5)
    """Early stop when every training label is on its side of 0.5 by this margin."""

    holdout_modulus: int = Field(default=5, ge=2)
    """An image is held out for the gate when int(sha256[:8], 16) % holdout_modulus == 0."""

    min_holdout: int = Field(default=5, ge=1)
    """Fewest held-out corrections for a held-out gate; below it the gate uses every correction."""

    gate_tolerance: float = Field(default=0.02, ge=0)
    """A candidate is promoted when its log-loss <= the active one's * (1 + tolerance)."""

    auto_retrain_after: int = Field(default=0, ge=0)
    """Enqueue a retrain after this many new corrections (0 = off)."""

    max_import_bytes: int = 512 * 1024 * 1024
    """Largest model file POST /models/import accepts."""

    worker_heartbeat: int = Field(default=5, ge=1)
    """Seconds between a busy worker's heartbeats; a job is abandoned after 3 missed ones."""

    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'tagloop.db'}"
