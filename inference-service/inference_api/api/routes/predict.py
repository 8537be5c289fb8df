"""POST /predict and POST /batch_predict."""

from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from tagloop.http import error_responses

from inference_api.api.deps import PredictorDep, ThresholdForm, UserOnly
from inference_api.predictions import predict_upload, predict_uploads, received
from inference_api.schemas import BatchPredictResponse, PredictResponse
from inference_api.timing import timing_of

router = APIRouter(tags=["predict"])

PREDICT_ERRORS = error_responses(400, 401, 403, 413, 415, 422, 503)
"""What a prediction can answer besides 200: unreadable image, token, another site, size,
type, form, no model."""


@router.post("/predict", dependencies=UserOnly, responses=PREDICT_ERRORS)
async def predict(
    file: Annotated[UploadFile, File(description="a JPEG, PNG or WebP image")],
    predictor: PredictorDep,
    request: Request,
    threshold: ThresholdForm = None,
) -> PredictResponse:
    """Probabilities of the 20 classes for one image, and those above the threshold."""
    upload = received(file.filename, await file.read())
    timing = timing_of(request.state)
    timing.lap("read")  # the body received, its form parsed, the file's bytes in hand
    return await predict_upload(predictor=predictor, upload=upload, threshold=threshold, timing=timing)


@router.post("/batch_predict", dependencies=UserOnly, responses=PREDICT_ERRORS)
async def batch_predict(
    files: Annotated[list[UploadFile], File(description="JPEG, PNG or WebP images")],
    predictor: PredictorDep,
    request: Request,
    threshold: ThresholdForm = None,
) -> BatchPredictResponse:
    """Predict many images; a file that cannot be read gets an error entry of its own."""
    uploads = [received(f.filename, await f.read()) for f in files]
    timing = timing_of(request.state)
    timing.lap("read")
    return await predict_uploads(predictor=predictor, uploads=uploads, threshold=threshold, timing=timing)
