"""Response bodies of the inference API (the README's API table)."""

from typing import Any

from pydantic import BaseModel, Field


class Prediction(BaseModel):
    label: str
    confidence: float


class ImageResult(BaseModel):
    filename: str | None
    image_id: str
    predictions: list[Prediction] = Field(description="scores >= threshold, highest first")
    scores: dict[str, float] = Field(description="all 20 classes")


class PredictResponse(BaseModel):
    success: bool = True
    model_version: int
    image_id: str = Field(description="sha256 of the uploaded bytes")
    filename: str | None
    predictions: list[Prediction]
    scores: dict[str, float]
    thresholds: dict[str, float] = Field(
        description="per class, the threshold `predictions` used: the request's, or the version's own"
    )


class FileError(BaseModel):
    filename: str | None
    error: str
    code: str | None = Field(default=None, description="the error's stable code, as in an error reply")


class BatchPredictResponse(BaseModel):
    success: bool = True
    model_version: int
    thresholds: dict[str, float] = Field(
        description="per class, the threshold `predictions` used: the request's, or the version's own"
    )
    results: list[ImageResult | FileError]


class HealthResponse(BaseModel):
    status: str = Field(description="'ok', or 'starting' while no model is loaded")
    ready: bool
    model_version: int | None
    model_error: str | None
    model_prior: str | None = Field(
        default=None,
        description="the frozen priors the served version answers from: 'imagenet+coco' or 'imagenet'",
    )
    model_inputs: list[dict[str, Any]] = Field(
        default=[], description="the served model's image inputs: name, size"
    )
    redis: bool


class LivenessResponse(BaseModel):
    status: str = "alive"
