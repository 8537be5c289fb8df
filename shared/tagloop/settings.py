"""Settings common to every tagloop process, read from TAGLOOP_* environment variables.

Each service extends `CommonSettings` in its own `config.py`; nothing else reads the
environment. Relative paths are relative to the working directory (the repo root when
started by `make run`).
"""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TAGLOOP_", env_file=".env", extra="ignore")

    models_dir: Path = Path("models-volume")
    """Root of the model store: <models_dir>/<model_name>/<version>/ and .../active."""

    data_dir: Path = Path("data-volume")
    """Uploads (by sha256), the corrections database, feature and weight caches."""

    model_name: str = "voc"
    """Name of the model family inside the store."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    """Redis: the RQ queue and the pub/sub channel that announces new versions."""

    reload_channel: str = "tagloop:model-activated"
    """Pub/sub channel on which the model store announces an activated version."""

    keep_versions: int = 10
    """Retention: how many versions the store keeps (the active one is always kept)."""

    admin_token: SecretStr | None = None
    """When set, retrain, cancel, activate and import need `Authorization: Bearer <token>`."""

    token_for_all: bool = False
    """With admin_token set, predictions and corrections need the token too."""

    prior: Literal["imagenet+coco", "imagenet"] = "imagenet+coco"
    """What version 1 is built from: the Lite0 ImageNet prior and the COCO detector (when
    its files are in detector_dir), or the ImageNet prior alone."""

    detector_dir: Path = Path(".cache/detector")
    """Where scripts/setup puts the COCO detector's files (centernet.json, centernet.bin)."""

    detector_size: int = Field(default=320, ge=128, le=1024, multiple_of=32)
    """Side of the detector's square input in a new version 1 (its second image input).
    320 rather than the published 512: 2.5x less compute, and on the labelled fixture the
    ranking was no worse (README, "Version 1: two frozen priors")."""

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"
