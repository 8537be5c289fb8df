"""Request and response bodies of the training API."""

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_serializer, field_validator
from tagloop.classes import NUM_CLASSES, VOC_CLASSES
from tagloop.training.scoreboard import VersionScore
from tagloop.version_meta import VersionMeta

INT64_MAX = 2**63 - 1
"""Largest integer a query or path takes (e.g. an offset, a version number); more is a 422."""

INT32_MAX = 2**31 - 1
"""Largest value of an Integer column (PostgreSQL's INTEGER is 32 bits); more is a 422."""


class LabelScore(BaseModel):
    """One class's predicted probability, as the UI saw it when the correction was made."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(max_length=32)
    confidence: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    image_id: str | None = Field(
        default=None, max_length=64, description="sha256 of the upload (from /predict)"
    )
    filename: str | None = Field(
        default=None, max_length=255, description="a stored upload's client filename"
    )
    corrected_labels: list[str] = Field(max_length=NUM_CLASSES)
    model_version: StrictInt | None = Field(default=None, ge=1, le=INT32_MAX)
    threshold: float | None = Field(default=None, ge=0.0, le=1.0, allow_inf_nan=False)
    predicted: list[LabelScore] | None = Field(
        default=None,
        max_length=NUM_CLASSES,
        description="the scores shown: [{label, confidence}], or {label: confidence} as the UI sends",
    )

    @field_validator("predicted", mode="before")
    @classmethod
    def _scores_as_list(cls, value: Any) -> Any:
        """{label: confidence} (the UI's shape) becomes [{label, confidence}]."""
        if isinstance(value, dict):
            if len(value) > NUM_CLASSES:
                raise ValueError(f"at most {NUM_CLASSES} scores, one per class")
            return [{"label": k, "confidence": v} for k, v in value.items()]
        return value

    @field_validator("predicted")
    @classmethod
    def _known_labels_once(cls, value: list[LabelScore] | None) -> list[LabelScore] | None:
        labels = [score.label for score in value or []]
        unknown = sorted(set(labels) - set(VOC_CLASSES))
        if unknown:
            raise ValueError(f"unknown label(s) {', '.join(map(repr, unknown))}")
        if len(set(labels)) != len(labels):
            raise ValueError("each label at most once")
        return value


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
        default=None, description='"review" or "bulk" from a review session, "resolved" by an admin'
    )
    annotator: str | None = Field(default=None, description="who made it (team mode); null otherwise")

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

    epochs: StrictInt | None = Field(default=None, ge=1, le=1000)
    force: StrictBool = False


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


class SuspectOut(BaseModel):
    """A saved label the model, scored out of fold, finds implausible (training_api.suspects)."""

    model_config = ConfigDict(populate_by_name=True)

    image_id: str
    filename: str | None
    label: str = Field(serialization_alias="class", description="the class whose label looks wrong")
    given: bool = Field(description="the saved label: true if the class was said present")
    score: float = Field(description="-log of the out-of-fold probability of the saved label")
    rank: int = Field(description="1 for the most suspect")


class SuspectList(BaseModel):
    suspects: list[SuspectOut]


class VersionOut(VersionMeta):
    """A version as /models shows it: its meta.json (every field VersionMeta declares, among
    them the promotion rule's `gate` statistics) and whether it is the active one."""

    model_config = ConfigDict(extra="ignore")  # fields other tools wrote stay in meta.json

    version: int
    active: bool
    scoreboard: VersionScore | None = None
    """Its figures on the shared evaluation set (VersionList.scoreboard), if it was scored."""

    @classmethod
    def of(
        cls, meta: VersionMeta, *, version: int, active: bool, score: VersionScore | None = None
    ) -> "VersionOut":
        return cls.model_validate(
            {**meta.model_dump(), "version": version, "active": active, "scoreboard": score}
        )


class ScoreboardOut(BaseModel):
    """The shared evaluation set every version was last scored on (tagloop.training.scoreboard)."""

    rule: str = Field(description="which corrections are in it: the held-out rule")
    photos: int
    computed: str
    after_version: int = Field(description="the retrain that scored the versions")
    other_backbone: list[int] = Field(description="versions that cannot be scored on the same features")


class VersionList(BaseModel):
    success: bool = True
    active: int | None
    versions: list[VersionOut]
    scoreboard: ScoreboardOut | None = None


class Activated(BaseModel):
    success: bool = True
    active: int
