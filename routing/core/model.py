"""The routing engine's inputs and outputs: plain data, no Django, no I/O (docs/routing.md).

Times are seconds on one clock (the adapter passes Unix time, the simulator a virtual clock). Every
input is a frozen value; the engine keeps its own mutable records of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo

# Concurrent work an agent can hold per channel unless configured otherwise. A voice call takes the agent
# entirely (see EXCLUSIVE_CHANNELS); a chat needs attention every few seconds, an email every few hours.
DEFAULT_CAPACITY: Mapping[str, int] = {"voice": 1, "webchat": 3, "social": 5, "slack": 5, "email": 8, "sms": 8}
# Work on these channels is taken only by an agent with no other work, and blocks everything else.
EXCLUSIVE_CHANNELS = frozenset({"voice"})
# How long an offer rings before it goes to the next agent, per channel (seconds).
DEFAULT_OFFER_TIMEOUT: Mapping[str, float] = {"voice": 20.0, "webchat": 30.0}
FALLBACK_OFFER_TIMEOUT = 30.0
# Channels whose conversations are assigned without an offer unless a queue says otherwise: nobody is
# waiting on the line, so an accept step only adds delay.
DEFAULT_AUTO_ASSIGN = frozenset({"email", "sms"})

Presence = Literal["available", "away", "busy", "offline"]
PRESENCES: tuple[str, ...] = ("available", "away", "busy", "offline")
Strategy = Literal["longest_idle", "least_occupied", "round_robin"]
STRATEGIES: tuple[str, ...] = ("longest_idle", "least_occupied", "round_robin")

# Priority levels: each level is worth a queue's `aging_seconds` of waiting (see Contact.level).
TIER_LEVELS: Mapping[str, int] = {"standard": 0, "gold": 1, "vip": 2}
ESCALATION_LEVELS = 2


def capacity_for(capacity: Mapping[str, int], channel: str) -> int:
    """An agent's capacity on `channel`: their own setting, else the default."""
    return int(capacity.get(channel, DEFAULT_CAPACITY.get(channel, 5)))


class RoutingError(Exception):
    """A request the engine refuses (unknown conversation, an offer that is not pending, no capacity)."""


@dataclass(frozen=True)
class BusinessHours:
    """Opening hours of a queue, in its time zone. `weekly` maps a weekday (0 = Monday) to opening
    intervals in minutes since local midnight, end excluded; `closed_dates` are ISO dates (holidays)."""

    timezone: str = "UTC"
    weekly: Mapping[int, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    closed_dates: frozenset[str] = frozenset()

    def is_open(self, now: float) -> bool:
        local = dt.datetime.fromtimestamp(now, ZoneInfo(self.timezone))
        if local.date().isoformat() in self.closed_dates:
            return False
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.weekly.get(local.weekday(), ()))


@dataclass(frozen=True)
class Queue:
    """Which conversations a queue takes, who may answer them, and how it picks among agents."""

    id: int
    name: str = ""
    order: int = 0  # conversations go to the first matching queue by (order, id)
    team_id: int | None = None  # takes that team's conversations, answered by that team's agents
    channels: frozenset[str] = frozenset()  # empty: every channel
    languages: frozenset[str] = frozenset()  # empty: every language
    required_skills: Mapping[str, int] = field(default_factory=dict)  # skill -> minimum level (1-5)
    strategy: str = "longest_idle"
    aging_seconds: float = 60.0  # waiting this long is worth one priority level
    overflow_to: int | None = None
    overflow_after: float | None = None  # seconds waiting in this queue before moving to `overflow_to`
    hours: BusinessHours | None = None  # None: always open
    offer_timeouts: Mapping[str, float] = field(default_factory=dict)  # channel -> seconds
    auto_assign_channels: frozenset[str] = DEFAULT_AUTO_ASSIGN
    sticky_seconds: float = 30.0  # a returning customer waits this long for the agent who last helped
    relaxation: tuple[tuple[float, int], ...] = ()  # (after seconds waiting, required levels lowered by)
    requeue_on_offline: bool = True  # an agent going offline hands back conversations awaiting an answer
    aht_seconds: float = 300.0  # average handling time, for the estimated wait

    def offer_timeout(self, channel: str) -> float:
        return float(self.offer_timeouts.get(channel, DEFAULT_OFFER_TIMEOUT.get(channel, FALLBACK_OFFER_TIMEOUT)))

    def takes(self, contact: Contact) -> bool:
        return ((self.team_id is None or self.team_id == contact.team_id)
                and (not self.channels or contact.channel in self.channels)
                and (not self.languages or contact.language in self.languages))

    def is_open(self, now: float) -> bool:
        return self.hours is None or self.hours.is_open(now)


