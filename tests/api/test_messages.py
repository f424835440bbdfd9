"""A conversation's timeline through the API: reading, replying (the outbox) and internal notes."""

from __future__ import annotations

from typing import Any

import pytest

from hub.actions.ingestion import do_ingest_message
from hub.models import ChannelAccount, Conversation, Message, Note
from tests import factories as f
from tests.api import helpers as h
from tests.api.conftest import Org

# Transactional: a reply is delivered by a task that starts when the action commits.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def conv(org: Org) -> Conversation:
    return h.conversation(org.team_a, text="Where is my parcel?", address="+14155550100", name="Ann")


def messages_url(conv: Conversation) -> str:
    return f"/api/v1/conversations/{conv.pk}/messages/"


def test_messages_are_listed_oldest_first_with_the_event_shape(org: Org, conv: Conversation) -> None:
    do_ingest_message(conv.channel_account, f.inbound("Hello?", address="+14155550100"))
    rows = h.results(h.client_for(org.alice).get(messages_url(conv)))
    assert [r["text"] for r in rows] == ["Where is my parcel?", "Hello?"]
    first = rows[0]
    assert first["direction"] == "in" and first["author_kind"] == "customer" and first["author_name"] == "Ann"
    assert first["status"] == "received" and first["channel"] == "sms" and first["attachments"] == []


def test_messages_paginate_without_duplicates(org: Org, conv: Conversation) -> None:
    for i in range(6):
        do_ingest_message(conv.channel_account, f.inbound(f"m{i}", address="+14155550100"))
    client = h.client_for(org.alice)
    seen: list[str] = []
    url: str | None = messages_url(conv) + "?page_size=3"
    while url:
        body = client.get(url).json()
        seen += [row["text"] for row in body["results"]]
        url = body["next"]
    assert seen == ["Where is my parcel?"] + [f"m{i}" for i in range(6)]


def test_reply_is_queued_then_delivered(org: Org, conv: Conversation) -> None:
    response = h.client_for(org.alice).post(messages_url(conv), {"text": "It ships today"}, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "queued" and data["direction"] == "out" and data["author_kind"] == "agent"
    assert data["author_id"] == org.alice.pk and data["author_name"] == "Alice" and data["text"] == "It ships today"
    # Tasks run at commit in the tests: the log connector has delivered it by now.
    message = Message.objects.get(pk=data["id"])
    assert message.status == "sent" and message.provider_message_id
    assert message.metadata["to"] == "+14155550100"
    conv.refresh_from_db()
    assert conv.assignee_id == org.alice.pk  # answering an unassigned conversation takes it


def test_reply_is_idempotent_on_client_id(org: Org, conv: Conversation) -> None:
    client = h.client_for(org.alice)
    body = {"text": "Only once", "client_id": "c-123"}
    first = client.post(messages_url(conv), body, format="json")
    second = client.post(messages_url(conv), body, format="json")
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert Message.objects.filter(direction="out").count() == 1


def test_client_id_reused_on_another_conversation_is_400(org: Org, conv: Conversation) -> None:
    other = h.conversation(org.team_a)
    client = h.client_for(org.alice)
    assert client.post(messages_url(conv), {"text": "a", "client_id": "k"}, format="json").status_code == 201
    response = client.post(messages_url(other), {"text": "b", "client_id": "k"}, format="json")
    assert response.status_code == 400 and "client_id" in response.json()


def test_reply_on_another_of_the_customers_channels(org: Org, conv: Conversation) -> None:
    voice = f.account("voice")
    response = h.client_for(org.alice).post(messages_url(conv), {"text": "Calling you", "channel_account": voice.pk},
                                            format="json")
    assert response.status_code == 201, response.content
    assert response.json()["channel"] == "voice" and response.json()["channel_account_id"] == voice.pk


def test_reply_on_a_channel_the_customer_has_no_address_on_is_400(org: Org, conv: Conversation) -> None:
    email = f.account("email")
    response = h.client_for(org.alice).post(messages_url(conv), {"text": "Hi", "channel_account": email.pk},
                                            format="json")
    assert response.status_code == 400
    assert response.json() == {"channel_account": ["the customer has no email address to reply to on email"]}


def test_reply_on_a_disabled_account_is_400(org: Org, conv: Conversation) -> None:
    ChannelAccount.objects.filter(pk=conv.channel_account_id).update(active=False)
    response = h.client_for(org.alice).post(messages_url(conv), {"text": "Hi"}, format="json")
    assert response.status_code == 400 and "channel_account" in response.json()


@pytest.mark.parametrize(("body", "field"), [
    ({}, "text"),
    ({"text": ""}, "text"),
    ({"text": "   "}, "text"),
    ({"text": None}, "text"),
    ({"text": "hi", "client_id": ""}, "client_id"),
    ({"text": "hi", "client_id": "x" * 65}, "client_id"),
    ({"text": "hi", "channel_account": 999999}, "channel_account"),
    ({"text": "hi", "channel_account": "sms"}, "channel_account"),
])
def test_bad_reply_is_400(org: Org, conv: Conversation, body: dict[str, object], field: str) -> None:
    response = h.client_for(org.alice).post(messages_url(conv), body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Message.objects.filter(direction="out").exists()


def test_non_json_body_is_400(org: Org, conv: Conversation) -> None:
    response = h.client_for(org.alice).post(messages_url(conv), "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()


def test_notes(org: Org, conv: Conversation) -> None:
    client = h.client_for(org.alice)
    url = f"/api/v1/conversations/{conv.pk}/notes/"
    response = client.post(url, {"text": "Customer sounds upset"}, format="json")
    assert response.status_code == 201
    data = response.json()
    assert data["text"] == "Customer sounds upset" and data["author_id"] == org.alice.pk
    assert data["author_name"] == "Alice" and data["conversation_id"] == conv.pk
    client.post(url, {"text": "Refund approved"}, format="json")
    assert [n["text"] for n in h.results(client.get(url))] == ["Customer sounds upset", "Refund approved"]
    assert Note.objects.count() == 2
    # A note is never sent to the customer.
    assert not Message.objects.filter(direction="out").exists()


def test_note_needs_text(org: Org, conv: Conversation) -> None:
    response = h.client_for(org.alice).post(f"/api/v1/conversations/{conv.pk}/notes/", {"text": " "},
                                            format="json")
    assert response.status_code == 400 and "text" in response.json()


def test_a_page_of_messages_costs_the_same_queries_whatever_its_size(org: Org, conv: Conversation,
                                                                       django_assert_max_num_queries: Any) -> None:
    client = h.client_for(org.alice)
    with django_assert_max_num_queries(8):
        client.get(messages_url(conv))
    for i in range(10):
        do_ingest_message(conv.channel_account, f.inbound(f"m{i}", address="+14155550100"))
        client.post(messages_url(conv), {"text": f"r{i}"}, format="json")
    with django_assert_max_num_queries(8):
        assert len(h.results(client.get(messages_url(conv)))) == 21
