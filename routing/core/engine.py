"""The routing engine: given queues, agents, waiting conversations and a clock, it decides who gets what.

Deterministic and free of I/O, so the adapter (routing/adapter.py), the simulator (routing/simulate.py)
and the property tests drive the same code. Each call applies its effect to the engine's own records
and returns the decisions it took, in order, for the caller to persist and announce.

Rules, in brief (docs/routing.md has the long form):
- A conversation goes to the first queue that takes it, and waits in line there. Its place in line is
  `arrived_at - level * aging_seconds`: a priority level is worth a fixed amount of waiting. That keeps
  "higher priority first, oldest first within a priority", and ages: whoever waits long enough passes
  any higher level, so nothing starves.
- `tick` expires offers, overflows conversations that waited too long, opens queues whose hours begin,
  then walks the line, offering each conversation to the best agent that can take it: available, in
  the queue's team, with the required skills (possibly relaxed after a wait), under capacity on the
  channel, and (for offers) with no other offer pending. A voice call needs an agent with no other work
  and blocks everything else while held.
- An offer reserves the capacity it would use. Accept: assigned. Decline or expiry: back in line, that
  agent is skipped for `reoffer_after` seconds; `max_missed_offers` expiries in a row set the agent away.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field

from routing.core.model import (
    EXCLUSIVE_CHANNELS,
    STRATEGIES,
    Agent,
    AgentSetAway,
    Assigned,
    Contact,
    Decision,
    OfferClosed,
    Offered,
    OutOfHours,
    Overflowed,
    Queue,
    Queued,
    Released,
    RoutingError,
    capacity_for,
)

WAITING, OUT_OF_HOURS, OFFERED, ASSIGNED = "waiting", "out_of_hours", "offered", "assigned"


@dataclass
class AgentRecord:
    """An agent and the work routing has given them (offers count: they reserve capacity)."""

    id: int
    presence: str
    teams: frozenset[int]
    skills: dict[str, int]
    capacity: dict[str, int]
    idle_since: float
    last_routed_at: float
    missed_offers: int
    load: dict[str, int] = field(default_factory=dict)  # channel -> conversations assigned or offered
    total: int = 0
    offer: int | None = None  # the conversation offered and not yet answered
    assigned: set[int] = field(default_factory=set)
    routed_seq: int = 0  # order of the last routing among agents routed at the same time

    @classmethod
    def of(cls, agent: Agent) -> AgentRecord:
        return cls(agent.id, agent.presence, frozenset(agent.teams), dict(agent.skills), dict(agent.capacity),
                   agent.idle_since, agent.last_routed_at, agent.missed_offers)

    def capacity_for(self, channel: str) -> int:
        return capacity_for(self.capacity, channel)

    def occupancy(self) -> float:
        return sum(n / cap for channel, n in self.load.items() if n and (cap := self.capacity_for(channel)) > 0)

    def exclusive_load(self) -> int:
        return sum(self.load.get(channel, 0) for channel in EXCLUSIVE_CHANNELS)


def has_room(agent: AgentRecord, channel: str) -> bool:
    """Whether one more conversation on `channel` keeps the agent within capacity (a call needs an agent
    with no other work; an agent on a call takes nothing else)."""
    if agent.load.get(channel, 0) >= agent.capacity_for(channel):
        return False
    if channel in EXCLUSIVE_CHANNELS:
        return agent.total == 0
    return agent.exclusive_load() == 0


def can_take(agent: AgentRecord, channel: str, *, offer: bool) -> bool:
    """Whether routing may give the agent a conversation on `channel` now; an offer also needs the agent
    to have no other offer pending (one ringing offer at a time)."""
    return agent.presence == "available" and not (offer and agent.offer is not None) and has_room(agent, channel)


@dataclass
class Entry:
    """A conversation routing is responsible for: waiting, out of hours, offered or assigned."""

    contact: Contact
    queue_id: int | None  # None: assigned outside any queue (restored, or a direct transfer)
    queue_since: float  # entered its current queue (overflow and sticky timers)
    state: str
    key: float = 0.0  # place in line, lower first
    agent_id: int | None = None
    expires_at: float | None = None
    declined: dict[int, float] = field(default_factory=dict)  # agent -> when they declined or let expire
    sticky_agent: int | None = None
    needs_answer: bool = True


@dataclass
class _Group:
    """Agents who may take conversations of one (queue, channel, requirements), best first by the queue's
    strategy. Entries go stale when an agent is routed work; `version` tells."""

    channel: str
    offer: bool
    heap: list[tuple[tuple[float, ...], int, int, int]]  # (strategy key, -skill score, agent id, version)
    requirements: dict[str, int]
    strategy: str


class Engine:
    def __init__(self, queues: Iterable[Queue] = (), agents: Iterable[Agent] = (), *, max_missed_offers: int = 3,
                 reoffer_after: float = 120.0) -> None:
        self.queues: dict[int, Queue] = {}
        self.agents: dict[int, AgentRecord] = {}
        self.entries: dict[int, Entry] = {}
        self.max_missed_offers = max_missed_offers
        self.reoffer_after = reoffer_after
        self._lines: dict[int, list[tuple[float, int]]] = {}  # queue -> sorted (key, conversation) waiting
        self._channel_counts: dict[int, dict[str, int]] = {}  # queue -> channel -> conversations in line
        self._closed: set[int] = set()  # conversations out of hours
        self._routed = 0  # routings so far, to order agents routed at the same time
        for queue in queues:
            self.set_queue(queue)
        for agent in agents:
            self.agents[agent.id] = AgentRecord.of(agent)

    # --- configuration ----------------------------------------------------------------------------------

    def set_queue(self, queue: Queue) -> None:
        if queue.strategy not in STRATEGIES:
            raise RoutingError(f"unknown strategy {queue.strategy!r}; one of {', '.join(STRATEGIES)}")
        if queue.overflow_to is not None and queue.overflow_to == queue.id:
            raise RoutingError("a queue cannot overflow to itself")
        old = self.queues.get(queue.id)
        self.queues[queue.id] = queue
        self._lines.setdefault(queue.id, [])
        self._channel_counts.setdefault(queue.id, {})
        if old is not None and old.aging_seconds != queue.aging_seconds:
            line = self._lines[queue.id]
            for i, (_, cid) in enumerate(line):
                entry = self.entries[cid]
                entry.key = self._key(entry.contact, queue)
                line[i] = (entry.key, cid)
            line.sort()

    def set_agent(self, agent: Agent, now: float) -> list[Decision]:
        """Add an agent, or update one's teams, skills, capacity and presence."""
        record = self.agents.get(agent.id)
        if record is None:
            self.agents[agent.id] = AgentRecord.of(agent)
            return []
        record.teams, record.skills, record.capacity = frozenset(agent.teams), dict(agent.skills), dict(agent.capacity)
        return self.set_presence(agent.id, agent.presence, now)

    # --- conversations arriving and leaving ---------------------------------------------------------------

    def queue_for(self, contact: Contact) -> Queue:
        for queue in sorted(self.queues.values(), key=lambda q: (q.order, q.id)):
            if queue.takes(contact):
                return queue
        raise RoutingError(f"no queue takes conversation {contact.id} ({contact.channel}, team {contact.team_id})")

    def enqueue(self, contact: Contact, now: float, queue_id: int | None = None) -> list[Decision]:
        """A conversation needs an agent: it joins the first queue that takes it (or `queue_id`)."""
        if contact.id in self.entries:
            raise RoutingError(f"conversation {contact.id} is already routed")
        queue = self._queue(queue_id) if queue_id is not None else self.queue_for(contact)
        entry = Entry(contact, queue.id, now, WAITING,
                      sticky_agent=contact.last_agent_id if queue.sticky_seconds > 0 else None)
        self.entries[contact.id] = entry
        return self._join(entry, queue, now)

    def restore(self, entry: Entry) -> None:
        """Load a conversation's routing state as persisted (the adapter rebuilds the engine from the
        database); no decision is taken."""
        if entry.contact.id in self.entries:
            raise RoutingError(f"conversation {entry.contact.id} is already routed")
        queue = self.queues.get(entry.queue_id) if entry.queue_id is not None else None
        if entry.state in (WAITING, OUT_OF_HOURS, OFFERED) and queue is None:
            raise RoutingError(f"conversation {entry.contact.id} waits in unknown queue {entry.queue_id}")
        self.entries[entry.contact.id] = entry
        if queue is not None:
            entry.key = self._key(entry.contact, queue)
        if entry.state == WAITING:
            self._insert(entry)
        elif entry.state == OUT_OF_HOURS:
            self._closed.add(entry.contact.id)
        elif entry.state in (OFFERED, ASSIGNED):
            if entry.agent_id not in self.agents:
                raise RoutingError(f"conversation {entry.contact.id} is held by unknown agent {entry.agent_id}")
            agent = self.agents[entry.agent_id]
            self._add_load(agent, entry.contact.channel)
            if entry.state == OFFERED:
                agent.offer = entry.contact.id
            else:
                agent.assigned.add(entry.contact.id)

    def update_contact(self, contact: Contact) -> None:
        """Priority, tier, escalation or required skills changed: the conversation moves in line."""
        entry = self._entry(contact.id)
        if entry.state == WAITING:
            self._leave_line(entry)
            entry.contact = contact
            self._enter_line(entry)
        else:
            entry.contact = contact

    def remove(self, conversation_id: int, now: float, reason: str = "resolved") -> list[Decision]:
        """The conversation no longer needs routing (resolved, abandoned, deleted)."""
        entry = self.entries.get(conversation_id)
        if entry is None:
            return []
        decisions = self._detach(entry, now, reason)
        del self.entries[conversation_id]
        return decisions

    def mark_needs_answer(self, conversation_id: int, needs_answer: bool) -> None:
        self._entry(conversation_id).needs_answer = needs_answer

    # --- agents answering ---------------------------------------------------------------------------------

    def accept(self, conversation_id: int, agent_id: int, now: float) -> list[Decision]:
        entry = self._offered_to(conversation_id, agent_id)
        agent = self.agents[agent_id]
        agent.offer = None
        agent.missed_offers = 0
        agent.assigned.add(conversation_id)
        entry.state, entry.expires_at = ASSIGNED, None
        return [Assigned(conversation_id, agent_id, entry.queue_id, "offer")]

    def decline(self, conversation_id: int, agent_id: int, now: float) -> list[Decision]:
        entry = self._offered_to(conversation_id, agent_id)
        self.agents[agent_id].missed_offers = 0
        return self._close_offer(entry, now, "declined")

    def set_presence(self, agent_id: int, presence: str, now: float) -> list[Decision]:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise RoutingError(f"unknown agent {agent_id}")
        before, agent.presence = agent.presence, presence
        if presence == "available" and before != "available":
            agent.missed_offers = 0
            if agent.total == 0:
                agent.idle_since = now
        decisions: list[Decision] = []
        if presence != "available" and agent.offer is not None:
            decisions += self._close_offer(self.entries[agent.offer], now, "withdrawn")
        if presence == "offline":
            for cid in sorted(agent.assigned):
                entry = self.entries[cid]
                queue = self.queues.get(entry.queue_id) if entry.queue_id is not None else None
                if entry.needs_answer and queue is not None and queue.requeue_on_offline:
                    decisions += self._release(entry, now, "agent_offline")
                    entry.sticky_agent = None
                    decisions += self._join(entry, queue, now)
        return decisions

    # --- supervisors and agents moving work ---------------------------------------------------------------

    def transfer_to_queue(self, conversation_id: int, queue_id: int, now: float) -> list[Decision]:
        entry = self._entry(conversation_id)
        queue = self._queue(queue_id)
        decisions = self._detach(entry, now, "transferred")
        entry.declined.clear()
        entry.sticky_agent = None
        return decisions + self._join(entry, queue, now)

    def transfer_to_agent(self, conversation_id: int, agent_id: int, now: float) -> list[Decision]:
        """Assign directly, without an offer. The agent must be signed in and have room: a transfer never
        puts an agent over capacity."""
        entry = self._entry(conversation_id)
        agent = self.agents.get(agent_id)
        if agent is None:
            raise RoutingError(f"unknown agent {agent_id}")
        if entry.state == ASSIGNED and entry.agent_id == agent_id:
            return []
        if agent.presence == "offline":
            raise RoutingError("the agent is offline")
        if not self._has_room(agent, entry.contact.channel):
            raise RoutingError("the agent has no free capacity on this channel")
        decisions = self._detach(entry, now, "transferred")
        self._add_load(agent, entry.contact.channel)
        agent.last_routed_at = now
        agent.assigned.add(conversation_id)
        entry.state, entry.agent_id, entry.expires_at = ASSIGNED, agent_id, None
        return [*decisions, Assigned(conversation_id, agent_id, entry.queue_id, "transfer")]

    def unassign(self, conversation_id: int, now: float) -> list[Decision]:
        """Back in line in its queue (or the first that takes it), keeping its place by arrival."""
        entry = self._entry(conversation_id)
        if entry.state != ASSIGNED:
            raise RoutingError("the conversation is not assigned")
        queue = self.queues.get(entry.queue_id) if entry.queue_id is not None else None
        decisions = self._release(entry, now, "unassigned")
        entry.sticky_agent = None
        return decisions + self._join(entry, queue or self.queue_for(entry.contact), now)

    # --- the clock --------------------------------------------------------------------------------------

    def tick(self, now: float) -> list[Decision]:
        """Expire offers, overflow, open queues whose hours began, then offer or assign what can be."""
        decisions: list[Decision] = []
        offered = (self.entries[a.offer] for a in self.agents.values() if a.offer is not None)
        expired = sorted((e.expires_at, e.contact.id) for e in offered
                         if e.expires_at is not None and e.expires_at <= now)
        for _, cid in expired:
            entry = self.entries[cid]
            agent = self.agents[entry.agent_id] if entry.agent_id is not None else None
            decisions += self._close_offer(entry, now, "expired")
            if agent is not None:
                agent.missed_offers += 1
                if agent.missed_offers >= self.max_missed_offers and agent.presence == "available":
                    agent.presence = "away"
                    decisions.append(AgentSetAway(agent.id, agent.missed_offers))
        decisions += self._overflow(now)
        open_now: dict[int, bool] = {}
        for cid in sorted(self._closed):
            entry = self.entries[cid]
            assert entry.queue_id is not None
            if entry.queue_id not in open_now:
                open_now[entry.queue_id] = self.queues[entry.queue_id].is_open(now)
            if open_now[entry.queue_id]:
                self._closed.discard(cid)
                entry.state = WAITING
                self._enter_line(entry)
        return decisions + self._match(now)

    # --- questions ----------------------------------------------------------------------------------------

    def position(self, conversation_id: int) -> int | None:
        """1 for the next in line of its queue; None when not waiting."""
        entry = self.entries.get(conversation_id)
        if entry is None or entry.state != WAITING or entry.queue_id is None:
            return None
        return bisect.bisect_left(self._lines[entry.queue_id], (entry.key, conversation_id)) + 1

    def estimated_wait(self, conversation_id: int, now: float) -> float | None:
        """Seconds until an agent is likely offered this conversation, from the queue's handling time and
        the agents available to it; None when nobody who could take it is available."""
        position = self.position(conversation_id)
        if position is None:
            return None
        entry = self.entries[conversation_id]
        assert entry.queue_id is not None
        queue = self.queues[entry.queue_id]
        channel = entry.contact.channel
        requirements = self._requirements(entry, queue, now)
        slots = free = 0
        for agent in self.agents.values():
            if agent.presence == "available" and self._eligible(agent, queue, channel, requirements):
                cap = 1 if channel in EXCLUSIVE_CHANNELS else agent.capacity_for(channel)
                slots += cap
                free += 1 if self._can_take(agent, channel, offer=channel not in queue.auto_assign_channels) else 0
        if slots == 0:
            return None
        if position <= free:
            return 0.0
        return (position - free) * queue.aht_seconds / slots

    def waiting(self, queue_id: int) -> list[int]:
        """Conversations waiting in a queue, in line order."""
        return [cid for _, cid in self._lines.get(queue_id, [])]

    def load(self, agent_id: int, channel: str) -> int:
        return self.agents[agent_id].load.get(channel, 0)

    # --- internals ----------------------------------------------------------------------------------------

    def _queue(self, queue_id: int) -> Queue:
        queue = self.queues.get(queue_id)
        if queue is None:
            raise RoutingError(f"unknown queue {queue_id}")
        return queue

    def _entry(self, conversation_id: int) -> Entry:
        entry = self.entries.get(conversation_id)
        if entry is None:
            raise RoutingError(f"conversation {conversation_id} is not routed")
        return entry

    def _offered_to(self, conversation_id: int, agent_id: int) -> Entry:
        entry = self.entries.get(conversation_id)
        if entry is None or entry.state != OFFERED or entry.agent_id != agent_id:
            raise RoutingError("no pending offer of this conversation to this agent")
        return entry

    @staticmethod
    def _key(contact: Contact, queue: Queue) -> float:
        return contact.arrived_at - contact.level * queue.aging_seconds

    def _enter_line(self, entry: Entry) -> None:
        assert entry.queue_id is not None
        entry.key = self._key(entry.contact, self.queues[entry.queue_id])
        self._insert(entry)

    def _insert(self, entry: Entry) -> None:
        assert entry.queue_id is not None
        bisect.insort(self._lines[entry.queue_id], (entry.key, entry.contact.id))
        counts = self._channel_counts[entry.queue_id]
        counts[entry.contact.channel] = counts.get(entry.contact.channel, 0) + 1

    def _leave_line(self, entry: Entry) -> None:
        assert entry.queue_id is not None
        line = self._lines[entry.queue_id]
        i = bisect.bisect_left(line, (entry.key, entry.contact.id))
        if i < len(line) and line[i] == (entry.key, entry.contact.id):
            del line[i]
            self._channel_counts[entry.queue_id][entry.contact.channel] -= 1

    def _join(self, entry: Entry, queue: Queue, now: float) -> list[Decision]:
        entry.queue_id, entry.queue_since = queue.id, now
        entry.agent_id = entry.expires_at = None
        if queue.is_open(now):
            entry.state = WAITING
            self._enter_line(entry)
            return [Queued(entry.contact.id, queue.id)]
        entry.state = OUT_OF_HOURS
        entry.key = self._key(entry.contact, queue)
        self._closed.add(entry.contact.id)
        return [OutOfHours(entry.contact.id, queue.id)]

    def _detach(self, entry: Entry, now: float, reason: str) -> list[Decision]:
        """Take the conversation out of whatever state it is in (line, offer, assignment)."""
        if entry.state == WAITING:
            self._leave_line(entry)
            return []
        if entry.state == OFFERED:
            agent = self.agents[entry.agent_id] if entry.agent_id is not None else None
            if agent is not None:
                agent.offer = None
                self._drop_load(agent, entry.contact.channel, now, finished=False)
            closed = OfferClosed(entry.contact.id, entry.agent_id or 0, "withdrawn")
            entry.state, entry.agent_id, entry.expires_at = WAITING, None, None
            return [closed]
        if entry.state == ASSIGNED:
            return self._release(entry, now, reason)
        self._closed.discard(entry.contact.id)
        return []

    def _release(self, entry: Entry, now: float, reason: str) -> list[Decision]:
        assert entry.agent_id is not None
        agent = self.agents[entry.agent_id]
        agent.assigned.discard(entry.contact.id)
        self._drop_load(agent, entry.contact.channel, now, finished=True)
        released = Released(entry.contact.id, agent.id, reason)
        entry.state, entry.agent_id = WAITING, None
        return [released]

    def _close_offer(self, entry: Entry, now: float, reason: str) -> list[Decision]:
        """The offer ends unaccepted: the conversation goes back in line; the agent is skipped for it a
        while (unless the offer was withdrawn because the agent left)."""
        assert entry.agent_id is not None and entry.queue_id is not None
        agent = self.agents[entry.agent_id]
        agent.offer = None
        self._drop_load(agent, entry.contact.channel, now, finished=False)
        if reason != "withdrawn":
            entry.declined[agent.id] = now
        if entry.sticky_agent == agent.id:
            entry.sticky_agent = None
        entry.state, entry.agent_id, entry.expires_at = WAITING, None, None
        self._enter_line(entry)
        return [OfferClosed(entry.contact.id, agent.id, reason)]

    @staticmethod
    def _add_load(agent: AgentRecord, channel: str) -> None:
        agent.load[channel] = agent.load.get(channel, 0) + 1
        agent.total += 1

    @staticmethod
    def _drop_load(agent: AgentRecord, channel: str, now: float, *, finished: bool) -> None:
        agent.load[channel] -= 1
        agent.total -= 1
        if finished and agent.total == 0:
            agent.idle_since = now

    def _overflow(self, now: float) -> list[Decision]:
        decisions: list[Decision] = []
        overflowing = {q.id: q for q in self.queues.values()
                       if q.overflow_to is not None and q.overflow_after is not None and q.overflow_to in self.queues}
        if not overflowing:
            return decisions
        candidates = [cid for qid in overflowing for _, cid in self._lines[qid]]
        candidates += [cid for cid in self._closed if self.entries[cid].queue_id in overflowing]
        for cid in sorted(candidates, key=lambda c: (self.entries[c].queue_since, c)):
            entry = self.entries[cid]
            queue = overflowing.get(entry.queue_id) if entry.queue_id is not None else None
            if queue is None or queue.overflow_after is None or queue.overflow_to is None:
                continue
            if now - entry.queue_since < queue.overflow_after:
                continue
            if entry.state == WAITING:
                self._leave_line(entry)
            self._closed.discard(cid)
            entry.sticky_agent = None
            decisions.append(Overflowed(cid, queue.id, queue.overflow_to))
            decisions += self._join(entry, self.queues[queue.overflow_to], now)
        return decisions

    def _requirements(self, entry: Entry, queue: Queue, now: float) -> dict[str, int]:
        required = dict(queue.required_skills)
        for skill, level in entry.contact.required_skills.items():
            required[skill] = max(required.get(skill, 0), level)
        waited = now - entry.queue_since
        lowered = max((by for after, by in queue.relaxation if waited >= after), default=0)
        if lowered:
            required = {skill: max(1, level - lowered) for skill, level in required.items()}
        return required

    @staticmethod
    def _eligible(agent: AgentRecord, queue: Queue, channel: str, requirements: dict[str, int]) -> bool:
        return ((queue.team_id is None or queue.team_id in agent.teams)
                and agent.capacity_for(channel) > 0
                and all(agent.skills.get(skill, 0) >= level for skill, level in requirements.items()))

    @staticmethod
    def _has_room(agent: AgentRecord, channel: str) -> bool:
        return has_room(agent, channel)

    @staticmethod
    def _can_take(agent: AgentRecord, channel: str, *, offer: bool) -> bool:
        return can_take(agent, channel, offer=offer)

    @staticmethod
    def _strategy_key(agent: AgentRecord, strategy: str) -> tuple[float, ...]:
        idle = (0.0, agent.idle_since, 0.0) if agent.total == 0 else (1.0, agent.last_routed_at, agent.routed_seq)
        if strategy == "least_occupied":
            return (agent.occupancy(), *idle)
        if strategy == "round_robin":
            return (agent.last_routed_at, agent.routed_seq)
        return idle

    def _sticky(self, entry: Entry, queue: Queue, now: float) -> AgentRecord | None:
        """The agent this conversation is reserved for, while the queue's sticky window lasts and that
        agent is available to it."""
        if entry.sticky_agent is None or now - entry.queue_since >= queue.sticky_seconds:
            return None
        agent = self.agents.get(entry.sticky_agent)
        if agent is None or agent.presence != "available" or entry.sticky_agent in self._excluded(entry, now):
            return None
        if not self._eligible(agent, queue, entry.contact.channel, self._requirements(entry, queue, now)):
            return None
        return agent

    def _excluded(self, entry: Entry, now: float) -> set[int]:
        return {aid for aid, at in entry.declined.items() if now - at < self.reoffer_after}

    def _match(self, now: float) -> list[Decision]:
        if not any(a.presence == "available" for a in self.agents.values()):
            return []
        decisions: list[Decision] = []
        groups: dict[tuple[object, ...], _Group] = {}
        member_of: dict[int, list[_Group]] = {}
        version: dict[int, int] = {}
        # Who could take anything on a (channel, offer or not) at all: once nobody, the rest of the line
        # is skipped without looking at queues and skills.
        able: dict[tuple[str, bool], set[int]] = {}

        def able_for(combo: tuple[str, bool]) -> set[int]:
            if combo not in able:
                able[combo] = {a.id for a in self.agents.values() if self._can_take(a, combo[0], offer=combo[1])}
            return able[combo]

        remaining: dict[tuple[str, bool], int] = {}
        for queue_id, counts in self._channel_counts.items():
            auto = self.queues[queue_id].auto_assign_channels
            for channel, n in counts.items():
                if n:
                    combo = (channel, channel not in auto)
                    remaining[combo] = remaining.get(combo, 0) + n
        # Walk copies (routing removes from the lines), merged lazily: the walk usually stops early.
        lines = [tuple(line) for line in self._lines.values() if line]
        walk: Iterable[tuple[float, int]] = lines[0] if len(lines) == 1 else heapq.merge(*lines)
        for _, cid in walk:
            entry = self.entries[cid]
            assert entry.queue_id is not None
            queue = self.queues[entry.queue_id]
            channel = entry.contact.channel
            offer = channel not in queue.auto_assign_channels
            remaining[(channel, offer)] -= 1
            if not able_for((channel, offer)):
                if not any(n and able_for(combo) for combo, n in remaining.items()):
                    break  # nobody can take anything still in line
                continue
            chosen: AgentRecord | None
            sticky = self._sticky(entry, queue, now)
            if sticky is not None:
                if not self._can_take(sticky, channel, offer=offer):
                    continue  # held for the returning customer's agent until the window ends
                chosen = sticky
            else:
                requirements = self._requirements(entry, queue, now)
                gkey = (queue.id, channel, tuple(sorted(requirements.items())))
                group = groups.get(gkey)
                if group is None:
                    group = groups[gkey] = self._group(queue, channel, offer, requirements, version, member_of)
                chosen = self._pick(group, entry, now, version)
            if chosen is None:
                continue
            decisions.append(self._route(entry, queue, chosen, offer, now))
            version[chosen.id] = version.get(chosen.id, 0) + 1
            for (ch, off), ids in able.items():
                if chosen.id in ids and not self._can_take(chosen, ch, offer=off):
                    ids.discard(chosen.id)
            for group in member_of.get(chosen.id, []):
                if self._can_take(chosen, group.channel, offer=group.offer):
                    heapq.heappush(group.heap, self._heap_item(chosen, group, version))
        return decisions

    def _heap_item(self, agent: AgentRecord, group: _Group,
                   version: dict[int, int]) -> tuple[tuple[float, ...], int, int, int]:
        score = sum(agent.skills.get(skill, 0) for skill in group.requirements)
        return (self._strategy_key(agent, group.strategy), -score, agent.id, version.get(agent.id, 0))

    def _group(self, queue: Queue, channel: str, offer: bool, requirements: dict[str, int],
               version: dict[int, int], member_of: dict[int, list[_Group]]) -> _Group:
        group = _Group(channel, offer, [], requirements, queue.strategy)
        for agent in self.agents.values():
            # Room first: in a busy center most agents are full, and that is the cheaper test.
            if self._can_take(agent, channel, offer=offer) and self._eligible(agent, queue, channel, requirements):
                group.heap.append(self._heap_item(agent, group, version))
                member_of.setdefault(agent.id, []).append(group)
        heapq.heapify(group.heap)
        return group

    def _pick(self, group: _Group, entry: Entry, now: float, version: dict[int, int]) -> AgentRecord | None:
        excluded = self._excluded(entry, now) if entry.declined else set()
        skipped = []
        chosen = None
        while group.heap:
            item = heapq.heappop(group.heap)
            agent = self.agents[item[2]]
            if item[3] != version.get(agent.id, 0) or not self._can_take(agent, group.channel, offer=group.offer):
                continue  # stale, or full: within one pass an agent's room only shrinks
            if agent.id in excluded:
                skipped.append(item)
                continue
            chosen = agent
            break
        for item in skipped:
            heapq.heappush(group.heap, item)
        return chosen

    def _route(self, entry: Entry, queue: Queue, agent: AgentRecord, offer: bool, now: float) -> Decision:
        self._leave_line(entry)
        self._add_load(agent, entry.contact.channel)
        agent.last_routed_at = now
        self._routed += 1
        agent.routed_seq = self._routed
        entry.agent_id = agent.id
        if offer:
            entry.state, entry.expires_at = OFFERED, now + queue.offer_timeout(entry.contact.channel)
            agent.offer = entry.contact.id
            return Offered(entry.contact.id, agent.id, queue.id, entry.expires_at)
        entry.state = ASSIGNED
        agent.assigned.add(entry.contact.id)
        return Assigned(entry.contact.id, agent.id, queue.id, "auto")
