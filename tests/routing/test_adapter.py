"""Routing on the database: conversations arriving through ingestion are offered or assigned, offers are
answered, expire and are withdrawn, capacity is counted from the database, and every step is an event."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from hub.actions import ActionError
from hub.actions.agents import do_set_presence
from hub.actions.conversations import do_assign, do_set_status, do_transfer
from hub.actions.ingestion import do_ingest_message
from hub.actions.outbound import do_send_reply
from hub.actions.routing import do_accept_offer, do_decline_offer
from hub.events.schema import parse_event
from hub.models import AgentProfile, Change, Conversation, Message, RoutingEntry, RoutingOffer, RoutingQueue
from routing import adapter
from tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)


def agent(name: str, presence: str = "available", **kw: Any) -> User:
    user = f.agent(name, **kw)
    do_set_presence(None, user.agent, presence)  # type: ignore[attr-defined]
    return user  # type: ignore[return-value]


def chat(address: str = "visitor-1", text: str = "hello") -> Conversation:
    """A web chat conversation (chat is offered, not auto-assigned)."""
    inbound = f.inbound(text, kind="webchat", address=address)
    return do_ingest_message(f.account("webchat"), inbound).message.conversation


def sms(number: str = "+14155550100") -> Conversation:
    return do_ingest_message(f.account("sms"), f.inbound("hi", address=number)).message.conversation


def offer_of(conv: Conversation) -> RoutingOffer:
    return RoutingOffer.objects.filter(conversation=conv).latest("id")


def events_for(user: User, after: int = 0) -> list[dict[str, Any]]:
    from hub.models import EventDelivery

    rows = (EventDelivery.objects.filter(recipient=user, change__number__gt=after).order_by("seq")
            .values_list("change__payload", flat=True))
    out = []
    for payload in rows:
        wire = json.loads(json.dumps(payload))
        assert parse_event(wire).model_dump(mode="json") == wire
        out.append(wire)
    return out


def last_change() -> int:
    return Change.objects.order_by("-number").values_list("number", flat=True).first() or 0


def later(seconds: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=seconds)


def test_a_chat_is_offered_and_accepting_assigns_it() -> None:
    alice = agent("alice")
    before = last_change()
    conv = chat()
    offer = offer_of(conv)
    assert offer.agent == alice and offer.outcome == "pending"
    assert (offer.expires_at - offer.created_at).total_seconds() == pytest.approx(30)
    assert RoutingEntry.objects.get(pk=conv.pk).state == "offered"
    created = [e for e in events_for(alice, before) if e["type"] == "offer.created"]
    assert created[0]["offer_id"] == offer.pk and created[0]["conversation"]["id"] == conv.pk
    assert Conversation.objects.get(pk=conv.pk).first_queued_at is not None

    before = last_change()
    answer = do_accept_offer(alice, offer.pk)
    assert answer.conversation is not None and answer.conversation.assignee == alice
    conv.refresh_from_db()
    assert conv.assignee == alice and conv.queue is not None
    assert not RoutingEntry.objects.filter(pk=conv.pk).exists()
    assert [e["type"] for e in events_for(alice, before)] == ["conversation.assigned", "offer.closed"]
    with pytest.raises(ActionError, match="no longer open"):
        do_accept_offer(alice, offer.pk)


def test_an_accept_reads_the_conversation_once_and_writes_it_once() -> None:
    """The conversation is locked and read with the offer's entry; the assignment (with the queue it was
    answered from) is one UPDATE, with no savepoint and no second read of the row."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    alice = agent("alice")
    conv = chat()
    offer = offer_of(conv)
    with CaptureQueriesContext(connection) as queries:
        do_accept_offer(alice, offer.pk)
    sqls = [" ".join(q["sql"].split()) for q in queries.captured_queries]
    sqls = sqls[:sqls.index("COMMIT")]  # the routing task that runs after the commit (sync in tests) reads it
    reads = [s for s in sqls if s.startswith("SELECT") and 'FROM "hub_conversation"' in s]
    writes = [s for s in sqls if s.startswith('UPDATE "hub_conversation"')]
    assert reads == [] and len(writes) == 1, sqls  # read in the entry's join, written once
    assert not any(s.startswith(("SAVEPOINT", "RELEASE")) for s in sqls), sqls
    conv.refresh_from_db()
    assert conv.assignee == alice and conv.queue_id is not None and conv.queue_id == offer.queue_id
    assert conv.customer.display_name  # the events named them, read without a query of their own


