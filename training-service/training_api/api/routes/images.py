"""The stored uploads, for the UI's thumbnails."""

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from tagloop.http import error_responses
from tagloop.images import sniff_format

from training_api.api.deps import UploadsDep, UserOnly

router = APIRouter(prefix="/images", tags=["images"])

MEDIA_TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


class ImageIdsIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    image_ids: list[str] = Field(max_length=5000, description="image_ids (sha256) from /predict")


class ImagesPresent(BaseModel):
    success: bool = True
    present: list[str] = Field(description="the asked image_ids still stored, in the order asked")


@router.post(
    "/present", response_model=ImagesPresent, dependencies=UserOnly, responses=error_responses(400, 401, 422)
)
def images_present(body: ImageIdsIn, uploads: UploadsDep) -> ImagesPresent:
    """Which of these uploads the server still has: a page restoring photos it showed before
    asks this first, so that a photo gone meanwhile is named rather than fetched into a 404."""
    return ImagesPresent(present=[i for i in dict.fromkeys(body.image_ids) if uploads.exists(i)])


@router.get(
    "/{image_id}", response_class=Response, dependencies=UserOnly, responses=error_responses(401, 404)
)
def get_image(image_id: str, uploads: UploadsDep) -> Response:
    """The bytes of an upload, exactly as uploaded."""
    data = uploads.read(image_id)
    headers = {
        # Content-addressed: the bytes behind an id never change.
        "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
    }
    media_type = MEDIA_TYPES.get(sniff_format(data) or "", "application/octet-stream")
    return Response(data, media_type=media_type, headers=headers)
