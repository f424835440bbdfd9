from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from hub.actions.ingestion import do_ingest_message
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    user = User.objects.create_superuser("root", password="root-pass")
    client = Client()
    client.force_login(user)
    return client


def test_channel_accounts_are_configurable(admin_client: Client) -> None:
    f.account("sms")
    assert admin_client.get("/admin/hub/channelaccount/").status_code == 200
    assert admin_client.get("/admin/hub/channelaccount/add/").status_code == 200


def test_conversation_data_is_read_only(admin_client: Client) -> None:
    conv = do_ingest_message(f.account("sms"), f.inbound("<script>alert(1)</script>")).message.conversation
    page = admin_client.get("/admin/hub/conversation/")
    assert page.status_code == 200 and b"<script>alert(1)</script>" not in page.content
    assert admin_client.get("/admin/hub/conversation/add/").status_code == 403
    assert admin_client.get(f"/admin/hub/conversation/{conv.pk}/change/").status_code == 200  # view only
    assert admin_client.post(f"/admin/hub/conversation/{conv.pk}/delete/").status_code == 403
