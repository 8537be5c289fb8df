"""The stored uploads, for the UI's thumbnails."""

from fastapi import APIRouter
from fastapi.responses import Response
from tagloop.http import error_responses
from tagloop.images import sniff_format

from training_api.api.deps import UploadsDep, UserOnly

router = APIRouter(prefix="/images", tags=["images"])

MEDIA_TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


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
