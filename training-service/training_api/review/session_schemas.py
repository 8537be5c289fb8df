"""Request and response bodies of review sessions and exports."""

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer
from tagloop.classes import NUM_CLASSES

from training_api.review.order import Order
from training_api.schemas import INT32_MAX

ImageId = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the upload (from /predict)")


def _utc(value: datetime | None) -> str | None:
    # SQLite returns naive datetimes; every timestamp is stored in UTC.
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat(timespec="seconds")


class ItemIn(BaseModel):
    """One uploaded photo and what /predict said about it."""

    model_config = ConfigDict(extra="ignore")

    image_id: str = ImageId
    filename: str | None = Field(default=None, max_length=255)
    scores: dict[str, float] = Field(max_length=NUM_CLASSES, description="class -> probability")
    thresholds: dict[str, float] | None = Field(default=None, max_length=NUM_CLASSES)
    model_version: int | None = Field(default=None, ge=1, le=INT32_MAX)


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(default="", max_length=200)
    order: Order = "uncertain"
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    auto_retrain_after: int = Field(default=0, ge=0, le=100000)
    items: list[ItemIn] = Field(default=[], max_length=5000)
    annotators: list[str] = Field(
        default=[],
        max_length=100,
        description="users to assign its photos to (an admin's choice); none: anyone",
    )
    overlap: float = Field(
        default=0.0, ge=0.0, le=1.0, description="the fraction of photos given to two annotators"
    )


class SessionPatch(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, max_length=200)
    order: Order | None = None
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    auto_retrain_after: int | None = Field(default=None, ge=0, le=100000)


class ItemsIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    items: list[ItemIn] = Field(max_length=5000)


class ItemUpdate(BaseModel):
    """Save the card (labels), skip it, or undo its save (status "pending")."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["saved", "skipped", "pending"] = "saved"
    labels: list[str] | None = Field(default=None, max_length=NUM_CLASSES)


class BulkIn(BaseModel):
    """Set or unset labels on many cards, or accept every confident pending card."""

    model_config = ConfigDict(extra="ignore")

    image_ids: list[str] = Field(default=[], max_length=5000)
    add: list[str] = Field(default=[], max_length=NUM_CLASSES)
    remove: list[str] = Field(default=[], max_length=NUM_CLASSES)
    confident: bool = Field(
        default=False, description="every pending card whose scores are all > 0.9 or < 0.1"
    )


class ItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    image_id: str
    filename: str | None
    position: int
    scores: dict[str, float]
    thresholds: dict[str, float] | None = None
    model_version: int | None
    status: str
    annotator: str | None = Field(default=None, description="whose card it is; null: anyone's")
    labels: list[str] | None = None
    predicted: list[str] = []
    saved_at: datetime | None = None
    leased: bool = Field(default=False, description="another browser (client id) has this card on screen now")

    @field_serializer("annotator")
    def _annotator(self, value: str | None) -> str | None:
        return value or None

    @field_serializer("saved_at")
    def _saved_at(self, value: datetime | None) -> str | None:
        return _utc(value)


class Progress(BaseModel):
    total: int = 0
    saved: int = 0
    skipped: int = 0
    pending: int = 0
    seconds_per_item: float | None = Field(default=None, description="median time between saves")


class SessionOut(BaseModel):
    id: int
    name: str
    order: str
    threshold: float
    auto_retrain_after: int
    annotators: list[str] | None = None
    overlap: float = 0.0
    resolves: bool = Field(default=False, description="of disagreements: a save is an admin's resolution")
    created: datetime
    updated: datetime
    progress: Progress

    @field_serializer("created", "updated")
    def _times(self, value: datetime) -> str | None:
        return _utc(value)


class SessionDetail(BaseModel):
    success: bool = True
    session: SessionOut
    items: list[ItemOut]


class SessionCreated(BaseModel):
    success: bool = True
    session: SessionOut
    added: int


class SessionList(BaseModel):
    success: bool = True
    sessions: list[SessionOut]


class NextItem(BaseModel):
    success: bool = True
    item: ItemOut | None
    progress: Progress


class ItemSaved(BaseModel):
    success: bool = True
    item: ItemOut
    progress: Progress
    auto_retrain_job: str | None = None


class ItemsAdded(BaseModel):
    success: bool = True
    added: int
    progress: Progress


class LeaseIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    client: str = Field(
        min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="the browser's id"
    )


class Leased(BaseModel):
    success: bool = True
    lease_until: datetime | None = Field(description="null for a saved card, which needs no lease")

    @field_serializer("lease_until")
    def _until(self, value: datetime | None) -> str | None:
        return _utc(value)


class BulkUndone(BaseModel):
    success: bool = True
    restored: int
    progress: Progress


class BulkDone(BaseModel):
    success: bool = True
    saved: int
    bulk_id: int | None = Field(
        default=None, description="give it to /bulk/{bulk_id}/undo to put the cards back"
    )
    progress: Progress
    auto_retrain_job: str | None = None


class Disagreement(BaseModel):
    image_id: str
    filename: str | None
    labels: list[str]
    predicted: list[str]


class RepredictRun(BaseModel):
    """A session's re-prediction, running in the background (training_api.review.repredict)."""

    success: bool = True
    state: Literal["idle", "running", "finished", "failed"]
    done: int = Field(default=0, description="photos predicted again so far")
    total: int | None = Field(
        default=None, description="the session's photos (None until the run has counted them)"
    )
    model_version: int | None = None
    error: str | None = None
    disagreements: list[Disagreement] = Field(
        default_factory=list,
        description="once finished: saved photos whose new prediction differs from their labels",
    )
    progress: Progress | None = None


class RetrainPlan(BaseModel):
    success: bool = True
    corrections: int = Field(description="images with a correction: what a retrain uses")
    new: int = Field(description="of those, corrected since the active version was made")
    seconds: float = Field(description="a rough estimate of the retrain's duration")
