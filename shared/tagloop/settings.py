"""Settings common to every tagloop process, read from TAGLOOP_* environment variables.

Each service extends `CommonSettings` in its own `config.py`; nothing else reads the
environment. Relative paths are relative to the working directory (the repo root when
started by `make run`). The defaults here are the only ones: the native run's scripts
take theirs from `python -m tagloop.settings` (see `shell_exports`).
"""

import shlex
import sys
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tagloop.images import DEFAULT_MAX_DECODE_BYTES, DEFAULT_MAX_PIXELS, DecodeLimits

MIB = 1024 * 1024


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TAGLOOP_", env_file=".env", extra="ignore")

    models_dir: Path = Path("models-volume")
    """Root of the model store: <models_dir>/<model_name>/<version>/ and .../active."""

    data_dir: Path = Path("data-volume")
    """Uploads (by sha256), the corrections database, feature and weight caches."""

    model_name: str = "voc"
    """Name of the model family inside the store."""

    gateway_port: int = 8080
    """The gateway (UI and API) of the native run."""

    bind: str = "127.0.0.1"
    """The address the native gateway listens on. Any other than loopback needs admin_token
    (gateway/render.py refuses to start without it)."""

    inference_port: int = 8001
    """The inference service of the native run (its first replica)."""

    inference_replicas: int = Field(default=1, ge=1)
    """Inference replicas: `make run` starts them on consecutive ports from inference_port,
    the gateway balances them, the training API's /health lists them."""

    training_workers: int = Field(default=1, ge=1)
    """RQ workers `make run` starts (each runs one retrain at a time)."""

    training_port: int = 8002
    """The training API of the native run."""

    redis_port: int = 6389
    """The native run's own redis-server. Not 6379: a system Redis often holds that one."""

    redis_url: str = ""
    """Redis: the RQ queue and the pub/sub channel that announces new versions.
    Default: the native run's redis-server on `redis_port`."""

    inference_url: str = ""
    """Where the training API asks for inference's health. Default: `inference_port` on
    this host. With replicas: the first one's URL, the others on the next ports; a host
    name that resolves to several addresses (compose --scale, a headless Service) counts
    each address as a replica."""

    disk_free_floor_mb: float = Field(default=200, ge=0)
    """Below this much free space on the data volume, /health says "degraded" (part
    "disk") and retrains are refused with 507 before they start: a retrain writes a new
    version and features, and would otherwise fail halfway. Uploads and saves go on until
    the volume is really full, then answer 507 too."""

    cache_max_mb: float = Field(default=512, ge=0)
    """The data dir's cache/ (converted weights, backbone ONNX, image features) is kept
    under this size: before each retrain its least recently used files are deleted (each
    is rebuilt when next needed)."""

    # Request limits: the services enforce them, the gateway is rendered with the same values
    # (gateway/render.py), and the web page reads them from the gateway's /limits.json.
    max_body_bytes: int = Field(default=16 * MIB, ge=1024)
    """Largest request body to /predict, /batch_predict and the gateway's other routes (the
    original design's 16 MB uploads); more is refused with 413 before it is parsed."""

    max_json_bytes: int = Field(default=8 * MIB, ge=1024)
    """Largest body of the training API's routes but the import, counted before it is parsed
    (a 5,000-photo session is about 3 MB). Parsing JSON costs many times its size in memory,
    so this stays well under max_body_bytes."""

    max_import_bytes: int = Field(default=512 * MIB, ge=1024)
    """Largest model file POST /models/import accepts."""

    predict_rate: str = Field(default="30r/s", pattern=r"^[1-9][0-9]*r/[sm]$")
    """Rate of /predict and /batch_predict per client address at the gateway (nginx
    limit_req); the benchmarks raise it."""

    predict_burst: int = Field(default=60, ge=0)
    """Requests above predict_rate served at once before the gateway answers 429."""

    run_dir: Path = Path(".run")
    """The native run's rendered nginx config, nginx temp files and run lock."""

    reload_channel: str = "tagloop:model-activated"
    """Pub/sub channel on which the model store announces an activated version."""

    keep_versions: int = 10
    """Retention: how many versions the store keeps (the active one is always kept)."""

    admin_token: SecretStr | None = None
    """When set, retrain, cancel, activate and import need `Authorization: Bearer <token>`."""

    token_for_all: bool = False
    """With admin_token set, predictions and corrections need the token too."""

    token: SecretStr | None = None
    """A user's API token (team mode) that `tagloop export` sends; else it sends admin_token."""

    allowed_origins: str = ""
    """Comma-separated origins (e.g. `https://tagloop.example.org`) whose pages may change
    state too; tagloop's own page always may. For a reverse proxy that rewrites Host."""

    public_hosts: str = ""
    """Comma-separated host names (e.g. `tagloop.example.org`) the gateway answers to besides
    localhost, 127.0.0.1 and [::1]; a request to any other name gets 421 (`unknown_host`),
    so a page whose DNS name is rebound to this machine cannot reach tagloop."""

    @property
    def public_host_list(self) -> list[str]:
        return [h.strip().lower() for h in self.public_hosts.split(",") if h.strip()]

    redis_password: SecretStr | None = None
    """Redis's password. Unset: read from <data_dir>/redis/password, which the native run's
    redis generates on its first start (tagloop.redis_auth)."""

    @property
    def allowed_origin_list(self) -> list[str]:
        return [o.strip() for o in self.allowed_origins.split(",") if o.strip()]

    prior: Literal["imagenet+coco", "imagenet"] = "imagenet+coco"
    """What version 1 is built from: the Lite0 ImageNet prior and the COCO detector (when
    its files are in detector_dir), or the ImageNet prior alone."""

    detector_dir: Path = Path(".cache/detector")
    """Where scripts/setup puts the COCO detector's files (centernet.json, centernet.bin)."""

    detector_size: int = Field(default=320, ge=128, le=1024, multiple_of=32)
    """Side of the detector's square input in a new version 1 (its second image input).
    Smaller is faster and sees small objects less surely; the README ("Version 1: two frozen
    priors") has the measured curve of speed and quality against this size and why the
    default is what it is."""

    max_image_pixels: int = Field(default=DEFAULT_MAX_PIXELS, ge=1)
    """Largest image (width x height), checked from the header before decoding: inference
    refuses a bigger upload (413), a retrain skips a stored one. One setting for both, so
    every photo inference accepted can be learned from."""

    max_decode_bytes: int = Field(default=DEFAULT_MAX_DECODE_BYTES, ge=1)
    """Most memory one image's decoded pixels may take (width x height x channels x bytes
    per sample, read from the header); over it, as over max_image_pixels, before decoding."""

    @property
    def decode_limits(self) -> DecodeLimits:
        """The limits every decode of an upload runs under, inference's and training's."""
        return DecodeLimits(max_pixels=self.max_image_pixels, max_bytes=self.max_decode_bytes)

    @model_validator(mode="after")
    def _local_urls(self) -> "CommonSettings":
        self.redis_url = self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"
        self.inference_url = self.inference_url or f"http://127.0.0.1:{self.inference_port}"
        return self

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"


