"""Settings of the training API and its worker (TAGLOOP_* environment variables)."""

from pathlib import Path

from pydantic import Field
from tagloop.settings import RetrainSettings
from tagloop.training.importer import ImportLimits


class Settings(RetrainSettings):
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

    auto_retrain_after: int = Field(default=0, ge=0)
    """Enqueue a retrain after this many new corrections (0 = off)."""

    max_import_unpacked_bytes: int = 1024 * 1024 * 1024
    """What an imported file may unpack to: a .keras archive's members, an .h5's datasets."""

    max_import_member_bytes: int = 512 * 1024 * 1024
    """One member of a .keras archive."""

    max_import_config_bytes: int = 16 * 1024 * 1024
    """A model's JSON configuration (parsed whole in memory)."""

    worker_heartbeat: int = Field(default=5, ge=1)
    """Seconds between a busy worker's heartbeats; a job is abandoned after 3 missed ones."""

    @property
    def imports_dir(self) -> Path:
        """Uploaded model files waiting for their import job (API and worker share it)."""
        return self.data_dir / "tmp" / "imports"

    def import_limits(self) -> ImportLimits:
        return ImportLimits(
            unpacked_bytes=self.max_import_unpacked_bytes,
            member_bytes=self.max_import_member_bytes,
            config_bytes=self.max_import_config_bytes,
        )

    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'tagloop.db'}"
