"""The OpenAPI schema generates cleanly, and the API's JSON matches the realtime events' JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from pydantic import BaseModel
from rest_framework.serializers import Serializer

from hub.api.serializers.conversations import ConversationSerializer
from hub.api.serializers.messages import AttachmentSerializer, MessageSerializer, NoteSerializer
from hub.events.payloads import conversation_data
from hub.events.schema import AttachmentData, ConversationData, MessageData, NoteData
from tests.api import helpers as h
from tests.api.conftest import Org

MAIN_PATHS = [
    "/api/v1/me/", "/api/v1/conversations/", "/api/v1/conversations/{id}/", "/api/v1/conversations/{id}/messages/",
    "/api/v1/conversations/{id}/notes/", "/api/v1/conversations/{id}/assign/", "/api/v1/conversations/{id}/transfer/",
    "/api/v1/conversations/{id}/resolve/", "/api/v1/conversations/{id}/reopen/", "/api/v1/conversations/{id}/snooze/",
    "/api/v1/conversations/{id}/tags/", "/api/v1/conversations/{id}/priority/", "/api/v1/customers/",
    "/api/v1/customers/{id}/", "/api/v1/customers/{id}/merge/", "/api/v1/customers/merges/{id}/undo/",
    "/api/v1/agents/", "/api/v1/agents/{id}/", "/api/v1/agents/{id}/presence/", "/api/v1/teams/",
    "/api/v1/teams/{id}/", "/api/v1/attachments/{id}/",
]


def test_schema_generates_without_warnings_and_validates(tmp_path: Path) -> None:
    out = tmp_path / "schema.yaml"
    # --fail-on-warn turns any drf-spectacular warning or error into a failure.
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    assert set(MAIN_PATHS) <= set(schema["paths"])
    conversations = schema["paths"]["/api/v1/conversations/"]["get"]
    assert {p["name"] for p in conversations["parameters"]} >= {"status", "channel", "assignee", "team", "customer",
                                                                "cursor"}


@pytest.mark.django_db
def test_schema_and_docs_are_served(org: Org) -> None:
    client = h.client_for(org.alice)
    response = client.get("/api/schema/")
    assert response.status_code == 200 and b"/api/v1/conversations/" in response.content
    assert client.get("/api/docs/").status_code == 200


@pytest.mark.parametrize(("serializer", "event_model"), [
    (MessageSerializer, MessageData), (NoteSerializer, NoteData), (AttachmentSerializer, AttachmentData),
])
def test_documented_fields_are_the_event_fields(serializer: type[Serializer[Any]],
                                                event_model: type[BaseModel]) -> None:
    # Their JSON is built by hub.events.payloads; the declared fields only document it.
    assert list(serializer().fields) == list(event_model.model_fields)


def test_conversation_has_every_event_field() -> None:
    assert set(ConversationData.model_fields) <= set(ConversationSerializer().fields)


@pytest.mark.django_db
def test_conversation_json_agrees_with_the_event_payload(org: Org) -> None:
    conv = h.conversation(org.team_a, name="Ann")
    row = h.client_for(org.alice).get(f"/api/v1/conversations/{conv.pk}/").json()
    event = conversation_data(conv).model_dump(mode="json")
    for key, value in event.items():
        assert row[key] == value, key