def test_assign_locked_refuses_to_run_outside_a_transaction() -> None:
    from hub.actions.conversations import assign_locked

    with pytest.raises(RuntimeError, match="needs the transaction"):
        assign_locked(None, chat(), agent("alice"))


def test_an_arrival_reads_the_conversation_once_and_a_first_contact_has_no_sticky_agent() -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    conv = chat("new-visitor")  # nobody signed in: it waits
    RoutingEntry.objects.filter(pk=conv.pk).delete()
    with CaptureQueriesContext(connection) as queries:
        adapter.conversation_needs_agent(conv.pk)
    sqls = [" ".join(q["sql"].split()) for q in queries.captured_queries]
    sqls = sqls[:sqls.index("COMMIT")]  # the arrival's transaction; its round follows
    reads = [s for s in sqls if s.startswith("SELECT") and 'FROM "hub_conversation"' in s]
    assert len(reads) == 1, sqls  # locked, with the customer and any routing entry
    assert RoutingEntry.objects.get(pk=conv.pk).sticky_agent_id is None


def test_a_returning_customer_waits_for_the_agent_who_last_handled_them(settings: Any) -> None:
    settings.HUB_REOPEN_WINDOW_HOURS = 0  # a new conversation, not the first one reopened
    alice = agent("alice")
    first = chat("returning")
    do_accept_offer(alice, offer_of(first).pk)
    do_set_status(alice, Conversation.objects.get(pk=first.pk), "resolved")
    do_set_presence(None, alice.agent, "away")  # type: ignore[attr-defined]
    agent("bob", presence="away")
    again = chat("returning", text="me again")
    assert again.pk != first.pk
    assert RoutingEntry.objects.get(pk=again.pk).sticky_agent_id == alice.pk
    again_entry = RoutingEntry.objects.get(pk=again.pk)
    RoutingEntry.objects.filter(pk=again.pk).delete()
    adapter.conversation_needs_agent(again.pk)  # entering again reads the same
    assert RoutingEntry.objects.get(pk=again.pk).sticky_agent_id == again_entry.sticky_agent_id


def test_another_agents_offer_cannot_be_answered() -> None:
    agent("alice")
    bob = agent("bob", presence="away")
    conv = chat()
    with pytest.raises(ActionError, match="no such offer"):
        do_accept_offer(bob, offer_of(conv).pk)


def test_sms_and_email_are_assigned_without_an_offer() -> None:
    alice = agent("alice")
    conv = sms()
    conv.refresh_from_db()
    assert conv.assignee == alice
    assert not RoutingOffer.objects.exists()


def test_decline_goes_to_the_next_agent() -> None:
    alice = agent("alice")
    bob = agent("bob")
    conv = chat()
    first = offer_of(conv)
    do_decline_offer(first.agent, first.pk)
    second = offer_of(conv)
    assert {first.agent_id, second.agent_id} == {alice.pk, bob.pk}
    assert RoutingOffer.objects.get(pk=first.pk).outcome == "declined"


def test_expired_offers_move_on_and_three_misses_set_the_agent_away() -> None:
    alice = agent("alice")
    conv = chat("v1")
    first = offer_of(conv)
    assert adapter.route(later(31)) >= 1
    assert RoutingOffer.objects.get(pk=first.pk).outcome == "expired"
    assert AgentProfile.objects.get(user=alice).missed_offers == 1
    bob = agent("bob")
    assert offer_of(conv).agent == bob  # alice is skipped for this conversation
    for n, address in ((2, "v2"), (3, "v3")):
        other = chat(address)
        pending = RoutingOffer.objects.filter(conversation=other, agent=alice, outcome="pending")
        assert pending.exists()
        adapter.route(later(31 * n))
    alice.agent.refresh_from_db()  # type: ignore[attr-defined]
    assert alice.agent.presence == "away" and alice.agent.missed_offers == 3  # type: ignore[attr-defined]


def test_accepting_after_expiry_is_refused() -> None:
    alice = agent("alice")
    conv = chat()
    offer = offer_of(conv)
    with pytest.raises(ActionError, match="expired"):
        do_accept_offer(alice, offer.pk, now=later(40))