@dataclass(frozen=True)
class Agent:
    """An agent as routing sees them. `capacity` overrides DEFAULT_CAPACITY per channel (0: never)."""

    id: int
    presence: str = "offline"
    teams: frozenset[int] = frozenset()
    skills: Mapping[str, int] = field(default_factory=dict)
    capacity: Mapping[str, int] = field(default_factory=dict)
    idle_since: float = 0.0  # when the agent last had no work (or became available)
    last_routed_at: float = 0.0  # when the agent was last offered or assigned a conversation
    missed_offers: int = 0  # offers in a row that expired unanswered

    def capacity_for(self, channel: str) -> int:
        return capacity_for(self.capacity, channel)


@dataclass(frozen=True)
class Contact:
    """A conversation that needs an agent."""

    id: int
    channel: str
    arrived_at: float  # first queued: its place in line, kept across transfers and re-queues
    team_id: int | None = None
    language: str = ""
    priority: int = 1  # 0 low, 1 normal, 2 high, 3 urgent
    tier: str = "standard"
    escalated: bool = False  # a negative interaction flagged by an agent, a supervisor or an analyzer
    required_skills: Mapping[str, int] = field(default_factory=dict)  # on top of the queue's
    last_agent_id: int | None = None  # who last handled this customer (sticky agent)

    @property
    def level(self) -> int:
        return self.priority + TIER_LEVELS.get(self.tier, 0) + (ESCALATION_LEVELS if self.escalated else 0)


# --- decisions: what the engine did, for the adapter to persist and announce --------------------------

@dataclass(frozen=True)
class Queued:
    conversation_id: int
    queue_id: int


@dataclass(frozen=True)
class OutOfHours:
    """The conversation arrived while its queue is closed: it waits for opening, and the customer gets an
    automatic answer on its channel (once)."""

    conversation_id: int
    queue_id: int


@dataclass(frozen=True)
class Offered:
    conversation_id: int
    agent_id: int
    queue_id: int
    expires_at: float


@dataclass(frozen=True)
class OfferClosed:
    """An offer ended without an assignment: `reason` is declined, expired or withdrawn (the agent left,
    or the conversation no longer needs an agent). The conversation, if still waiting, is back in line."""

    conversation_id: int
    agent_id: int
    reason: str


@dataclass(frozen=True)
class Assigned:
    conversation_id: int
    agent_id: int
    queue_id: int | None
    via: str  # offer (accepted), auto (no offer on this channel), transfer


@dataclass(frozen=True)
class Released:
    """An assignment ended: resolved, unassigned, or handed back because the agent went offline."""

    conversation_id: int
    agent_id: int
    reason: str


@dataclass(frozen=True)
class Overflowed:
    conversation_id: int
    from_queue: int
    to_queue: int


@dataclass(frozen=True)
class AgentSetAway:
    """The agent let `missed` offers in a row expire: routing stops offering them work."""

    agent_id: int
    missed: int


Decision = Queued | OutOfHours | Offered | OfferClosed | Assigned | Released | Overflowed | AgentSetAway
