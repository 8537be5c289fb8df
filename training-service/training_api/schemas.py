"""Request and response bodies of the training API."""

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer
from tagloop.classes import NUM_CLASSES
from tagloop.version_meta import Changes, Evaluation


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    image_id: str | None = Field(
        default=None, max_length=64, description="sha256 of the upload (from /predict)"
    )
    filename: str | None = Field(
        default=None, max_length=255, description="a stored upload's client filename"
    )
    corrected_labels: list[str] = Field(max_length=NUM_CLASSES)
    model_version: int | None = Field(default=None, ge=1)
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    predicted: dict[str, float] | list[str] | list[dict[str, Any]] | None = None


class CorrectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    image_id: str
    filename: str | None
    corrected_labels: list[str]
    model_version: int | None
    threshold: float | None = None
    predicted: Any = None
    timestamp: datetime
    source: str | None = Field(
        default=None, description='"review" or "bulk" when saved from a review session'
    )

    @field_serializer("timestamp")
    def _utc(self, value: datetime) -> str:
        # SQLite returns naive datetimes; every timestamp is stored in UTC.
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat(timespec="seconds")


class CorrectionSaved(BaseModel):
    success: bool = True
    correction: CorrectionOut
    auto_retrain_job: str | None = None


class CorrectionList(BaseModel):
    success: bool = True
    total: int
    limit: int
    offset: int
    corrections: list[CorrectionOut]


class CorrectionHistory(BaseModel):
    success: bool = True
    image_id: str
    corrections: list[CorrectionOut]


class RetrainIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    epochs: int | None = Field(default=None, ge=1, le=1000)
    force: bool = False


class JobAccepted(BaseModel):
    success: bool = True
    job_id: str
    status: str
    created: bool = Field(description="false when an already queued or running retrain was returned")


class JobState(BaseModel):
    success: bool = True
    job_id: str
    status: str
    progress: dict[str, Any] = {}
    result: dict[str, Any] | None = None
    error: str | None = None
    enqueued_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


class VersionOut(BaseModel):
    version: int
    created: str | None = None
    active: bool
    parent: int | None = None
    samples: int | None = None
    backbone: str | None = None
    prior: str | None = None
    source: str | None = None
    metrics: dict[str, Any] = {}
    loss_curve: list[float] = []
    promoted: bool | None = None
    reason: str | None = None
    evaluation: Evaluation | None = Field(
        default=None, description="parent and candidate on the held-out set and on every correction"
    )
    changes: Changes | None = Field(
        default=None, description="corrected photos fixed, broken, unchanged; per class before -> after"
    )
    thresholds: dict[str, float] = Field(default={}, description="calibrated per-class thresholds")


class VersionList(BaseModel):
    success: bool = True
    active: int | None
    versions: list[VersionOut]


class Activated(BaseModel):
    success: bool = True
    active: int


class Imported(BaseModel):
    success: bool = True
    version: int
    active: bool
