"""The inbox's own reads: GET /api/v1/inbox/ (list rows with unread, waiting time, snippet) and
GET /api/v1/conversations/<id>/timeline/ (the customer's whole cross-channel history)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache

from hub.actions.conversations import do_add_note, do_assign, do_set_status
from hub.actions.customers import do_merge_customers
from hub.actions.outbound import do_send_reply
from hub.models import Conversation, Message, Team
from tests.api import helpers as h

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttle() -> Any:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def teams() -> tuple[Team, Team]:
    return Team.objects.create(name="A"), Team.objects.create(name="B")


def rows(user: Any, which: str, **params: str) -> dict[int, dict[str, Any]]:
    return {r["id"]: r for r in h.results(h.client_for(user).get("/api/v1/inbox/", {"list": which, **params}))}


def test_the_four_lists(teams: tuple[Team, Team]) -> None:
    a, b = teams
    alice, sue = h.agent("alice", teams=[a]), h.agent("sue", role="supervisor")
    mine = h.conversation(a, text="mine")
    do_assign(sue, mine, alice)
    waiting_a = h.conversation(a, text="waiting in A")
    shared = h.conversation(None, text="no team")
    other = h.conversation(b, text="B's")
    assert set(rows(alice, "mine")) == {mine.pk}
    assert set(rows(alice, "unassigned")) == {waiting_a.pk, shared.pk}
    assert set(rows(alice, "teams")) == {mine.pk, waiting_a.pk}
    assert h.client_for(alice).get("/api/v1/inbox/", {"list": "all"}).status_code == 403
    assert set(rows(sue, "all")) == {mine.pk, waiting_a.pk, shared.pk, other.pk}
    assert h.client_for(alice).get("/api/v1/inbox/", {"list": "everything"}).status_code == 400
    do_set_status(alice, mine, Conversation.Status.RESOLVED)
    assert rows(alice, "mine") == {}
    assert set(rows(alice, "mine", status="resolved")) == {mine.pk}


def test_a_row_has_snippet_waiting_time_and_unread(teams: tuple[Team, Team]) -> None:
    alice = h.agent("alice", teams=[teams[0]])
    conv = h.conversation(teams[0], text="My   card was\ncharged twice " + "x" * 300)
    row = rows(alice, "unassigned")[conv.pk]
    first_in = Message.objects.get(conversation=conv)
    assert row["snippet"]["text"].startswith("My card was") and len(row["snippet"]["text"]) == 140
    assert row["snippet"]["direction"] == "in" and row["snippet"]["channel"] == "sms"
    assert row["waiting_since"].replace("Z", "+00:00") == first_in.created_at.isoformat()
    assert row["unread"] == 1 and row["customer_name"] == conv.customer.display_name
    do_send_reply(alice, conv, "On it")
    row = rows(alice, "mine")[conv.pk]  # replying took it
    assert row["waiting_since"] is None
    assert row["snippet"] == {**row["snippet"], "text": "On it", "direction": "out"}


def test_timeline_spans_the_customers_conversations_and_channels(teams: tuple[Team, Team]) -> None:
    a, b = teams
    alice = h.agent("alice", teams=[a])
    sms = h.conversation(a, text="by sms", address="+14155550123", name="Li Wei")
    mail = h.conversation(a, channel="email", kind="email", address="li@example.com", text="by mail",
                          metadata={"quoted_text": "> earlier", "to": ["help@x"]})
    do_merge_customers(h.agent("sue", role="supervisor"), mail.customer, sms.customer)
    hidden = h.conversation(b, channel="slack", kind="slack", address="U123", text="hidden from A")
    do_merge_customers(h.agent("sam", role="supervisor"), hidden.customer, sms.customer)
    do_add_note(alice, mail, "a note")
    response = h.client_for(alice).get(f"/api/v1/conversations/{sms.pk}/timeline/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [c["id"] for c in body["conversations"]] == [sms.pk, mail.pk]
    assert [(m["text"], m["channel"], m["conversation_id"]) for m in body["messages"]] == [
        ("by sms", "sms", sms.pk), ("by mail", "email", mail.pk)]
    assert body["messages"][1]["extra"]["quoted_text"] == "> earlier"
    assert [n["text"] for n in body["notes"]] == ["a note"] and body["truncated"] is False
    assert h.client_for(h.agent("bob", teams=[b])).get(
        f"/api/v1/conversations/{sms.pk}/timeline/").status_code == 404
