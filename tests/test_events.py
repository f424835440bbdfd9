"""Each action emits exactly the events it should, and each event matches its schema through JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from hub.actions.agents import do_set_presence
from hub.actions.conversations import (
    do_add_note,
    do_assign,
    do_set_priority,
    do_set_status,
    do_set_tags,
    do_transfer,
)
from hub.actions.customers import do_merge_customers, do_unmerge, do_update_customer
from hub.actions.ingestion import do_ingest_call, do_ingest_message
from hub.actions.outbound import do_apply_delivery_status, do_send_reply
from hub.events.schema import EVENT_TYPES, parse_event
from hub.models import Change, Conversation, Customer
from tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def events() -> Iterator[list[dict[str, Any]]]:
    """Collect the events recorded inside the block, each validated after a JSON round trip."""
    before = Change.objects.order_by("-number").values_list("number", flat=True).first() or 0
    found: list[dict[str, Any]] = []
    yield found
    for payload in Change.objects.filter(number__gt=before).order_by("number").values_list("payload", flat=True):
        wire = json.loads(json.dumps(payload))
        parsed = parse_event(wire)
        assert parsed.model_dump(mode="json") == wire
        found.append(wire)


def types(evs: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in evs]


@pytest.fixture
def conv() -> Conversation:
    f.agent("sup", role="supervisor")
    return do_ingest_message(f.account("sms"), f.inbound("hello", name="Ann")).message.conversation


def test_every_event_type_has_a_literal_type_and_round_trips() -> None:
    names = [cls.model_fields["type"].default for cls in EVENT_TYPES]
    assert len(names) == len(set(names))
    assert all(isinstance(n, str) and "." in n for n in names)


def test_ingest_new_conversation() -> None:
    with events() as evs:
        do_ingest_message(f.account("sms"), f.inbound("hi"))
    assert types(evs) == ["conversation.created", "message.created"]
    assert evs[1]["message"]["text"] == "hi" and evs[1]["message"]["direction"] == "in"


def test_ingest_into_open_conversation(conv: Conversation) -> None:
    with events() as evs:
        do_ingest_message(f.account("sms"), f.inbound("again"))
    assert types(evs) == ["message.created"]


def test_ingest_duplicate_emits_nothing(conv: Conversation) -> None:
    pid = conv.messages.get().provider_message_id
    with events() as evs:
        do_ingest_message(f.account("sms"), f.inbound("hello", pid=pid))
    assert evs == []


def test_ingest_reopening(conv: Conversation) -> None:
    do_set_status(None, conv, "resolved")
    with events() as evs:
        do_ingest_message(f.account("sms"), f.inbound("it broke again"))
    assert types(evs) == ["conversation.updated", "message.created"]
    assert evs[0]["conversation"]["status"] == "open"


@pytest.mark.parametrize("status", ["pending", "snoozed"])
def test_customer_message_wakes_a_waiting_conversation(conv: Conversation, status: str) -> None:
    until = timezone.now() + timedelta(hours=2) if status == "snoozed" else None
    do_set_status(None, conv, status, snoozed_until=until)
    with events() as evs:
        do_ingest_message(f.account("sms"), f.inbound("hello? anyone?"))
    assert types(evs) == ["conversation.updated", "message.created"]
    assert evs[0]["conversation"]["status"] == "open" and evs[0]["changed"] == ["status", "snoozed_until"]


def test_snoozed_conversations_wake_when_due(conv: Conversation) -> None:
    from hub import tasks

    do_set_status(None, conv, "snoozed", snoozed_until=timezone.now() + timedelta(seconds=30))
    assert tasks.wake_snoozed.run() == 0
    Conversation.objects.filter(pk=conv.pk).update(snoozed_until=timezone.now() - timedelta(seconds=1))
    with events() as evs:
        assert tasks.wake_snoozed.run() == 1
    assert types(evs) == ["conversation.updated"] and evs[0]["conversation"]["status"] == "open"


def test_call_events(conv: Conversation) -> None:
    from connectors.base import CallEvent, Sender

    caller = Sender("phone", "+14155550100")
    with events() as evs:
        do_ingest_call(f.account("voice"), CallEvent("CA1", caller, "ringing"))
        do_ingest_call(f.account("voice"), CallEvent("CA1", caller, "completed", duration_seconds=93,
                                                     transcript="hello"))
        do_ingest_call(f.account("voice"), CallEvent("CA1", caller, "completed", duration_seconds=93))
    assert types(evs) == ["conversation.created", "message.created", "message.updated"]
    assert evs[1]["message"]["kind"] == "call"
    assert evs[2]["message"]["text"] == "hello"


def test_reply_assigns_and_queues(conv: Conversation) -> None:
    agent = f.agent("ann")
    with events() as evs:
        do_send_reply(agent, conv, "On it")
    # assigned (first responder owns it), message created queued, then (sync task mode) sent by the log connector
    assert types(evs) == ["conversation.assigned", "message.created", "message.status"]
    assert evs[1]["message"]["status"] == "queued"
    assert evs[2]["status"] == "sent"


def test_reply_on_assigned_conversation(conv: Conversation) -> None:
    agent = f.agent("ann")
    do_assign(agent, conv, agent)
    with events() as evs:
        do_send_reply(agent, conv, "Again")
    assert types(evs) == ["message.created", "message.status"]


def test_delivery_status_moves_forward_only(conv: Conversation) -> None:
    agent = f.agent("ann")
    msg = do_send_reply(agent, conv, "x")
    msg.refresh_from_db()
    acc = msg.channel_account
    with events() as evs:
        do_apply_delivery_status(acc, msg.provider_message_id or "", "delivered")
        do_apply_delivery_status(acc, msg.provider_message_id or "", "delivered")
        do_apply_delivery_status(acc, msg.provider_message_id or "", "sent")
        do_apply_delivery_status(acc, msg.provider_message_id or "", "read")
    assert types(evs) == ["message.status", "message.status"]
    assert [e["status"] for e in evs] == ["delivered", "read"]


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (lambda c, a: do_assign(a, c, a), ["conversation.assigned"]),
        (lambda c, a: do_set_status(a, c, "resolved"), ["conversation.updated"]),
        (lambda c, a: do_set_status(a, c, "snoozed", snoozed_until=timezone.now() + timedelta(hours=1)),
         ["conversation.updated"]),
        (lambda c, a: do_set_status(a, c, "open"), []),
        (lambda c, a: do_set_tags(a, c, ["refund", "vip"]), ["conversation.updated"]),
        (lambda c, a: do_set_priority(a, c, priority=3, escalated=True), ["conversation.updated"]),
        (lambda c, a: do_add_note(a, c, "call back tomorrow"), ["note.created"]),
        (lambda c, a: do_transfer(a, c, team=f.team("Billing")), ["conversation.assigned"]),
    ],
)
def test_conversation_actions(conv: Conversation, action: Callable[[Conversation, Any], object],
                              expected: list[str]) -> None:
    agent = f.agent("ann")
    with events() as evs:
        action(conv, agent)
    assert types(evs) == expected


def test_presence() -> None:
    agent = f.agent("ann", presence="offline")
    with events() as evs:
        do_set_presence(agent, agent.agent, "available")
        do_set_presence(agent, agent.agent, "available")
    assert types(evs) == ["presence.changed"]


def test_customer_update_merge_unmerge(conv: Conversation) -> None:
    sup = f.agent("boss", role="supervisor")
    other = do_ingest_message(f.account("email"), f.inbound("mail", kind="email", address="ann@example.com"))
    source = other.message.conversation.customer
    target = conv.customer
    with events() as evs:
        do_update_customer(sup, target, {"value_tier": "vip"}, tags=["loyal"])
        merge = do_merge_customers(sup, source, target)
        do_unmerge(sup, merge)
    assert types(evs) == ["customer.updated", "customers.merged", "customers.merged"]
    assert evs[1]["undone"] is False and evs[2]["undone"] is True
    assert Customer.objects.get(pk=source.pk).merged_into_id is None
