"""The engine a routing process keeps between rounds (routing/live.py): each event brings it to what a
reload from the database would read, applying one twice changes nothing, and whatever it cannot know
makes the next round reload."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User

from hub.actions.agents import do_set_presence
from hub.actions.conversations import do_assign, do_set_status, do_wake_snoozed
from hub.actions.ingestion import do_ingest_message
from hub.actions.routing import do_accept_offer, do_decline_offer
from hub.models import AgentProfile, Conversation, RoutingEntry, RoutingOffer
from routing import adapter
from routing.core import ASSIGNED, OFFERED, WAITING, Agent, Contact, Engine, Entry, Queue
from routing.live import (
    ContactChanged,
    Declined,
    EnteredQueue,
    Held,
    LeftRouting,
    LiveEngine,
    Reload,
    apply_event,
)
from tests import factories as f

# --- the events, on the engine alone ------------------------------------------------------------------------


def engine_with(*agents: int, chat_capacity: int = 2) -> Engine:
    engine = Engine([Queue(1, "General")])
    for aid in agents:
        engine.set_agent(Agent(aid, "available", frozenset(), {}, {"webchat": chat_capacity}, 0.0, 0.0, 0), 0.0)
    return engine


def waiting(cid: int, queue_id: int = 1) -> Entry:
    return Entry(Contact(cid, "webchat", 10.0), queue_id, 10.0, WAITING)


def test_a_conversation_entering_a_queue_joins_the_line_once() -> None:
    engine = engine_with(7)
    assert apply_event(engine, EnteredQueue(waiting(1)), 11.0)
    assert apply_event(engine, EnteredQueue(waiting(1)), 12.0)  # a repeat (a reload already read it)
    assert engine.waiting(1) == [1]
    assert not apply_event(engine, EnteredQueue(waiting(2, queue_id=99)), 12.0)  # a queue it has not loaded


def test_an_accepted_offer_becomes_load_and_a_resolve_gives_the_room_back() -> None:
    engine = engine_with(7, chat_capacity=1)
    apply_event(engine, EnteredQueue(waiting(1)), 11.0)
    assert len(engine.tick(11.0)) == 1
    assert engine.entries[1].state == OFFERED and engine.agents[7].offer == 1
    assert apply_event(engine, Held(1, 7, "webchat", 1), 12.0)
    assert apply_event(engine, Held(1, 7, "webchat", 1), 12.5)  # twice: still one conversation of load
    agent = engine.agents[7]
    assert (engine.entries[1].state, agent.offer, agent.assigned, agent.load["webchat"]) == (ASSIGNED, None, {1}, 1)
    assert apply_event(engine, LeftRouting(1), 13.0)
    assert apply_event(engine, LeftRouting(1), 13.5)
    assert 1 not in engine.entries and agent.load["webchat"] == 0 and agent.total == 0


def test_an_assignment_by_hand_moves_the_load_from_one_agent_to_the_other() -> None:
    engine = engine_with(7, 8)
    engine.restore(Entry(Contact(1, "webchat", 0.0), 1, 0.0, ASSIGNED, agent_id=7))
    assert apply_event(engine, Held(1, 8, "webchat", 1), 5.0)
    assert engine.agents[7].load["webchat"] == 0 and engine.agents[8].load["webchat"] == 1
    assert engine.entries[1].agent_id == 8
    # To an agent who is signed out (not loaded): the conversation leaves what routing counts.
    assert apply_event(engine, Held(1, 99, "webchat", 1), 6.0)
    assert 1 not in engine.entries and engine.agents[8].total == 0


def test_a_decline_puts_the_conversation_back_and_skips_that_agent() -> None:
    engine = engine_with(7, 8)
    apply_event(engine, EnteredQueue(waiting(1)), 11.0)
    [offer] = engine.tick(11.0)
    first = offer.agent_id  # type: ignore[attr-defined]
    assert apply_event(engine, Declined(1, first), 12.0)
    assert apply_event(engine, Declined(1, first), 12.5)  # a repeat changes nothing
    assert engine.entries[1].state == WAITING and first in engine.entries[1].declined
    [again] = engine.tick(12.0)
    assert again.agent_id != first  # type: ignore[attr-defined]


def test_a_changed_priority_moves_a_waiting_conversation_in_line() -> None:
    engine = engine_with()
    for cid in (1, 2):
        apply_event(engine, EnteredQueue(Entry(Contact(cid, "webchat", 10.0 + cid), 1, 10.0 + cid, WAITING)), 13.0)
    assert engine.waiting(1) == [1, 2]
    assert apply_event(engine, ContactChanged(Contact(2, "webchat", 12.0, escalated=True)), 14.0)
    assert apply_event(engine, ContactChanged(Contact(2, "webchat", 12.0, escalated=True)), 14.5)
    assert engine.waiting(1) == [2, 1]
    assert not apply_event(engine, ContactChanged(Contact(3, "webchat", 12.0)), 15.0)  # never entered: reload


def test_what_only_a_reload_reads_asks_for_one() -> None:
    engine = engine_with(7)
    assert not apply_event(engine, Reload(), 1.0)
    assert not apply_event(engine, Held(5, 7, "voice", 1), 1.0)  # a call's state decides its load


def test_the_kept_engine_is_reloaded_when_an_event_cannot_be_applied_or_it_is_too_old() -> None:
    loads: list[Engine] = []

    def load() -> Engine:
        loads.append(engine_with(7))
        return loads[-1]

    live = LiveEngine(max_age=60.0)
    first = live.take(1.0, load)
    live.submit(EnteredQueue(waiting(1)))
    assert live.take(2.0, load) is first and first.waiting(1) == [1] and len(loads) == 1
    live.submit(Reload())
    assert live.take(3.0, load) is not first and len(loads) == 2
    live.max_age = -1.0
    live.submit(EnteredQueue(waiting(2)))
    assert live.take(4.0, load) is loads[-1] and len(loads) == 3  # too old: reloaded; the event is in the load


# --- through the database ------------------------------------------------------------------------------------

pg_or_sqlite = pytest.mark.django_db(transaction=True)


def agent(name: str, **capacity: int) -> User:
    user = f.agent(name)
    if capacity:
        AgentProfile.objects.filter(user=user).update(capacity=capacity)
    do_set_presence(None, user.agent, "available")  # type: ignore[attr-defined]
    return user  # type: ignore[return-value]


def chat(address: str) -> Conversation:
    inbound = f.inbound("hello", kind="webchat", address=address)
    return do_ingest_message(f.account("webchat"), inbound).message.conversation


def pending_offer(conv: Conversation) -> RoutingOffer | None:
    return RoutingOffer.objects.filter(conversation=conv, outcome="pending").first()


def snapshot(engine: Engine) -> dict[str, Any]:
    """What decides routing: every entry's state and holder, every queue's line in order, every agent's load
    and offer."""
    return {
        "entries": {cid: (e.state, e.agent_id, e.queue_id if e.state != ASSIGNED else None)
                    for cid, e in sorted(engine.entries.items())},
        "lines": {qid: engine.waiting(qid) for qid in sorted(engine.queues)},
        "agents": {aid: (a.presence, a.offer, sorted(a.assigned), {c: n for c, n in a.load.items() if n})
                   for aid, a in sorted(engine.agents.items())},
    }


@pg_or_sqlite
def test_events_keep_the_engine_equal_to_a_reload_without_reloading() -> None:
    from django.utils import timezone

    alice, bob = agent("alice", webchat=2), agent("bob", webchat=2)
    first = chat("v1")
    reloads = adapter.live.reloads

    def same_as_reload() -> None:
        assert adapter.live.engine is not None
        assert snapshot(adapter.live.engine) == snapshot(adapter.load(timezone.now()))

    second = chat("v2")  # offered to the other agent, from the kept engine
    same_as_reload()
    offers = {c.pk: pending_offer(c) for c in (first, second)}
    assert {o.agent_id for o in offers.values() if o} == {alice.pk, bob.pk}
    held_by = {o.agent_id: cid for cid, o in offers.items() if o}
    do_accept_offer(alice, offers[held_by[alice.pk]].pk)  # type: ignore[union-attr]
    same_as_reload()
    do_decline_offer(bob, offers[held_by[bob.pk]].pk)  # type: ignore[union-attr]
    same_as_reload()  # offered again: to alice, the only other agent
    third = chat("v3")
    same_as_reload()
    do_set_status(None, Conversation.objects.get(pk=held_by[alice.pk]), "resolved")
    same_as_reload()
    do_assign(None, Conversation.objects.get(pk=third.pk), bob)  # by hand, over whatever was offered
    same_as_reload()
    assert adapter.live.reloads == reloads  # every step was an event applied, none a reload
    assert adapter.live.applied_events >= 7


@pg_or_sqlite
def test_a_request_from_another_process_makes_the_next_round_reload() -> None:
    agent("alice")
    chat("v1")
    reloads = adapter.live.reloads
    adapter._request_round()  # what another process's route() leaves in the counter
    chat("v2")
    assert adapter.live.reloads == reloads + 1


@pg_or_sqlite
def test_a_change_the_kept_engine_never_heard_of_is_caught_by_the_row_locks_and_reloaded() -> None:
    alice, bob = agent("alice", webchat=1), agent("bob", webchat=1)
    first = chat("v1")
    offer = pending_offer(first)
    assert offer is not None
    holder, other = (alice, bob) if offer.agent_id == alice.pk else (bob, alice)
    do_accept_offer(holder, offer.pk)
    # Behind routing's back (no action, no signal): the conversation moves to the other agent. The kept
    # engine still counts it as the holder's; the database says the other agent is the full one.
    Conversation.objects.filter(pk=first.pk).update(assignee=other)
    reloads = adapter.live.reloads
    second = chat("v2")
    offer = pending_offer(second)
    assert offer is not None and offer.agent_id == holder.pk  # the kept engine's choice failed its locks
    assert adapter.live.reloads == reloads + 1


@pg_or_sqlite
def test_answering_a_waiting_conversation_tells_the_kept_engine() -> None:
    from django.utils import timezone

    from hub.actions.outbound import do_send_reply

    agent("alice", webchat=1)
    bob = f.agent("bob")
    do_set_presence(None, bob.agent, "away")  # type: ignore[attr-defined]
    chat("v1")  # rings at alice, her one chat slot
    waiting_chat = chat("v2")
    assert adapter.live.engine is not None and adapter.live.engine.entries[waiting_chat.pk].state == WAITING
    reloads = adapter.live.reloads
    do_send_reply(bob, Conversation.objects.get(pk=waiting_chat.pk), "I can help")  # answering takes it
    engine = adapter.live.engine
    assert engine is not None and adapter.live.reloads == reloads
    assert engine.entries[waiting_chat.pk].state == ASSIGNED and engine.entries[waiting_chat.pk].agent_id == bob.pk
    assert snapshot(engine) == snapshot(adapter.load(timezone.now()))


@pg_or_sqlite
def test_snoozing_takes_a_conversation_out_of_line_and_waking_puts_it_back() -> None:
    """A snoozed conversation waits for its time, not for an agent: it leaves the line (a ringing offer of it
    is withdrawn) and holds nobody's capacity; woken, it joins the line again. The kept engine follows each
    step without a reload."""
    from django.utils import timezone

    alice = agent("alice", webchat=1)
    first, second = chat("v1"), chat("v2")  # the first rings at alice's one slot, the second waits
    offer = pending_offer(first)
    assert offer is not None and adapter.live.engine is not None
    reloads = adapter.live.reloads

    def same_as_reload() -> None:
        assert adapter.live.engine is not None
        assert snapshot(adapter.live.engine) == snapshot(adapter.load(timezone.now()))

    do_set_status(None, Conversation.objects.get(pk=first.pk), "snoozed", snoozed_until=timezone.now()
                  + dt.timedelta(hours=1))
    offer.refresh_from_db()
    assert offer.outcome == "withdrawn"
    assert not RoutingEntry.objects.filter(pk=first.pk).exists()
    assert pending_offer(second) is not None and pending_offer(second).agent_id == alice.pk  # type: ignore[union-attr]
    same_as_reload()
    do_accept_offer(alice, pending_offer(second).pk)  # type: ignore[union-attr]
    same_as_reload()

    # Snoozing the conversation she holds gives her slot back: the woken one is offered to her.
    do_set_status(None, Conversation.objects.get(pk=second.pk), "snoozed", snoozed_until=timezone.now()
                  + dt.timedelta(hours=1))
    same_as_reload()
    do_wake_snoozed(timezone.now() + dt.timedelta(hours=2))  # both wake: the first joins the line again
    assert RoutingEntry.objects.get(pk=first.pk).state in ("waiting", "offered")
    # The second is alice's again and fills her slot, so the first waits.
    assert adapter.live.engine is not None and adapter.live.engine.agents[alice.pk].assigned == {second.pk}
    assert pending_offer(first) is None
    same_as_reload()
    assert adapter.live.reloads == reloads


@pg_or_sqlite
def test_a_snoozed_conversation_is_never_offered_and_an_accept_of_it_is_refused() -> None:
    from django.utils import timezone

    from hub.actions import ActionError
    from hub.actions.routing import do_accept_offer as accept

    alice = agent("alice", webchat=1)
    conv = chat("v1")
    offer = pending_offer(conv)
    assert offer is not None
    # Snoozed behind routing's back (no signal): the offer still rings, but accepting it is refused.
    Conversation.objects.filter(pk=conv.pk).update(status="snoozed", snoozed_until=timezone.now()
                                                  + dt.timedelta(hours=1))
    with pytest.raises(ActionError, match="no longer needs an agent"):
        accept(alice, offer.pk)
    # A reload leaves it out of the line.
    adapter.live.forget()
    adapter.route()
    assert not RoutingEntry.objects.filter(pk=conv.pk, state="waiting").exists()


@pg_or_sqlite
def test_escalating_a_waiting_conversation_puts_it_first_without_a_reload() -> None:
    from django.utils import timezone

    from hub.actions.conversations import do_set_priority

    alice = agent("alice", webchat=1)
    ringing = chat("v1")
    older, newer = chat("v2"), chat("v3")
    reloads = adapter.live.reloads
    engine = adapter.live.engine
    assert engine is not None
    queue_id = RoutingEntry.objects.get(pk=older.pk).queue_id
    assert engine.waiting(queue_id) == [older.pk, newer.pk]
    do_set_priority(alice, Conversation.objects.get(pk=newer.pk), escalated=True)
    assert engine.waiting(queue_id) == [newer.pk, older.pk]
    assert snapshot(engine) == snapshot(adapter.load(timezone.now()))
    do_set_status(None, Conversation.objects.get(pk=ringing.pk), "resolved")  # alice's slot frees up
    assert pending_offer(newer) is not None and pending_offer(older) is None
    assert adapter.live.reloads == reloads


@pg_or_sqlite
def test_a_customer_made_vip_moves_their_waiting_conversation_ahead() -> None:
    from hub.actions.customers import do_update_customer

    alice = agent("alice", webchat=1)
    chat("v1")  # rings at alice
    older, newer = chat("v2"), chat("v3")
    engine = adapter.live.engine
    assert engine is not None
    queue_id = RoutingEntry.objects.get(pk=older.pk).queue_id
    reloads = adapter.live.reloads
    do_update_customer(alice, Conversation.objects.get(pk=newer.pk).customer, {"value_tier": "vip"})
    assert engine.waiting(queue_id) == [newer.pk, older.pk] and adapter.live.reloads == reloads


@pg_or_sqlite
def test_a_late_resolve_task_keeps_the_entry_of_a_conversation_reopened_meanwhile() -> None:
    """The task that takes a resolved conversation out of routing may run after it was reopened and entered
    its queue again: it checks under the conversation's lock, and keeps the entry."""
    from hub.actions.routing import do_leave_routing

    agent("alice", webchat=1)
    chat("v1")
    waiting_conv = chat("v2")
    assert RoutingEntry.objects.filter(pk=waiting_conv.pk).exists()
    assert not do_leave_routing(waiting_conv.pk)  # it still needs an agent
    assert RoutingEntry.objects.filter(pk=waiting_conv.pk).exists()


@pg_or_sqlite
def test_a_reopened_conversation_back_with_its_agent_counts_in_their_load() -> None:
    from django.utils import timezone

    alice = agent("alice", webchat=2)
    conv = chat("v1")
    do_accept_offer(alice, pending_offer(conv).pk)  # type: ignore[union-attr]
    do_set_status(alice, Conversation.objects.get(pk=conv.pk), "resolved")
    reloads = adapter.live.reloads
    do_set_status(alice, Conversation.objects.get(pk=conv.pk), "open")  # reopened, still alice's
    engine = adapter.live.engine
    assert engine is not None and engine.agents[alice.pk].assigned == {conv.pk}
    assert snapshot(engine) == snapshot(adapter.load(timezone.now())) and adapter.live.reloads == reloads
    chat("v2")  # her second slot
    chat("v3")  # waits: she is full
    assert engine.agents[alice.pk].total == 2