def test_capacity_is_counted_from_the_database() -> None:
    alice = agent("alice")
    AgentProfile.objects.filter(user=alice).update(capacity={"sms": 2})
    convs = [sms(f"+1415555010{i}") for i in range(3)]
    assigned = [c.pk for c in Conversation.objects.filter(assignee=alice)]
    assert len(assigned) == 2
    waiting = [c for c in convs if c.pk not in assigned]
    assert RoutingEntry.objects.get(pk=waiting[0].pk).state == "waiting"
    # Resolving one frees a place: the waiting conversation is assigned at once.
    do_set_status(alice, Conversation.objects.get(pk=assigned[0]), "resolved")
    assert Conversation.objects.get(pk=waiting[0].pk).assignee == alice
    assert Conversation.objects.filter(assignee=alice, status="open").count() == 2


def test_a_voice_call_blocks_other_work() -> None:
    alice = agent("alice")
    RoutingQueue.objects.create(name="Calls", channels=["voice"], order=0, auto_assign_channels=["voice", "sms"])
    call = do_ingest_message(f.account("voice"), f.inbound("call", address="+14155550111")).message.conversation
    assert Conversation.objects.get(pk=call.pk).assignee == alice
    text = sms("+14155550122")
    assert Conversation.objects.get(pk=text.pk).assignee is None


def test_going_offline_hands_back_unanswered_conversations() -> None:
    alice = agent("alice")
    answered, unanswered = sms("+14155550101"), sms("+14155550102")
    do_send_reply(alice, answered, "On it")
    bob = agent("bob", presence="away")
    do_set_presence(None, bob.agent, "available")  # type: ignore[attr-defined]
    do_set_presence(alice, alice.agent, "offline")  # type: ignore[attr-defined]
    assert Conversation.objects.get(pk=answered.pk).assignee == alice
    assert Conversation.objects.get(pk=unanswered.pk).assignee == bob


def test_going_away_withdraws_the_pending_offer() -> None:
    alice = agent("alice")
    conv = chat()
    offer = offer_of(conv)
    do_set_presence(alice, alice.agent, "away")  # type: ignore[attr-defined]
    assert RoutingOffer.objects.get(pk=offer.pk).outcome == "withdrawn"
    assert RoutingEntry.objects.get(pk=conv.pk).state == "waiting"
    assert AgentProfile.objects.get(user=alice).missed_offers == 0


def test_assigning_by_hand_takes_the_conversation_out_of_routing() -> None:
    alice = agent("alice")
    sue = f.agent("sue", role="supervisor")
    conv = chat()
    offer = offer_of(conv)
    do_assign(sue, conv, sue)
    adapter.route()
    assert not RoutingEntry.objects.filter(pk=conv.pk).exists()
    assert RoutingOffer.objects.get(pk=offer.pk).outcome == "withdrawn"
    assert AgentProfile.objects.get(user=alice).missed_offers == 0


def test_resolving_a_waiting_conversation_withdraws_its_offer() -> None:
    alice = agent("alice")
    conv = chat()
    offer = offer_of(conv)
    do_set_status(alice, conv, "resolved")
    assert RoutingOffer.objects.get(pk=offer.pk).outcome == "withdrawn"
    assert not RoutingEntry.objects.exists()


def test_out_of_hours_answers_once_and_waits_for_opening() -> None:
    now = timezone.now()
    closed_all_week = {"timezone": "UTC", "weekly": {}}
    RoutingQueue.objects.create(name="Office", order=0, hours=closed_all_week,
                                out_of_hours_message="We are closed; we answer from 9:00. 我们9点开始服务。")
    agent("alice")
    conv = sms()
    entry = RoutingEntry.objects.get(pk=conv.pk)
    assert entry.state == "out_of_hours" and entry.out_of_hours_answered
    auto = Message.objects.get(conversation=conv, direction="out")
    assert auto.author_kind == "system" and "我们9点" in auto.text and auto.metadata["auto_reply"] is True
    assert Conversation.objects.get(pk=conv.pk).first_response_at is None
    sms()  # a second message from the same customer: no second automatic answer
    assert Message.objects.filter(conversation=conv, direction="out").count() == 1
    RoutingQueue.objects.filter(name="Office").update(hours={"timezone": "UTC", "weekly": {
        str(now.weekday()): [[0, 24 * 60]], str((now.weekday() + 1) % 7): [[0, 24 * 60]]}})
    adapter.route()
    assert Conversation.objects.get(pk=conv.pk).assignee is not None


