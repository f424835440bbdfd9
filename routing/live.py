"""The engine a routing process keeps between rounds.

Rebuilding the engine from the database costs every round several queries and a walk over every waiting
conversation and signed-in agent; at a hundred arrivals a second that was most of a core
(docs/PERFORMANCE.md). So the process that runs rounds keeps the engine it built and tells it, event by
event, what changed since: a conversation entered a queue, left routing (resolved or snoozed), was
assigned, moved in line (its priority changed), or an offer was declined. Each event is recorded in the
database first (by the action that caused it); the engine only learns of it.

The kept engine is trusted only while nothing else could have changed what it knows:

- another process ran a round or recorded a change (routing/adapter.py sees it in the request counter
  every route() bumps, and forgets the engine);
- a decision of its own did not hold under the actions' row locks (its view was wrong somewhere);
- an event it cannot apply exactly (a presence change, a configuration change, the periodic tick) asks
  for a reload.

A stale engine can never over-assign: every decision is checked again under row locks when applied. The
worst a missed change does is delay a decision until the next reload, which the periodic tick forces.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from dataclasses import dataclass

from routing.core import ASSIGNED, OFFERED, Contact, Engine, Entry, RoutingError
from routing.core.model import EXCLUSIVE_CHANNELS


@dataclass(frozen=True)
class EnteredQueue:
    """The conversation now waits (or is out of hours) as `entry` says: as do_enter_queue stored it."""

    entry: Entry


@dataclass(frozen=True)
class LeftRouting:
    """The conversation needs no agent any more (resolved); an agent holding it has that room back."""

    conversation_id: int


@dataclass(frozen=True)
class Held:
    """The conversation is assigned to the agent (an accepted offer, a transfer, an assignment by hand)."""

    conversation_id: int
    agent_id: int
    channel: str
    queue_id: int | None


@dataclass(frozen=True)
class Declined:
    """The agent declined the offer: the conversation is back in line and skips that agent for a while."""

    conversation_id: int
    agent_id: int


@dataclass(frozen=True)
class ContactChanged:
    """What orders the conversation in line changed (priority, escalation, its customer's tier or language)."""

    contact: Contact


@dataclass(frozen=True)
class Reload:
    """Something changed that only a reload reads exactly (presence, configuration, the periodic tick)."""


Event = EnteredQueue | LeftRouting | Held | Declined | ContactChanged | Reload


def apply_event(engine: Engine, event: Event, now: float) -> bool:
    """Tell the engine of a change already stored. Returns False when a reload is needed instead.

    Each event may reach an engine that already reflects it (the engine was reloaded after the change was
    stored), so applying one twice changes nothing. Decisions the engine returns here are dropped: they
    describe the change the action already stored."""
    try:
        if isinstance(event, EnteredQueue):
            entry = event.entry
            current = engine.entries.get(entry.contact.id)
            if current is not None:
                if current.state != ASSIGNED:
                    return True  # already in line: the action ignores a repeat too
                engine.remove(entry.contact.id, now, "unassigned")
            if entry.queue_id not in engine.queues:
                return False
            engine.restore(entry)
        elif isinstance(event, LeftRouting):
            engine.remove(event.conversation_id, now)
        elif isinstance(event, Held):
            if event.channel in EXCLUSIVE_CHANNELS:
                return False  # whether a call holds the agent is read from the call's state (a reload)
            current = engine.entries.get(event.conversation_id)
            if current is not None and current.state == ASSIGNED and current.agent_id == event.agent_id:
                return True
            if current is not None:
                if current.state == OFFERED and current.agent_id == event.agent_id:
                    engine.accept(event.conversation_id, event.agent_id, now)
                    return True
                engine.remove(event.conversation_id, now, "transferred")
            if event.agent_id in engine.agents:  # an agent signed out holds it without routing counting it
                queue_id = event.queue_id if event.queue_id in engine.queues else None
                engine.restore(Entry(Contact(event.conversation_id, event.channel, 0.0), queue_id, 0.0, ASSIGNED,
                                     agent_id=event.agent_id))
        elif isinstance(event, ContactChanged):
            current = engine.entries.get(event.contact.id)
            if current is None:
                return False  # not routed here yet, or routed from a reload this engine missed
            if current.state != ASSIGNED:
                engine.update_contact(event.contact)
        elif isinstance(event, Declined):
            current = engine.entries.get(event.conversation_id)
            if current is not None and current.state == OFFERED and current.agent_id == event.agent_id:
                engine.decline(event.conversation_id, event.agent_id, now)
        else:
            return False
    except RoutingError:
        return False
    except KeyError:  # an agent or queue the engine has not loaded
        return False
    return True


class LiveEngine:
    """The engine kept between rounds in this process, with the events not yet applied to it."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age  # seconds a kept engine is used before a reload, whatever happened
        self.engine: Engine | None = None
        self.mark: int | None = None  # the request counter when this process last finished its rounds
        self.loaded_at = 0.0  # time.time() when the kept engine began loading
        self._loaded_mono = 0.0
        self._pending: collections.deque[Event] = collections.deque()  # appended from any thread
        self.reloads = 0
        self.applied_events = 0

    def submit(self, event: Event) -> None:
        self._pending.append(event)

    def forget(self) -> None:
        """The kept engine may be wrong: the next round reloads. The events waiting are dropped too: the
        reload reads every change made before it (each event is submitted after its change committed), and
        a process that keeps losing the round lock to another would otherwise pile them up."""
        self.engine = None
        self._pending.clear()

    def take(self, now: float, load: Callable[[], Engine]) -> Engine:
        """The engine for a round at `now`: the kept one with every pending event applied, or a fresh load
        (which reads the changes of every event submitted before it began, so those are dropped). Called by
        one thread at a time (routing/adapter.py holds its round lock)."""
        events: list[Event] = []
        while self._pending:
            events.append(self._pending.popleft())
        engine = self.engine
        if engine is not None and time.monotonic() - self._loaded_mono > self.max_age:
            engine = None
        if engine is not None:
            for event in events:
                if not apply_event(engine, event, now):
                    engine = None
                    break
                self.applied_events += 1
        if engine is None:
            self.engine = None  # a load that fails leaves nothing half-applied behind
            self.loaded_at = time.time()
            self._loaded_mono = time.monotonic()
            engine = load()
            self.reloads += 1
        self.engine = engine
        return engine
