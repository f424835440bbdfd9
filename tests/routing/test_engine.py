"""Scenario tests of the routing engine (routing/core): one per rule of docs/routing.md."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest

from routing.core import (
    OFFERED,
    OUT_OF_HOURS,
    WAITING,
    Agent,
    AgentSetAway,
    Assigned,
    BusinessHours,
    Contact,
    Engine,
    Entry,
    OfferClosed,
    Offered,
    OutOfHours,
    Overflowed,
    Queue,
    Queued,
    Released,
    RoutingError,
)


def chat(cid: int, at: float = 0.0, **kw: object) -> Contact:
    return Contact(cid, "webchat", at, **kw)  # type: ignore[arg-type]


def offers(decisions: Sequence[object]) -> dict[int, int]:
    """conversation -> agent, for the offers and assignments among `decisions`."""
    return {d.conversation_id: d.agent_id for d in decisions if isinstance(d, Offered | Assigned)}


def engine(*agents: Agent, queues: tuple[Queue, ...] = (Queue(1),), **kw: object) -> Engine:
    return Engine(queues, agents, **kw)  # type: ignore[arg-type]


# --- strategies ---------------------------------------------------------------------------------------------

def test_longest_idle_agent_gets_the_conversation() -> None:
    e = engine(Agent(1, "available", idle_since=50), Agent(2, "available", idle_since=10),
               Agent(3, "available", idle_since=30))
    e.enqueue(chat(100), 60)
    assert offers(e.tick(60)) == {100: 2}


def test_idle_agents_come_before_busy_ones_and_busy_ones_by_last_routed() -> None:
    e = engine(Agent(1, "available", idle_since=5), Agent(2, "available", idle_since=1))
    e.enqueue(chat(100), 10)
    e.enqueue(chat(101), 10)
    e.enqueue(chat(102), 10)
    decided = e.tick(10)
    # Each offer blocks the agent for further offers until answered.
    assert offers(decided) == {100: 2, 101: 1}
    e.accept(100, 2, 11)
    assert offers(e.tick(12)) == {102: 2}


def test_among_equals_the_better_skilled_agent_wins() -> None:
    q = Queue(1, required_skills={"billing": 2})
    e = engine(Agent(1, "available", skills={"billing": 3}), Agent(2, "available", skills={"billing": 5}),
               queues=(q,))
    e.enqueue(chat(100), 0)
    assert offers(e.tick(0)) == {100: 2}


def test_least_occupied_prefers_the_emptiest_agent() -> None:
    q = Queue(1, strategy="least_occupied", auto_assign_channels=frozenset({"webchat"}))
    e = engine(Agent(1, "available", idle_since=0), Agent(2, "available", idle_since=5), queues=(q,))
    for cid in (100, 101, 102, 103):
        e.enqueue(chat(cid, cid), 0)
    got = offers(e.tick(0))
    assert sorted(got.values()) == [1, 1, 2, 2]  # alternates instead of filling agent 1 first
    assert e.load(1, "webchat") == 2 and e.load(2, "webchat") == 2


def test_round_robin_goes_to_the_agent_routed_longest_ago() -> None:
    q = Queue(1, strategy="round_robin", auto_assign_channels=frozenset({"webchat"}))
    e = engine(Agent(1, "available", last_routed_at=30), Agent(2, "available", last_routed_at=10),
               Agent(3, "available", last_routed_at=20), queues=(q,))
    for cid in (100, 101, 102, 103):
        e.enqueue(chat(cid, cid), 40)
    got = offers(e.tick(40))
    # Within one round, ties on time are broken by the order of routing: agent 2 was routed first.
    assert [got[c] for c in (100, 101, 102, 103)] == [2, 3, 1, 2]


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(RoutingError, match="unknown strategy"):
        Engine([Queue(1, strategy="random")])


# --- priority -----------------------------------------------------------------------------------------------

def test_higher_priority_first_then_oldest_first() -> None:
    e = engine()
    e.enqueue(chat(1, 0, priority=1), 0)
    e.enqueue(chat(2, 5, priority=2), 5)
    e.enqueue(chat(3, 6, priority=1), 6)
    e.enqueue(chat(4, 7, priority=2), 7)
    assert e.waiting(1) == [2, 4, 1, 3]
    assert [e.position(c) for c in (2, 4, 1, 3)] == [1, 2, 3, 4]


def test_vip_tier_and_escalation_raise_the_level() -> None:
    e = engine()
    e.enqueue(chat(1, 0), 0)
    e.enqueue(chat(2, 10, tier="gold"), 10)
    e.enqueue(chat(3, 20, tier="vip"), 20)
    e.enqueue(chat(4, 30, escalated=True, tier="gold"), 30)
    assert e.waiting(1) == [4, 3, 2, 1]


def test_aging_lets_a_long_wait_pass_a_higher_priority() -> None:
    e = engine(queues=(Queue(1, aging_seconds=60),))
    e.enqueue(chat(1, 0, priority=1), 0)  # normal, first
    e.enqueue(chat(2, 59, priority=2), 59)  # one level higher, 59 s later: still ahead
    e.enqueue(chat(3, 61, priority=2), 61)  # one level higher, 61 s later: behind the long wait
    assert e.waiting(1) == [2, 1, 3]


def test_update_contact_moves_it_in_line() -> None:
    e = engine()
    e.enqueue(chat(1, 0), 0)
    e.enqueue(chat(2, 1), 1)
    e.update_contact(chat(2, 1, escalated=True))
    assert e.waiting(1) == [2, 1]


def test_a_low_priority_conversation_is_answered_despite_a_stream_of_urgent_ones() -> None:
    """Aging: one agent, a new urgent contact every time the agent frees up; the low one still gets in."""
    q = Queue(1, aging_seconds=30, auto_assign_channels=frozenset({"voice"}))
    e = engine(Agent(1, "available"), queues=(q,))
    e.enqueue(Contact(0, "voice", 0.0, priority=0), 0)
    e.enqueue(Contact(1, "voice", 0.0, priority=3), 0)
    answered_at = None
    busy_with = offers(e.tick(0))
    assert busy_with == {1: 1}
    for step in range(1, 50):
        now = step * 10.0
        e.enqueue(Contact(1000 + step, "voice", now, priority=3), now)
        done = next(iter(busy_with))
        e.remove(done, now)
        busy_with = offers(e.tick(now))
        if 0 in busy_with:
            answered_at = now
            break
    # Three levels of 30 s: about 90 s of extra waiting, then it is first in line.
    assert answered_at is not None and 90 <= answered_at <= 110


# --- skills and capacity ------------------------------------------------------------------------------------

def test_required_skills_are_met_and_relaxed_after_a_wait() -> None:
    q = Queue(1, required_skills={"language:zh": 4}, relaxation=((60.0, 2),))
    e = engine(Agent(1, "available", skills={"language:zh": 2}), Agent(2, "available"), queues=(q,))
    e.enqueue(chat(100), 0)
    assert e.tick(0) == []
    assert e.estimated_wait(100, 0) is None  # nobody who could take it is available
    assert e.tick(59) == []
    assert offers(e.tick(60)) == {100: 1}  # level 4 lowered to 2: agent 1 qualifies; agent 2 never does


def test_contact_skills_add_to_the_queue_requirements() -> None:
    e = engine(Agent(1, "available", idle_since=0), Agent(2, "available", idle_since=9, skills={"language:zh": 1}))
    e.enqueue(chat(100, required_skills={"language:zh": 1}), 10)
    assert offers(e.tick(10)) == {100: 2}


def test_team_queue_only_uses_its_team() -> None:
    q = Queue(1, team_id=7)
    e = engine(Agent(1, "available", idle_since=0), Agent(2, "available", idle_since=5, teams=frozenset({7})),
               queues=(q, Queue(2, order=1)))
    e.enqueue(chat(100, team_id=7), 10)
    assert offers(e.tick(10)) == {100: 2}


def test_chat_capacity_is_three_by_default_and_configurable() -> None:
    q = Queue(1, auto_assign_channels=frozenset({"webchat"}))
    e = engine(Agent(1, "available"), Agent(2, "available", capacity={"webchat": 1}), queues=(q,))
    for cid in range(10):
        e.enqueue(chat(cid, cid), 0)
    e.tick(0)
    assert e.load(1, "webchat") == 3 and e.load(2, "webchat") == 1
    assert e.waiting(1) == [4, 5, 6, 7, 8, 9]


def test_a_voice_call_takes_the_agent_entirely() -> None:
    q = Queue(1, auto_assign_channels=frozenset({"voice", "webchat"}))
    e = engine(Agent(1, "available"), queues=(q,))
    e.enqueue(Contact(1, "voice", 0.0), 0)
    e.enqueue(chat(2, 1), 1)
    assert offers(e.tick(1)) == {1: 1}  # on the call: no chat
    e.remove(1, 5)
    assert offers(e.tick(5)) == {2: 1}
    e.enqueue(Contact(3, "voice", 6.0), 6)
    assert e.tick(6) == []  # holding a chat: no call
    assert e.waiting(1) == [3]


def test_zero_capacity_means_never_on_that_channel() -> None:
    e = engine(Agent(1, "available", capacity={"webchat": 0}))
    e.enqueue(chat(1), 0)
    assert e.tick(0) == []


# --- offers ---------------------------------------------------------------------------------------------------

def test_accept_assigns_and_decline_goes_to_the_next_agent() -> None:
    e = engine(Agent(1, "available", idle_since=0), Agent(2, "available", idle_since=1))
    e.enqueue(chat(100), 5)
    assert e.tick(5) == [Offered(100, 1, 1, 35.0)]
    assert e.decline(100, 1, 6) == [OfferClosed(100, 1, "declined")]
    assert offers(e.tick(6)) == {100: 2}
    assert e.accept(100, 2, 7) == [Assigned(100, 2, 1, "offer")]
    assert e.entries[100].state == "assigned"
    with pytest.raises(RoutingError, match="no pending offer"):
        e.accept(100, 1, 8)


def test_offer_expiry_moves_on_and_three_misses_in_a_row_set_the_agent_away() -> None:
    e = engine(Agent(1, "available", idle_since=0), Agent(2, "available", idle_since=1))
    voice = Contact(100, "voice", 0.0)
    e.enqueue(voice, 0)
    assert e.tick(0) == [Offered(100, 1, 1, 20.0)]  # voice rings 20 s
    decided = e.tick(20)
    assert decided[0] == OfferClosed(100, 1, "expired")
    assert offers(decided) == {100: 2}
    e.accept(100, 2, 21)
    e.enqueue(chat(101, 30), 30)
    assert offers(e.tick(30)) == {101: 1}
    assert e.tick(60)[0] == OfferClosed(101, 1, "expired")
    assert e.agents[1].missed_offers == 2 and e.agents[1].presence == "available"
    e.enqueue(chat(102, 70), 70)
    # 101 is not re-offered to agent 1 (it let it expire), 102 is.
    assert offers(e.tick(70)) == {102: 1}
    decided = e.tick(100)
    assert decided[:2] == [OfferClosed(102, 1, "expired"), AgentSetAway(1, 3)]
    assert e.agents[1].presence == "away"
    assert e.tick(101) == []


def test_answering_an_offer_resets_the_missed_count() -> None:
    e = engine(Agent(1, "available"))
    for cid, at in ((1, 0.0), (2, 100.0), (3, 200.0)):
        e.enqueue(chat(cid, at), at)
        e.tick(at)
        if cid == 2:
            e.decline(cid, 1, at + 1)
        else:
            e.tick(at + 30)
    assert e.agents[1].missed_offers == 1 and e.agents[1].presence == "available"


def test_an_expired_agent_is_offered_the_conversation_again_after_the_cooldown() -> None:
    e = engine(Agent(1, "available"), reoffer_after=60)
    e.enqueue(chat(100), 0)
    e.tick(0)
    assert offers(e.tick(30)) == {}
    assert offers(e.tick(89)) == {}
    assert offers(e.tick(90)) == {100: 1}


def test_email_and_sms_are_assigned_without_an_offer() -> None:
    e = engine(Agent(1, "available"))
    e.enqueue(Contact(100, "email", 0.0), 0)
    e.enqueue(Contact(101, "sms", 0.0), 0)
    assert e.tick(0) == [Assigned(100, 1, 1, "auto"), Assigned(101, 1, 1, "auto")]


def test_going_away_withdraws_a_pending_offer() -> None:
    e = engine(Agent(1, "available", idle_since=0), Agent(2, "available", idle_since=5))
    e.enqueue(chat(100), 10)
    e.tick(10)
    assert e.set_presence(1, "away", 11) == [OfferClosed(100, 1, "withdrawn")]
    assert offers(e.tick(11)) == {100: 2}


def test_removing_an_offered_conversation_frees_the_agent() -> None:
    e = engine(Agent(1, "available"))
    e.enqueue(chat(100), 0)
    e.tick(0)
    assert e.remove(100, 1, "abandoned") == [OfferClosed(100, 1, "withdrawn")]
    assert e.agents[1].offer is None and e.load(1, "webchat") == 0


# --- sticky agent -----------------------------------------------------------------------------------------------

def test_returning_customer_is_offered_to_their_last_agent_first() -> None:
    e = engine(Agent(1, "available", idle_since=0), Agent(2, "available", idle_since=50))
    e.enqueue(chat(100, last_agent_id=2), 60)
    assert offers(e.tick(60)) == {100: 2}


def test_sticky_agent_at_capacity_holds_the_conversation_until_the_window_ends() -> None:
    q = Queue(1, sticky_seconds=30, auto_assign_channels=frozenset({"webchat"}))
    e = engine(Agent(1, "available", idle_since=0), Agent(2, "available", capacity={"webchat": 1}), queues=(q,))
    e.enqueue(chat(1), 0)
    e.tick(0)  # agent 1 (longest idle)
    e.enqueue(chat(2), 1)
    e.tick(1)  # agent 2, now full
    assert e.load(2, "webchat") == 1
    e.enqueue(chat(100, 5, last_agent_id=2), 5)
    assert e.tick(5) == []  # held for agent 2 although agent 1 has room
    assert e.tick(34) == []
    assert offers(e.tick(35)) == {100: 1}


def test_sticky_agent_not_available_means_normal_routing_at_once() -> None:
    e = engine(Agent(1, "available"), Agent(2, "away"))
    e.enqueue(chat(100, last_agent_id=2), 0)
    assert offers(e.tick(0)) == {100: 1}


# --- overflow, hours ----------------------------------------------------------------------------------------------

def test_overflow_to_another_queue_after_waiting() -> None:
    billing = Queue(1, team_id=7, overflow_to=2, overflow_after=120)
    general = Queue(2, order=1)
    e = engine(Agent(1, "available"), queues=(billing, general))  # agent 1 is not in team 7
    e.enqueue(chat(100, team_id=7), 0)
    assert e.tick(119) == []
    decided = e.tick(120)
    assert decided[:2] == [Overflowed(100, 1, 2), Queued(100, 2)]
    assert offers(decided) == {100: 1}


def _monday(hour: int, minute: int = 0) -> float:
    return dt.datetime(2026, 11, 23, hour, minute, tzinfo=dt.UTC).timestamp()  # a Monday


def test_out_of_hours_waits_for_opening_and_is_announced_once() -> None:
    hours = BusinessHours("Asia/Shanghai", {0: ((9 * 60, 18 * 60),)})
    e = engine(Agent(1, "available"), queues=(Queue(1, hours=hours),))
    # 00:30 UTC is 08:30 in Shanghai: closed.
    assert e.enqueue(chat(100), _monday(0, 30)) == [OutOfHours(100, 1)]
    assert e.entries[100].state == OUT_OF_HOURS
    assert e.tick(_monday(0, 59)) == []
    assert e.position(100) is None
    assert offers(e.tick(_monday(1, 0))) == {100: 1}  # 09:00 in Shanghai


def test_closed_dates_and_days_without_hours_are_closed() -> None:
    hours = BusinessHours("UTC", {0: ((0, 24 * 60),)}, closed_dates=frozenset({"2026-11-23"}))
    assert not hours.is_open(_monday(12))
    assert not BusinessHours("UTC", {1: ((0, 24 * 60),)}).is_open(_monday(12))
    assert BusinessHours("UTC", {0: ((0, 24 * 60),)}).is_open(_monday(12))


# --- transfers, unassign, offline --------------------------------------------------------------------------------

def test_transfer_to_queue_and_to_agent() -> None:
    q1, q2 = Queue(1, auto_assign_channels=frozenset({"webchat"})), Queue(2, team_id=9, order=1)
    e = engine(Agent(1, "available", idle_since=0), Agent(2, "available", idle_since=5, teams=frozenset({9}),
                                                           capacity={"webchat": 1}), queues=(q1, q2))
    e.enqueue(chat(100), 10)
    assert offers(e.tick(10)) == {100: 1}
    decided = e.transfer_to_queue(100, 2, 11)
    assert decided == [Released(100, 1, "transferred"), Queued(100, 2)]
    assert offers(e.tick(11)) == {100: 2}
    e.accept(100, 2, 12)
    e.enqueue(chat(101), 13)
    e.tick(13)
    with pytest.raises(RoutingError, match="no free capacity"):
        e.transfer_to_agent(101, 2, 14)  # agent 2 holds one chat, its capacity
    assert e.transfer_to_agent(100, 1, 15) == [Released(100, 2, "transferred"), Assigned(100, 1, 2, "transfer")]
    assert e.load(2, "webchat") == 0 and e.load(1, "webchat") == 2


def test_unassign_puts_it_back_in_line_keeping_its_place() -> None:
    q = Queue(1, auto_assign_channels=frozenset({"webchat"}))
    e = engine(Agent(1, "available", capacity={"webchat": 1}), queues=(q,))
    e.enqueue(chat(100, 0), 0)
    e.tick(0)
    e.enqueue(chat(101, 5), 5)
    assert e.unassign(100, 6) == [Released(100, 1, "unassigned"), Queued(100, 1)]
    assert e.waiting(1) == [100, 101]


def test_going_offline_requeues_only_conversations_awaiting_an_answer() -> None:
    q = Queue(1, auto_assign_channels=frozenset({"webchat"}))
    e = engine(Agent(1, "available"), Agent(2, "offline"), queues=(q,))
    e.enqueue(chat(100), 0)
    e.enqueue(chat(101), 0)
    e.tick(0)
    e.mark_needs_answer(101, False)
    decided = e.set_presence(1, "offline", 10)
    assert decided == [Released(100, 1, "agent_offline"), Queued(100, 1)]
    assert e.entries[101].agent_id == 1
    e.set_presence(2, "available", 11)
    assert offers(e.tick(11)) == {100: 2}


def test_a_queue_can_keep_conversations_with_an_agent_who_goes_offline() -> None:
    q = Queue(1, auto_assign_channels=frozenset({"email"}), requeue_on_offline=False)
    e = engine(Agent(1, "available"), queues=(q,))
    e.enqueue(Contact(100, "email", 0.0), 0)
    e.tick(0)
    assert e.set_presence(1, "offline", 1) == []


# --- position, estimate, restore, errors ---------------------------------------------------------------------

def test_estimated_wait_from_position_and_handling_time() -> None:
    q = Queue(1, aht_seconds=240, auto_assign_channels=frozenset({"voice"}))
    e = engine(Agent(1, "available"), Agent(2, "available"), queues=(q,))
    for cid in range(6):
        e.enqueue(Contact(cid, "voice", float(cid)), float(cid))
    assert e.estimated_wait(0, 6) == 0.0  # two agents free: the first two go at the next tick
    assert e.estimated_wait(2, 6) == 0.0 or e.position(2) == 3
    e.tick(6)
    # Both agents busy, 4 waiting; 2 slots of 240 s: position 1 waits ~120 s, position 4 ~480 s.
    assert e.position(5) == 4
    assert e.estimated_wait(2, 7) == pytest.approx(120)
    assert e.estimated_wait(5, 7) == pytest.approx(480)


def test_restore_rebuilds_loads_offers_and_line() -> None:
    e = engine(Agent(1, "available"), Agent(2, "available"))
    e.restore(Entry(chat(1), 1, 0.0, OFFERED, agent_id=1, expires_at=30.0))
    e.restore(Entry(Contact(2, "email", 0.0), None, 0.0, "assigned", agent_id=2))
    e.restore(Entry(chat(3, 5), 1, 5.0, WAITING))
    assert e.agents[1].offer == 1 and e.load(1, "webchat") == 1 and e.load(2, "email") == 1
    assert e.waiting(1) == [3]
    assert offers(e.tick(10)) == {3: 2}
    assert e.tick(30)[0] == OfferClosed(1, 1, "expired")
    with pytest.raises(RoutingError, match="already routed"):
        e.restore(Entry(chat(3), 1, 0.0, WAITING))
    with pytest.raises(RoutingError, match="unknown agent"):
        e.restore(Entry(chat(4), 1, 0.0, OFFERED, agent_id=99))


def test_queue_selection_by_order_team_channel_and_language() -> None:
    e = Engine([Queue(1, order=5), Queue(2, order=1, languages=frozenset({"zh"})),
                Queue(3, order=0, channels=frozenset({"voice"})), Queue(4, order=2, team_id=8)])
    assert e.queue_for(chat(1, language="zh")).id == 2
    assert e.queue_for(Contact(2, "voice", 0.0, language="zh")).id == 3
    assert e.queue_for(chat(3, team_id=8)).id == 4
    assert e.queue_for(chat(4)).id == 1
    with pytest.raises(RoutingError, match="no queue takes"):
        Engine([Queue(1, channels=frozenset({"voice"}))]).queue_for(chat(5))
    with pytest.raises(RoutingError, match="already routed"):
        e.enqueue(chat(6), 0)
        e.enqueue(chat(6), 0)


def test_same_input_same_decisions() -> None:
    def run() -> list[object]:
        e = engine(*(Agent(i, "available", idle_since=i % 3) for i in range(5)))
        out: list[object] = []
        for cid in range(20):
            out += e.enqueue(chat(cid, cid % 4, priority=cid % 3), cid % 4)
        return out + e.tick(10)

    assert run() == run()