class RetrainSettings(CommonSettings):
    """How a retrain fits, judges and calibrates: the worker's job and `tagloop train` both."""

    retrain_epochs: int = Field(default=100, ge=1, le=1000)
    """Most epochs of a fit; training stops earlier once every label fits (fit_margin)."""

    learning_rate: float = Field(default=2e-3, gt=0, le=1)
    """Adam's learning rate. The original 1e-5 did not move the loss (docs/ARCHITECTURE.md,
    "Fine-tuning"); 2e-3 rather than Adam's usual 1e-3 learns a few corrections in fewer
    epochs and moves images nobody corrected less (tools/bench_retrain.py measures both)."""

    batch_size: int = Field(default=256, ge=1)
    """Corrections per step (with as many anchors). Large batches: the head is a linear
    layer over cached features, and a step costs about the same for 16 rows as for 256."""

    focal_gamma: float = 2.0
    focal_alpha: float = Field(default=0.25, ge=0, le=1)

    fit_margin: float = Field(default=0.1, ge=0, lt=0.5)
    """Early stop when every training label is on its side of its threshold by this margin."""

    plateau_patience: int = Field(default=10, ge=1)
    """Early stop too when the loss has not improved by plateau_tolerance (relative) for
    this many epochs: one inconsistent label never lets every label fit."""

    plateau_tolerance: float = Field(default=0.01, ge=0)

    holdout_modulus: int = Field(default=5, ge=2)
    """An image is held out for the gate when int(sha256[:8], 16) % holdout_modulus == 0."""

    min_holdout: int = Field(default=5, ge=1)
    """Fewest held-out images for a held-out gate; below it the gate uses every image."""

    min_paired: int = Field(default=30, ge=2)
    """Fewest held-out images for the paired test of the log-loss to reject a candidate."""

    gate_confidence: float = Field(default=0.95, gt=0, lt=1)
    """A candidate is significantly worse when this interval of its mean per-photo log-loss
    difference to the parent lies wholly above 0."""

    bootstrap_rounds: int = Field(default=2000, ge=100)

    anchor_flip_margin: float = Field(default=0.05, ge=0, lt=0.5)
    """An anchor photo's label counts as changed only when its new score is this far past
    the threshold: a score that sat on the threshold (0.50 at 0.5) flips either way on noise,
    and a person would not call that a change of what the model says of the photo."""

    anchor_change_limit: float = Field(default=0.1, ge=0, le=1)
    """Most share of the anchor photos (uploads nobody corrected) whose label set a
    promoted candidate may change."""

    anchor_images: int = Field(default=100, ge=0)
    """A retrain also trains on up to this many recent uploads nobody corrected, towards
    what the parent version says of them, so that corrections do not spill onto them."""

    anchor_weight: float = Field(default=0.1, ge=0)
    """Weight of those uploads' cross-entropy against the corrections' focal loss: high
    enough to keep other uploads' labels, low enough that photos looking like corrected ones
    may still follow their corrections (tests/training_api/test_retrain_quality.py)."""

    calibrate_min_positives: int = Field(default=10, ge=1)
    """A class gets a calibrated threshold once it has this many positive corrections..."""

    calibrate_min_negatives: int = Field(default=10, ge=1)
    """...and this many negative ones."""


NATIVE_RUN = (
    "gateway_port",
    "inference_port",
    "inference_replicas",
    "training_workers",
    "training_port",
    "redis_port",
    "redis_url",
    "inference_url",
    "models_dir",
    "data_dir",
    "run_dir",
)
"""The settings the native run's scripts and its supervisord config read as TAGLOOP_* variables."""


def shell_exports(settings: CommonSettings) -> str:
    """`export TAGLOOP_X=...` lines for the native run, paths made absolute."""
    lines = []
    for name in NATIVE_RUN:
        value = getattr(settings, name)
        if isinstance(value, Path):
            value = value.resolve()
        lines.append(f"export TAGLOOP_{name.upper()}={shlex.quote(str(value))}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(shell_exports(CommonSettings()) + "\n")
