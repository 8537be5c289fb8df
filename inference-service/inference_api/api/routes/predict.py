"""POST /predict and POST /batch_predict."""

from typing import Annotated

from fastapi import APIRouter, File, UploadFile
from tagloop.http import error_responses

from inference_api.api.deps import PredictorDep, ThresholdForm, UserOnly
from inference_api.predictions import predict_upload, predict_uploads, received
from inference_api.schemas import BatchPredictResponse, PredictResponse

router = APIRouter(tags=["predict"])

PREDICT_ERRORS = error_responses(400, 401, 413, 415, 422, 503)
"""What a prediction can answer besides 200: unreadable image, token, size, type, form, no model."""


@router.post("/predict", dependencies=UserOnly, responses=PREDICT_ERRORS)
async def predict(
    file: Annotated[UploadFile, File(description="a JPEG, PNG or WebP image")],
    predictor: PredictorDep,
    threshold: ThresholdForm = None,
) -> PredictResponse:
    """Probabilities of the 20 classes for one image, and those above the threshold."""
    upload = received(file.filename, await file.read())
    return await predict_upload(predictor=predictor, upload=upload, threshold=threshold)


@router.post("/batch_predict", dependencies=UserOnly, responses=PREDICT_ERRORS)
async def batch_predict(
    files: Annotated[list[UploadFile], File(description="JPEG, PNG or WebP images")],
    predictor: PredictorDep,
    threshold: ThresholdForm = None,
) -> BatchPredictResponse:
    """Predict many images; a file that cannot be read gets an error entry of its own."""
    uploads = [received(f.filename, await f.read()) for f in files]
    return await predict_uploads(predictor=predictor, uploads=uploads, threshold=threshold)
