"""The wallboard's figures as pure functions over plain records: no Django, no I/O (docs/metrics.md).

Times are Unix seconds. A `Contact` is one conversation as the figures see it; `classify` turns the
conversation's KPI timestamps into one, so that what "answered" and "abandoned" mean is decided here, in
one place, and unit-tested like every formula (tests/test_metrics.py). hub/metrics/load.py reads the
records from the database.

Every ratio is a share from 0 to 1 and every duration is in seconds; a figure with nothing to measure
(no conversation answered yet, say) is None, never 0, so that "no data" is not mistaken for "bad".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# A customer who starts another conversation within this window after a resolution "came back": the
# resolution does not count as a first-contact resolution.
FCR_WINDOW_SECONDS = 7 * 24 * 3600.0
DEFAULT_THRESHOLD_SECONDS = 20.0
# A voice call is answered when an agent takes it (there is no written first reply); on every other
# channel the customer sees an answer with the agent's first reply.
ANSWER_ON_ASSIGN_CHANNELS = frozenset({"voice"})
WORKING_PRESENCES = frozenset({"available", "busy"})
PRESENCES = ("available", "away", "busy", "offline")


@dataclass(frozen=True)
class Contact:
    """One conversation: when it entered a queue, when (if) an agent answered, when it was abandoned or
    resolved, and the service-level threshold of its queue."""

    id: int
    queued_at: float
    queue_id: int | None = None
    customer_id: int = 0
    channel: str = ""
    answered_at: float | None = None
    abandoned_at: float | None = None
    resolved_at: float | None = None
    reopen_count: int = 0
    threshold: float = DEFAULT_THRESHOLD_SECONDS

    @property
    def wait(self) -> float | None:
        """Seconds from entering the queue to the answer (never negative), None when unanswered."""
        return None if self.answered_at is None else max(0.0, self.answered_at - self.queued_at)

    @property
    def abandon_wait(self) -> float | None:
        return None if self.abandoned_at is None else max(0.0, self.abandoned_at - self.queued_at)


def classify(*, id: int, queued_at: float, channel: str, first_response_at: float | None,
             assigned_at: float | None, resolved_at: float | None, unanswered_call_at: float | None = None,
             queue_id: int | None = None, customer_id: int = 0, reopen_count: int = 0,
             threshold: float = DEFAULT_THRESHOLD_SECONDS) -> Contact:
    """A conversation's KPI timestamps as a Contact.

    answered_at: the first agent reply (`first_response_at`); on voice, the assignment (the agent took
    the call).
    abandoned_at: the customer left before any answer: a call that ended with nobody answering it
    (`unanswered_call_at`: even if an agent calls back later), or a conversation resolved while still
    unanswered (a chat visitor who left, a contact closed without a reply).
    """
    answered = assigned_at if channel in ANSWER_ON_ASSIGN_CHANNELS else first_response_at
    abandoned: float | None = None
    if unanswered_call_at is not None and (answered is None or answered > unanswered_call_at):
        answered, abandoned = None, unanswered_call_at
    elif answered is None and resolved_at is not None:
        abandoned = resolved_at
    return Contact(id=id, queued_at=queued_at, queue_id=queue_id, customer_id=customer_id, channel=channel,
                   answered_at=answered, abandoned_at=abandoned, resolved_at=resolved_at,
                   reopen_count=reopen_count, threshold=threshold)


# --- the day's arrivals ----------------------------------------------------------------------------------

def arrived(contacts: Iterable[Contact], start: float, end: float) -> list[Contact]:
    """The contacts that entered a queue in [start, end): the day's `offered` population."""
    return [c for c in contacts if start <= c.queued_at < end]


def offered(contacts: Sequence[Contact]) -> int:
    """offered = number of contacts that arrived (pass `arrived(...)`)."""
    return len(contacts)


def answered(contacts: Iterable[Contact]) -> int:
    """answered = arrivals with an answer."""
    return sum(1 for c in contacts if c.answered_at is not None)


def abandoned(contacts: Iterable[Contact]) -> int:
    return sum(1 for c in contacts if c.abandoned_at is not None)


def service_level(contacts: Iterable[Contact], now: float) -> float | None:
    """answered within their queue's threshold / contacts whose outcome against the threshold is known:

        SL = A_in / (A + B_late + W_late)

    A: answered; A_in: answered with wait <= threshold; B_late: abandoned after waiting more than the
    threshold; W_late: still unanswered at `now` and waiting longer than the threshold already (they have
    missed it whatever happens next). Abandoned within the threshold counts neither way (the customer left
    before the target was missed, as routing/simulate.py counts it); still waiting within it is not known
    yet. None when the denominator is 0."""
    within = counted = 0
    for c in contacts:
        wait = c.wait
        if wait is not None:
            counted += 1
            within += wait <= c.threshold
        elif c.abandoned_at is not None:
            counted += (c.abandon_wait or 0.0) > c.threshold
        elif now - c.queued_at > c.threshold:
            counted += 1
    return within / counted if counted else None


def asa(contacts: Iterable[Contact]) -> float | None:
    """Average speed of answer = sum of waits of the answered / answered."""
    waits = [w for c in contacts if (w := c.wait) is not None]
    return sum(waits) / len(waits) if waits else None


def abandonment_rate(contacts: Sequence[Contact]) -> float | None:
    """abandoned / offered, over the day's arrivals."""
    return abandoned(contacts) / len(contacts) if contacts else None


