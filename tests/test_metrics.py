"""Every wallboard formula (hub/metrics/formulas.py, docs/metrics.md) computed from a small hand-made table.
The expected values are worked out by hand in the comments."""

from __future__ import annotations

import pytest

from hub.metrics import formulas as f

NOW = 1100.0
# threshold 20 s everywhere; every contact entered the queue in the day [1000, 2000)
#  id  queued  answered      abandoned          resolved  customer
#   1  1000    1010 (10 s)   -                  1100      1
#   2  1000    1030 (30 s)   -                  1200      2
#   3  1000    -             1005 (5 s: early)  1005      3
#   4  1000    -             1050 (50 s: late)  1050      4
#   5  1000    -             -  (waiting 100 s at NOW: already late)
#   6  1090    -             -  (waiting 10 s at NOW: not known yet)
TABLE = [
    f.Contact(1, 1000, customer_id=1, answered_at=1010, resolved_at=1100),
    f.Contact(2, 1000, customer_id=2, answered_at=1030, resolved_at=1200),
    f.Contact(3, 1000, customer_id=3, abandoned_at=1005, resolved_at=1005),
    f.Contact(4, 1000, customer_id=4, abandoned_at=1050, resolved_at=1050),
    f.Contact(5, 1000, customer_id=5),
    f.Contact(6, 1090, customer_id=6),
]


def test_offered_answered_abandoned() -> None:
    day = f.arrived([*TABLE, f.Contact(9, 999), f.Contact(10, 2000)], 1000, 2000)  # 999 and 2000: other days
    assert f.offered(day) == 6
    assert f.answered(day) == 2  # 1, 2
    assert f.abandoned(day) == 2  # 3, 4


def test_service_level() -> None:
    # answered within 20 s: 1 (contact 1). Known outcomes: answered 2 (1, 2) + abandoned late 1 (4)
    # + waiting past the threshold 1 (5) = 4. Contact 3 left within 20 s and 6 has waited 10 s: neither.
    assert f.service_level(TABLE, NOW) == pytest.approx(1 / 4)
    # Each contact is judged against its own queue's threshold: with 40 s, contact 2 (30 s) is within,
    # contact 4 (50 s) is still late, contact 5 (100 s) too: 2 / 4.
    lenient = [f.Contact(**{**c.__dict__, "threshold": 40.0}) for c in TABLE]
    assert f.service_level(lenient, NOW) == pytest.approx(2 / 4)
    assert f.service_level([f.Contact(6, 1090)], NOW) is None  # nothing known yet
    assert f.service_level([], NOW) is None


def test_asa() -> None:
    # (10 + 30) / 2 answered
    assert f.asa(TABLE) == pytest.approx(20.0)
    assert f.asa([f.Contact(5, 1000)]) is None
    # an answer recorded before the queue entry (the agent wrote first) waits 0, never a negative time
    assert f.asa([f.Contact(7, 1000, answered_at=900)]) == 0.0


def test_abandonment_rate() -> None:
    # 2 abandoned / 6 offered
    assert f.abandonment_rate(TABLE) == pytest.approx(2 / 6)
    assert f.abandonment_rate([]) is None


def test_aht() -> None:
    resolved = f.resolved_in(TABLE, 1000, 2000)
    assert [c.id for c in resolved] == [1, 2, 3, 4]
    # handled: 1 (1100 - 1010 = 90), 2 (1200 - 1030 = 170); 3 and 4 were never answered: (90 + 170) / 2
    assert f.aht(resolved) == pytest.approx(130.0)
    assert f.aht([TABLE[2]]) is None
    assert f.resolved_in(TABLE, 1150, 2000) == [TABLE[1]]


def test_fcr() -> None:
    resolved = f.resolved_in(TABLE, 1000, 2000)
    # handled: 1 and 2 (3 and 4 were abandoned). Nobody came back: 2 / 2.
    assert f.fcr(resolved, TABLE) == pytest.approx(1.0)
    # customer 2 starts another conversation at 1300, after the resolution at 1200: 1 / 2
    came_back = [*TABLE, f.Contact(7, 1300, customer_id=2)]
    assert f.fcr(resolved, came_back) == pytest.approx(0.5)
    # ...but not if that was before the resolution, or after the window
    assert f.fcr(resolved, [*TABLE, f.Contact(7, 1150, customer_id=2)]) == pytest.approx(1.0)
    assert f.fcr(resolved, [*TABLE, f.Contact(7, 1200 + f.FCR_WINDOW_SECONDS + 1, customer_id=2)]) == 1.0
    # contact 1 reopened once: 0 first-contact resolutions out of 2
    reopened = [f.Contact(1, 1000, customer_id=1, answered_at=1010, resolved_at=1100, reopen_count=1), TABLE[1]]
    assert f.fcr(reopened, came_back) == 0.0
    assert f.fcr([TABLE[2]], TABLE) is None  # only an abandoned one: nothing handled