def test_overflow_to_another_queue() -> None:
    billing_team = f.team("Billing")
    general = adapter.ensure_default_queue()
    RoutingQueue.objects.create(name="Billing", order=0, team=billing_team, overflow_to=general, overflow_after=60)
    alice = agent("alice", presence="away")  # not in the billing team
    conv = do_ingest_message(f.account("sms"), f.inbound("refund?")).message.conversation
    Conversation.objects.filter(pk=conv.pk).update(team=billing_team)  # as a team rule would
    RoutingEntry.objects.all().delete()
    adapter.conversation_needs_agent(conv.pk)
    assert RoutingEntry.objects.get(pk=conv.pk).queue.name == "Billing"
    do_set_presence(alice, alice.agent, "available")  # type: ignore[attr-defined]
    assert Conversation.objects.get(pk=conv.pk).assignee is None
    adapter.route(later(61))
    assert RoutingEntry.objects.filter(pk=conv.pk).count() == 0
    assert Conversation.objects.get(pk=conv.pk).assignee == alice


def test_returning_customer_goes_to_their_last_agent() -> None:
    alice = agent("alice")
    first = chat("returning")
    do_accept_offer(alice, offer_of(first).pk)
    do_set_status(alice, first, "resolved")
    agent("bob")  # now longer idle than alice, who just worked
    Conversation.objects.filter(pk=first.pk).update(resolved_at=timezone.now() - dt.timedelta(days=30))
    with_override = dict(HUB_REOPEN_WINDOW_HOURS=0)
    from django.test import override_settings

    with override_settings(**with_override):
        second = chat("returning", "me again")
    assert second.pk != first.pk
    assert offer_of(second).agent == alice


def test_a_conversation_left_in_a_deactivated_queue_is_placed_again() -> None:
    side = RoutingQueue.objects.create(name="Side", order=0)
    conv = sms()  # nobody available: it waits in "Side", the first queue that takes it
    assert RoutingEntry.objects.get(pk=conv.pk).queue == side
    RoutingQueue.objects.filter(pk=side.pk).update(active=False)  # behind the actions' back, as in a race
    alice = agent("alice")
    assert Conversation.objects.get(pk=conv.pk).assignee == alice


def test_a_request_already_served_by_a_later_round_is_skipped() -> None:
    """A worker working through a backlog of round requests runs one round for all of them."""
    import time

    asked = time.time()
    conv = sms()  # its own round starts after `asked`; nobody is available yet
    alice = agent("alice", presence="away")
    AgentProfile.objects.filter(user=alice).update(presence="available")  # behind routing's back
    assert adapter.route(requested_at=asked) == 0  # a round began after the request: nothing to do
    assert Conversation.objects.get(pk=conv.pk).assignee is None
    assert adapter.route(requested_at=time.time()) == 1
    assert Conversation.objects.get(pk=conv.pk).assignee == alice


def test_moving_a_conversation_to_a_queue() -> None:
    from hub.actions.routing import do_move_to_queue

    vip_team = f.team("VIP")
    vip = RoutingQueue.objects.create(name="VIP", order=5, team=vip_team)
    alice = agent("alice")
    bob = agent("bob", presence="away", teams=[vip_team])
    conv = chat()
    offer = offer_of(conv)
    assert offer.agent == alice  # General queue: alice is the only one available
    do_move_to_queue(alice, conv, vip)  # an agent sends it to the VIP line
    assert RoutingOffer.objects.get(pk=offer.pk).outcome == "withdrawn"
    entry = RoutingEntry.objects.get(pk=conv.pk)
    assert entry.queue == vip and entry.state == "waiting"  # alice is not in the VIP team
    do_set_presence(bob, bob.agent, "available")  # type: ignore[attr-defined]
    do_accept_offer(bob, offer_of(conv).pk)
    # Assigned, then moved back to General: unassigned and in line there.
    do_move_to_queue(bob, conv, adapter.ensure_default_queue())
    conv.refresh_from_db()
    assert conv.assignee is None or conv.assignee == alice
    assert offer_of(conv).agent == alice
    with pytest.raises(ActionError, match="not active"):
        RoutingQueue.objects.filter(pk=vip.pk).update(active=False)
        do_move_to_queue(bob, conv, RoutingQueue.objects.get(pk=vip.pk))


def test_a_late_presence_task_does_not_undo_a_newer_presence() -> None:
    alice = agent("alice")
    conv = chat()
    offer = offer_of(conv)
    # The task for an "away" that was already reversed (away, then available again) runs late.
    adapter.agent_presence_changed(alice.pk, "away")
    assert RoutingOffer.objects.get(pk=offer.pk).outcome == "pending"


