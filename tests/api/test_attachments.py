"""Attachment downloads: untrusted bytes, always served as a download and only to who may see them."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.base import InboundAttachment
from hub.models import Attachment
from tests.api import helpers as h
from tests.api.conftest import Org

pytestmark = pytest.mark.django_db


def attachment(org: Org, name: str, content_type: str, data: bytes) -> Attachment:
    conv = h.conversation(org.team_a, channel="email", kind="email", address="ann@example.com",
                          attachments=[InboundAttachment(name, content_type, data)])
    return Attachment.objects.get(message__conversation=conv)


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def test_download_with_safe_headers(org: Org) -> None:
    att = attachment(org, "invoice.pdf", "application/pdf", b"%PDF-1.4 ...")
    response = h.client_for(org.alice).get(f"/api/v1/attachments/{att.pk}/")
    assert response.status_code == 200
    assert body(response) == b"%PDF-1.4 ..."
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="invoice.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


@pytest.mark.parametrize("content_type", ["text/html", "image/svg+xml", "application/xhtml+xml", "text/javascript",
                                          "TEXT/HTML; charset=utf-8", "application/x-whatever"])
def test_active_content_is_served_as_opaque_bytes(org: Org, content_type: str) -> None:
    att = attachment(org, "page.html", content_type, b"<script>alert(1)</script>")
    response = h.client_for(org.alice).get(f"/api/v1/attachments/{att.pk}/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")


def test_message_lists_the_attachment_with_its_download_url(org: Org) -> None:
    att = attachment(org, "photo.png", "image/png", b"\x89PNG")
    rows = h.results(h.client_for(org.alice).get(f"/api/v1/conversations/{att.message.conversation_id}/messages/"))
    assert rows[0]["attachments"] == [{"id": att.pk, "name": "photo.png", "content_type": "image/png", "size": 4,
                                       "url": f"/api/v1/attachments/{att.pk}/"}]
    assert h.client_for(org.alice).get(rows[0]["attachments"][0]["url"]).status_code == 200


def test_404_for_who_may_not_see_the_conversation(org: Org) -> None:
    att = attachment(org, "invoice.pdf", "application/pdf", b"secret")
    response = h.client_for(org.bob).get(f"/api/v1/attachments/{att.pk}/")
    assert response.status_code == 404
    assert b"secret" not in response.content
    assert h.client_for(org.sue).get(f"/api/v1/attachments/{att.pk}/").status_code == 200


def test_missing_file_is_404(org: Org) -> None:
    att = attachment(org, "gone.pdf", "application/pdf", b"x")
    att.file.delete(save=False)
    assert h.client_for(org.alice).get(f"/api/v1/attachments/{att.pk}/").status_code == 404