# --- the day's resolutions -------------------------------------------------------------------------------

def resolved_in(contacts: Iterable[Contact], start: float, end: float) -> list[Contact]:
    """The contacts resolved in [start, end): the population of AHT and FCR."""
    return [c for c in contacts if c.resolved_at is not None and start <= c.resolved_at < end]


def aht(resolved: Iterable[Contact]) -> float | None:
    """Average handle time = sum of (resolved_at - answered_at) / resolved contacts that were answered.
    Abandoned contacts had no handling and are left out."""
    times = [max(0.0, c.resolved_at - c.answered_at) for c in resolved
             if c.resolved_at is not None and c.answered_at is not None]
    return sum(times) / len(times) if times else None


def fcr(resolved: Sequence[Contact], arrivals: Iterable[Contact],
        window: float = FCR_WINDOW_SECONDS) -> float | None:
    """First-contact resolution = resolved contacts that were never reopened and whose customer started
    no other conversation within `window` seconds after the resolution / resolved contacts that were
    answered. `arrivals`: every contact that could be such a return (any queue)."""
    handled = [c for c in resolved if c.answered_at is not None and c.resolved_at is not None]
    if not handled:
        return None
    by_customer: dict[int, list[float]] = {}
    for a in arrivals:
        by_customer.setdefault(a.customer_id, []).append(a.queued_at)

    def came_back(c: Contact) -> bool:
        end = (c.resolved_at or 0.0) + window
        return any((c.resolved_at or 0.0) < t <= end for t in by_customer.get(c.customer_id, ()))

    first = sum(1 for c in handled if c.reopen_count == 0 and not came_back(c))
    return first / len(handled)


# --- now: the line and the agents ------------------------------------------------------------------------

@dataclass(frozen=True)
class Waiting:
    """A conversation waiting in a queue's line now (waiting or being offered to an agent)."""

    conversation_id: int
    queue_id: int
    arrived_at: float


def waiting_now(line: Sequence[Waiting]) -> int:
    return len(line)


def longest_wait(line: Iterable[Waiting], now: float) -> float | None:
    """now - the earliest arrival among those waiting; None when nobody waits."""
    earliest = min((w.arrived_at for w in line), default=None)
    return None if earliest is None else max(0.0, now - earliest)


@dataclass(frozen=True)
class AgentState:
    id: int
    presence: str
    load: Mapping[str, int] = field(default_factory=dict)  # channel -> conversations held (and offered)
    capacity: Mapping[str, int] = field(default_factory=dict)  # channel -> capacity (defaults filled in)
    teams: frozenset[int] = frozenset()


def agent_occupancy(agent: AgentState) -> float:
    """min(1, sum over channels of load / capacity); work on a channel of capacity 0 (a supervisor's
    forced assignment) fills the agent."""
    used = 0.0
    for channel, held in agent.load.items():
        if held <= 0:
            continue
        cap = agent.capacity.get(channel, 0)
        used += held / cap if cap > 0 else 1.0
    return min(1.0, used)


def occupancy(agents: Iterable[AgentState]) -> float | None:
    """The mean of agent_occupancy over the agents at work now (available or busy); None without any."""
    working = [agent_occupancy(a) for a in agents if a.presence in WORKING_PRESENCES]
    return sum(working) / len(working) if working else None


def agents_by_state(agents: Iterable[AgentState]) -> dict[str, int]:
    counts = dict.fromkeys(PRESENCES, 0)
    for a in agents:
        counts[a.presence if a.presence in counts else "offline"] += 1
    return counts


def serves(agent: AgentState, team_id: int | None) -> bool:
    """The agents of a queue: its team's members, or everyone for a queue with no team."""
    return team_id is None or team_id in agent.teams


# --- one row of the wallboard ----------------------------------------------------------------------------

def figures(contacts: Sequence[Contact], line: Sequence[Waiting], agents: Sequence[AgentState], *,
            start: float, end: float, now: float, returns: Iterable[Contact] = ()) -> dict[str, Any]:
    """Every figure of one row (a queue, or everything) for the day [start, end). `contacts`: the row's
    contacts (arrived or resolved that day); `returns`: every contact of any queue, for FCR."""
    day = arrived(contacts, start, end)
    resolved = resolved_in(contacts, start, end)
    states = agents_by_state(agents)
    return {
        "waiting": waiting_now(line),
        "longest_wait": longest_wait(line, now),
        "offered": offered(day),
        "answered": answered(day),
        "abandoned": abandoned(day),
        "service_level": service_level(day, now),
        "asa": asa(day),
        "abandonment": abandonment_rate(day),
        "resolved": len(resolved),
        "aht": aht(resolved),
        "fcr": fcr(resolved, returns),
        "occupancy": occupancy(agents),
        **{f"agents_{state}": count for state, count in states.items()},
    }


def hourly(contacts: Sequence[Contact], *, start: float, end: float, now: float) -> list[dict[str, Any]]:
    """Per hour of the day (by arrival): offered, answered and service level. Hours are counted from
    `start` in real time, so a day with a clock change has 23 or 25 of them."""
    hours = max(1, round((end - start) / 3600))
    buckets: list[list[Contact]] = [[] for _ in range(hours)]
    for c in arrived(contacts, start, end):
        buckets[min(hours - 1, int((c.queued_at - start) // 3600))].append(c)
    return [{"start": start + i * 3600, "offered": len(b), "answered": answered(b),
             "service_level": service_level(b, now)} for i, b in enumerate(buckets)]