def test_an_offer_left_in_a_deactivated_queue_is_withdrawn_and_the_conversation_placed_again() -> None:
    side = RoutingQueue.objects.create(name="Side", order=0)
    alice = agent("alice")
    conv = chat()
    offer = offer_of(conv)
    assert RoutingEntry.objects.get(pk=conv.pk).queue == side
    RoutingQueue.objects.filter(pk=side.pk).update(active=False)  # behind the actions' back
    adapter.route()
    assert RoutingOffer.objects.get(pk=offer.pk).outcome == "withdrawn"
    adapter.route()
    assert RoutingEntry.objects.get(pk=conv.pk).queue.name == "General"
    assert offer_of(conv).agent == alice and offer_of(conv).pk != offer.pk


def test_a_customer_writing_into_a_snoozed_conversation_puts_it_back_in_line() -> None:
    alice = agent("alice")
    do_set_presence(None, alice.agent, "away")  # type: ignore[attr-defined]
    conv = chat("visitor-9")
    assert RoutingEntry.objects.filter(pk=conv.pk).exists()
    do_set_status(alice, conv, "snoozed", snoozed_until=later(3600))
    assert not RoutingEntry.objects.filter(pk=conv.pk).exists()  # it waits for its time, not for an agent
    do_set_presence(None, alice.agent, "available")  # type: ignore[attr-defined]
    assert not RoutingOffer.objects.filter(conversation=conv).exists()
    again = chat("visitor-9", "are you there?")
    assert again.pk == conv.pk and Conversation.objects.get(pk=conv.pk).status == "open"
    assert offer_of(conv).agent == alice and offer_of(conv).outcome == "pending"


def test_a_waiting_conversation_transferred_to_another_team_moves_to_that_teams_queue() -> None:
    sales, support = f.team("Sales"), f.team("Support")
    RoutingQueue.objects.create(name="Sales", order=0, team=sales)
    RoutingQueue.objects.create(name="Support", order=1, team=support)
    seller = agent("seller", teams=[sales], presence="away")
    helper = agent("helper", teams=[support])
    ringing = chat("visitor-1")  # no team: the default queue; offered to whoever is free
    do_accept_offer(helper, offer_of(ringing).pk)
    conv = chat("visitor-2")
    Conversation.objects.filter(pk=conv.pk).update(team=sales)  # as a team rule would
    RoutingEntry.objects.filter(pk=conv.pk).delete()
    adapter.conversation_needs_agent(conv.pk)
    entry = RoutingEntry.objects.get(pk=conv.pk)
    assert entry.queue.name == "Sales" and entry.state == "waiting"  # the seller is away
    arrived = entry.arrived_at

    do_transfer(seller, Conversation.objects.get(pk=conv.pk), team=support)
    entry = RoutingEntry.objects.get(pk=conv.pk)
    assert entry.queue.name == "Support" and entry.arrived_at == arrived  # keeps its place by arrival
    assert offer_of(conv).agent == helper  # support's agent, who has chat room left


def test_raising_an_agents_capacity_or_granting_a_skill_offers_waiting_work_at_once() -> None:
    from hub.actions.agents import do_update_agent_routing

    alice = agent("alice")
    do_update_agent_routing(None, alice.agent, capacity={"webchat": 1})  # type: ignore[attr-defined]
    first = chat("visitor-1")
    do_accept_offer(alice, offer_of(first).pk)
    second = chat("visitor-2")
    assert not RoutingOffer.objects.filter(conversation=second).exists()  # she is full
    do_update_agent_routing(None, alice.agent, capacity={"webchat": 2})  # type: ignore[attr-defined]
    assert offer_of(second).agent == alice and offer_of(second).outcome == "pending"

    RoutingQueue.objects.create(name="Billing", order=0, channels=["sms"], required_skills={"billing": 3})
    refund = sms()
    assert RoutingEntry.objects.get(pk=refund.pk).queue.name == "Billing"
    assert Conversation.objects.get(pk=refund.pk).assignee is None  # she lacks the skill
    do_update_agent_routing(None, alice.agent, skills={"billing": 3})  # type: ignore[attr-defined]
    assert Conversation.objects.get(pk=refund.pk).assignee == alice  # SMS is assigned without an offer