def test_line() -> None:
    line = [f.Waiting(5, 1, 1000.0), f.Waiting(6, 1, 1090.0)]
    assert f.waiting_now(line) == 2
    assert f.longest_wait(line, NOW) == pytest.approx(100.0)  # 1100 - 1000
    assert f.longest_wait([], NOW) is None


AGENTS = [
    f.AgentState(1, "available", {"webchat": 1}, {"webchat": 3}),  # 1/3
    f.AgentState(2, "busy", {"voice": 1}, {"voice": 1}),  # 1
    f.AgentState(3, "available", {"email": 4, "webchat": 2}, {"email": 8, "webchat": 3}),  # 4/8 + 2/3 > 1: 1
    f.AgentState(4, "away", {"email": 1}, {"email": 8}, teams=frozenset({7})),  # not at work
    f.AgentState(5, "offline", teams=frozenset({7})),
]


def test_occupancy() -> None:
    assert f.agent_occupancy(AGENTS[0]) == pytest.approx(1 / 3)
    assert f.agent_occupancy(AGENTS[2]) == 1.0
    assert f.agent_occupancy(f.AgentState(6, "available", {"sms": 1}, {"sms": 0})) == 1.0  # forced past capacity 0
    # (1/3 + 1 + 1) / 3 agents at work (available or busy)
    assert f.occupancy(AGENTS) == pytest.approx((1 / 3 + 1 + 1) / 3)
    assert f.occupancy(AGENTS[3:]) is None


def test_agents_by_state_and_queue_agents() -> None:
    assert f.agents_by_state(AGENTS) == {"available": 2, "away": 1, "busy": 1, "offline": 1}
    assert [a.id for a in AGENTS if f.serves(a, 7)] == [4, 5]
    assert len([a for a in AGENTS if f.serves(a, None)]) == 5


def test_classify() -> None:
    base = {"queued_at": 1000.0, "first_response_at": None, "assigned_at": None, "resolved_at": None}
    # a chat: answered by the first reply, not by the accept
    chat = f.classify(id=1, channel="webchat", **{**base, "assigned_at": 1005.0, "first_response_at": 1012.0})
    assert (chat.answered_at, chat.abandoned_at, chat.wait) == (1012.0, None, 12.0)
    # a call: answered when the agent takes it
    call = f.classify(id=2, channel="voice", **{**base, "assigned_at": 1008.0})
    assert (call.answered_at, call.wait) == (1008.0, 8.0)
    # a visitor who left before any reply (the conversation resolved unanswered): abandoned then
    left = f.classify(id=3, channel="webchat", **{**base, "resolved_at": 1040.0})
    assert (left.answered_at, left.abandoned_at, left.abandon_wait) == (None, 1040.0, 40.0)
    # a call that ended unanswered at 1030 is abandoned, even if an agent takes the callback later
    missed = f.classify(id=4, channel="voice", unanswered_call_at=1030.0, **{**base, "assigned_at": 1500.0})
    assert (missed.answered_at, missed.abandoned_at) == (None, 1030.0)
    # still open and unanswered: neither
    waiting = f.classify(id=5, channel="sms", **base)
    assert (waiting.answered_at, waiting.abandoned_at) == (None, None)


def test_figures_and_hourly() -> None:
    row = f.figures(TABLE, [f.Waiting(5, 1, 1000.0)], AGENTS, start=1000, end=2000, now=NOW, returns=TABLE)
    assert row["offered"] == 6 and row["answered"] == 2 and row["waiting"] == 1
    assert row["longest_wait"] == pytest.approx(100.0)
    assert row["agents_available"] == 2 and row["agents_offline"] == 1
    # a three-hour day from 0: arrivals at 100 (wait 10), 200 (wait 30), 3700 (wait 5)
    contacts = [f.Contact(1, 100, answered_at=110), f.Contact(2, 200, answered_at=230),
                f.Contact(3, 3700, answered_at=3705)]
    hours = f.hourly(contacts, start=0, end=3 * 3600, now=20000)
    assert [(h["start"], h["offered"], h["answered"], h["service_level"]) for h in hours] == [
        (0, 2, 2, 0.5), (3600, 1, 1, 1.0), (7200, 0, 0, None)]
