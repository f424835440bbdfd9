"""Downloading attachments. Their bytes came from customers, so they are untrusted: always a download,
never rendered by the browser on our origin (an HTML or SVG file could otherwise run script there)."""

from __future__ import annotations

from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request

from hub.access import visible_conversations
from hub.api.base import AgentAPIView
from hub.models import Attachment

# Types a browser displays without running anything. Everything else is served as opaque bytes.
_SAFE_TYPES = frozenset({
    "application/pdf", "text/plain", "text/csv",
    "image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/heic",
    "audio/mpeg", "audio/ogg", "audio/wav", "audio/webm", "audio/mp4", "audio/amr",
    "video/mp4", "video/webm", "video/ogg", "video/quicktime",
})


def safe_content_type(declared: str) -> str:
    essence = declared.split(";", 1)[0].strip().lower()
    return essence if essence in _SAFE_TYPES else "application/octet-stream"


def attachment_response(attachment: Attachment, *, inline_media: bool = False) -> FileResponse:
    """An attachment's bytes, as untrusted content: a download, or with `inline_media` an image or a PDF
    shown in place; either way sandboxed. 404 when its file is gone."""
    try:
        handle = attachment.file.open("rb")
    except (FileNotFoundError, ValueError) as exc:
        raise Http404("The file of this attachment is missing") from exc
    content_type = safe_content_type(attachment.content_type)
    shown = inline_media and (content_type.startswith("image/") or content_type == "application/pdf")
    response = FileResponse(handle, as_attachment=not shown, filename=attachment.name, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    # Even if a browser ignored the two headers above, the document could not run script or load anything.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


class AttachmentDownload(AgentAPIView):
    @extend_schema(responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY)})
    def get(self, request: Request, pk: int) -> FileResponse:
        """The file, as a download. 404 unless the user may see its conversation."""
        attachment = (Attachment.objects.select_related("message")
                      .filter(pk=pk, message__conversation__in=visible_conversations(self.user)).first())
        if attachment is None:
            raise Http404("No such attachment")
        return attachment_response(attachment)
