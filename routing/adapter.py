"""Routing on the database: load the engine from the persisted state, let it decide, apply each decision
through hub/actions/routing.py (which checks it again under row locks).

A round (`route`) runs after every change that can let routing do something (a conversation needs an
agent, an agent becomes available, an offer is answered, a conversation is resolved) and on a periodic
tick for expiries, overflow, opening hours and relaxation. Rounds may run in several processes at
once: the engine's view can be stale, but the actions never over-assign.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import connection
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from hub.actions import calls
from hub.actions import routing as actions
from hub.models import AgentProfile, AgentSkill, Conversation, Message, RoutingEntry, RoutingQueue
from hub.querysets import only_row
from routing.core import (
    ASSIGNED,
    OFFERED,
    OUT_OF_HOURS,
    WAITING,
    Agent,
    AgentSetAway,
    Assigned,
    Contact,
    Decision,
    Engine,
    Entry,
    OfferClosed,
    Offered,
    OutOfHours,
    Overflowed,
    Queued,
    Released,
    RoutingError,
)
from routing.live import ContactChanged, Declined, EnteredQueue, Event, Held, LeftRouting, LiveEngine, Reload

logger = logging.getLogger(__name__)

DEFAULT_QUEUE_NAME = "General"


def _ts(value: dt.datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


def _dt(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def ensure_default_queue() -> RoutingQueue:
    """Every conversation needs a queue that takes it: a catch-all one exists unless configured."""
    queue = RoutingQueue.objects.filter(active=True, team__isnull=True, channels=[], languages=[]).first()
    if queue is not None:
        return queue
    return RoutingQueue.objects.get_or_create(name=DEFAULT_QUEUE_NAME, defaults={"order": 1000})[0]


def _queues() -> dict[int, RoutingQueue]:
    """The active queues, with a catch-all among them (one query when it exists: this runs every round)."""
    queues = {q.pk: q for q in RoutingQueue.objects.filter(active=True)}
    if not any(q.team_id is None and not q.channels and not q.languages for q in queues.values()):
        default = ensure_default_queue()
        queues[default.pk] = default
    return queues


def _engine(queues: dict[int, RoutingQueue]) -> Engine:
    return Engine([q.engine_queue() for q in queues.values()],
                  max_missed_offers=settings.HUB_ROUTING_MAX_MISSED_OFFERS,
                  reoffer_after=float(settings.HUB_ROUTING_REOFFER_SECONDS))


def contact_of(conv: Conversation) -> Contact:
    customer = conv.customer
    return Contact(conv.pk, conv.channel, _ts(timezone.now()), team_id=conv.team_id, language=customer.language,
                   priority=conv.priority, tier=customer.value_tier, escalated=conv.escalated)


def load(now: dt.datetime, extra_agents: Iterable[int] = ()) -> Engine:
    """The engine with every active queue, every signed-in agent (and `extra_agents`) with their load, and
    every conversation waiting, out of hours or offered."""
    queues = _queues()
    engine = _engine(queues)
    entries = list(
        RoutingEntry.objects
        .values("conversation_id", "queue_id", "state", "arrived_at", "queue_since", "sticky_agent_id", "declined",
                "offer__agent_id", "offer__expires_at", "conversation__channel", "conversation__team_id",
                "conversation__priority", "conversation__escalated", "conversation__assignee_id",
                "conversation__status", "conversation__customer__language", "conversation__customer__value_tier")
    )
    strays = [(e["conversation_id"], e["queue_id"]) for e in entries if e["queue_id"] not in queues]
    if strays:
        _replace_strays(engine, queues, strays, now)  # placed again; routed from the next round
        entries = [e for e in entries if e["queue_id"] in queues]
    offered_to = {e["offer__agent_id"] for e in entries if e["state"] == RoutingEntry.State.OFFERED}
    # Signed-in agents, plus whoever holds an offer (even a deactivated account: its offer must expire).
    profiles = list(AgentProfile.objects.select_related("user").filter(Q(user_id__in=offered_to) | (
        Q(user__is_active=True) & (~Q(presence=AgentProfile.Presence.OFFLINE) | Q(user_id__in=list(extra_agents))))))
    ids = [p.user_id for p in profiles]
    skills: dict[int, dict[str, int]] = {}
    for uid, skill, level in AgentSkill.objects.filter(agent__user_id__in=ids).values_list("agent__user_id", "skill",
                                                                                          "level"):
        skills.setdefault(uid, {})[skill] = level
    teams: dict[int, set[int]] = {}
    for uid, team_id in AgentProfile.teams.through.objects.filter(agentprofile__user_id__in=ids).values_list(
            "agentprofile__user_id", "team_id"):
        teams.setdefault(uid, set()).add(team_id)
    for p in profiles:
        presence = p.presence if p.user.is_active else AgentProfile.Presence.OFFLINE
        engine.set_agent(Agent(p.user_id, presence, frozenset(teams.get(p.user_id, ())), skills.get(p.user_id, {}),
                               dict(p.capacity or {}), _ts(p.idle_since or p.presence_changed_at),
                               _ts(p.last_routed_at), p.missed_offers), _ts(now))
    held = list(Conversation.objects.filter(assignee_id__in=ids, status__in=actions.ACTIVE_STATUSES)
                .values("id", "channel", "assignee_id", "queue_id"))
    # A voice conversation holds its agent exclusively only while its call lasts (hub/actions/calls.py).
    channels = calls.held_channels(((row["id"], row["channel"]) for row in held), now)
    for row in held:
        contact = Contact(row["id"], channels[row["id"]], 0.0)
        queue_id = row["queue_id"] if row["queue_id"] in queues else None
        engine.restore(Entry(contact, queue_id, 0.0, ASSIGNED, agent_id=row["assignee_id"]))
    for e in entries:
        if e["conversation__assignee_id"] is not None or e["conversation__status"] not in actions.ACTIVE_STATUSES:
            actions.do_leave_routing(e["conversation_id"], now)  # answered, closed or snoozed without routing
            continue
        contact = Contact(e["conversation_id"], e["conversation__channel"], _ts(e["arrived_at"]),
                          team_id=e["conversation__team_id"], language=e["conversation__customer__language"] or "",
                          priority=e["conversation__priority"], tier=e["conversation__customer__value_tier"],
                          escalated=e["conversation__escalated"])
        if contact.id in engine.entries:
            continue  # assigned by another router between the two reads: it is restored as assigned
        state = {RoutingEntry.State.WAITING: WAITING, RoutingEntry.State.OUT_OF_HOURS: OUT_OF_HOURS,
                 RoutingEntry.State.OFFERED: OFFERED}[e["state"]]
        engine.restore(Entry(
            contact, e["queue_id"], _ts(e["queue_since"]), state,
            agent_id=e["offer__agent_id"] if state == OFFERED else None,
            expires_at=_ts(e["offer__expires_at"]) if state == OFFERED else None,
            declined={int(k): float(v) for k, v in (e["declined"] or {}).items()},
            sticky_agent=e["sticky_agent_id"]))
    return engine


def _replace_strays(engine: Engine, queues: dict[int, RoutingQueue], strays: list[tuple[int, int]],
                    now: dt.datetime) -> None:
    """Conversations left in a queue deactivated meanwhile (one entered it while it was being switched
    off) move to the queue that takes them now; routing only reads active queues."""
    for cid, queue_id in strays:
        conv = Conversation.objects.select_related("customer").filter(pk=cid).first()
        if conv is None:
            continue
        try:
            target = engine.queue_for(contact_of(conv))
        except RoutingError:
            target = ensure_default_queue().engine_queue()
        offer_id = RoutingEntry.objects.filter(pk=cid).values_list("offer_id", flat=True).first()
        if offer_id is not None:
            actions.do_withdraw_offer(offer_id, now)  # nobody would expire it in a queue routing ignores
        actions.do_move_queue(cid, queue_id, queues[target.id], out_of_hours=not target.is_open(_ts(now)),
                              reason="queue_inactive", now=now)


def apply(decisions: list[Decision], now: dt.datetime) -> int:
    """Persist the engine's decisions, each in its own transaction; returns how many held."""
    applied = 0
    queues: dict[int, RoutingQueue] | None = None
    for d in decisions:
        ok = False
        if isinstance(d, Offered):
            ok = actions.do_offer(d.conversation_id, d.agent_id, d.queue_id, _dt(d.expires_at), now) is not None
        elif isinstance(d, Assigned):
            ok = actions.do_route_assign(d.conversation_id, d.agent_id, d.queue_id, now) is not None
        elif isinstance(d, OfferClosed):
            offer_id = (RoutingEntry.objects.filter(pk=d.conversation_id, offer__agent_id=d.agent_id)
                        .values_list("offer_id", flat=True).first())
            if offer_id is not None:
                ok = (actions.do_expire_offer(offer_id, now) if d.reason == "expired"
                      else actions.do_withdraw_offer(offer_id, now))
        elif isinstance(d, AgentSetAway):
            ok = actions.do_set_away_after_misses(d.agent_id)
        elif isinstance(d, Overflowed):
            queues = queues or _queues()
            ok = actions.do_move_queue(d.conversation_id, d.from_queue, queues[d.to_queue],
                                       out_of_hours=not queues[d.to_queue].is_open_at(now),
                                       reason="overflow", now=now)
        elif isinstance(d, Released) and d.reason == "agent_offline":
            ok = actions.do_requeue_from_agent(d.conversation_id, d.agent_id, d.reason)
        elif isinstance(d, Queued | OutOfHours | Released):
            ok = True  # recorded by the action that caused it (entering a queue, an overflow, a requeue)
        applied += ok
    return applied


_lock = threading.Lock()
_again = threading.Event()
# One round at a time in the whole installation (PostgreSQL): concurrent rounds would read the same line
# and mostly skip each other's locked rows. A process that finds a round running leaves a request in a
# counter; the running round reads the counter when done and goes again if it moved. The counter also
# tells a process whether its kept engine (routing/live.py) is still the whole truth: it is when the only
# request since its last rounds is its own.
_ROUND_LOCK_KEY = 0x6875_6272  # "hubr"
_REQUESTS = "routing_requests"

live = LiveEngine(max_age=float(settings.HUB_ROUTING_TICK_SECONDS) * 2)


def _round_requests() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT value FROM hub_changecounter WHERE name = %s", [_REQUESTS])
        row = cur.fetchone()
    return int(row[0]) if row else 0


def _request_round() -> None:
    with connection.cursor() as cur:
        cur.execute("INSERT INTO hub_changecounter (name, value) VALUES (%s, 1) ON CONFLICT (name) DO UPDATE "
                    "SET value = hub_changecounter.value + 1", [_REQUESTS])


def _lock_round() -> tuple[bool, int]:
    """Try the round lock, and read the request counter: in one round trip (they add up, a few per event)."""
    if connection.vendor != "postgresql":
        return True, _round_requests()  # SQLite serializes writers; the embedded hub is one process
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s), (SELECT value FROM hub_changecounter WHERE name = %s)",
                    [_ROUND_LOCK_KEY, _REQUESTS])
        row = cur.fetchone()
    return bool(row and row[0]), int(row[1] or 0) if row else 0


def _round_unlock() -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_unlock(%s)", [_ROUND_LOCK_KEY])


def route(now: dt.datetime | None = None, requested_at: float | None = None, *, event: Event | None = None) -> int:
    """One routing round, after telling the kept engine of `event` (a change already stored). When a round
    is already running (in this process, or on PostgreSQL in any), a request that it runs once more when
    done. A reload asked for at `requested_at` is already served by any reload that began after it: a
    worker working through a backlog of ticks loads once for all of them. With `now` (tests, a fixed
    clock) the round reloads."""
    if event is not None:
        live.submit(event)
    elif requested_at is not None and live.engine is not None and live.loaded_at > requested_at:
        return 0
    else:
        live.submit(Reload())
    if not _lock.acquire(blocking=False):
        _again.set()
        return 0
    try:
        if now is not None:
            live.forget()
            return _rounds(now)
        applied = 0
        while True:
            _request_round()  # committed before trying the lock: a holder finishing now sees it, or has unlocked
            locked, seen = _lock_round()
            if not locked:
                live.forget()  # another process routes now: what this one kept is out of date
                return applied
            if live.mark is None or seen != live.mark + 1:
                live.forget()  # another process asked for a round, or changed something, since this one's last
            live.mark = None
            try:
                applied += _rounds(None)
            finally:
                _round_unlock()
            after = _round_requests()
            if after == seen:  # nobody asked since this round began (a request now finds the lock free)
                live.mark = seen
                return applied
    finally:
        _lock.release()


def _rounds(now: dt.datetime | None) -> int:
    applied = 0
    retried = False
    while True:
        _again.clear()
        moment = now or timezone.now()
        started = time.perf_counter()
        reloads = live.reloads
        engine = live.take(_ts(moment), functools.partial(load, moment))
        loaded = time.perf_counter()
        decisions = engine.tick(_ts(moment))
        done = apply(decisions, moment)
        applied += done
        if logger.isEnabledFor(logging.DEBUG):  # the counts walk every queue and agent
            logger.debug("routing round: %d routed (%d waiting, %d offered), %d decisions, %d applied; %s %.1f ms, "
                         "apply %.1f ms", len(engine.entries), sum(len(engine.waiting(q)) for q in engine.queues),
                         sum(1 for a in engine.agents.values() if a.offer is not None), len(decisions), done,
                         "load" if live.reloads != reloads else "events", (loaded - started) * 1000,
                         (time.perf_counter() - loaded) * 1000)
        if done < len(decisions):
            # A decision did not hold under the row locks: something changed that this engine did not see.
            live.forget()
            if not retried:
                retried = True
                continue
        if not _again.is_set() or now is not None:
            return applied


def conversation_needs_agent(conversation_id: int, reason: str = "new") -> int:
    """A conversation entered (or re-entered) routing: it joins its queue, then a round runs."""
    now = timezone.now()
    queues = _queues()
    engine = _engine(queues)

    def choose(conv: Conversation) -> tuple[RoutingQueue, bool]:
        try:
            queue = engine.queue_for(contact_of(conv))
        except RoutingError:
            logger.warning("no queue takes conversation %s; it waits in the default queue", conversation_id)
            queue = ensure_default_queue().engine_queue()
        return queues[queue.id], not queue.is_open(_ts(now))

    arrived = actions.do_enter_chosen_queue(conversation_id, choose, now=now)
    if arrived is None:
        return 0  # assigned, resolved or snoozed: whatever did that told routing
    if reason == "transferred" and _move_to_its_team(*arrived, engine, choose):
        return 0  # the move asked for a round of its own
    return route(event=_entered(*arrived))


def _move_to_its_team(row: RoutingEntry, conv: Conversation, engine: Engine,
                      choose: Callable[[Conversation], tuple[RoutingQueue, bool]]) -> bool:
    """A conversation transferred to another team while it waited: if its queue does not take the new
    team's conversations, it moves to the queue that does, keeping its place by arrival (a ringing offer
    to the old team is withdrawn)."""
    queue = engine.queues.get(row.queue_id)
    if queue is not None and queue.takes(contact_of(conv)):
        return False
    target, _ = choose(conv)
    if target.pk == row.queue_id:
        return False
    actions.do_move_to_queue(None, conv, target)
    return True


def _entered(row: RoutingEntry, conv: Conversation) -> Event:
    if row.state == RoutingEntry.State.OFFERED:
        return Reload()  # a repeat of a conversation offered meanwhile: the offer is read from the database
    contact = _contact(row, conv)
    state = OUT_OF_HOURS if row.state == RoutingEntry.State.OUT_OF_HOURS else WAITING
    return EnteredQueue(Entry(contact, row.queue_id, _ts(row.queue_since), state,
                              declined={int(k): float(v) for k, v in (row.declined or {}).items()},
                              sticky_agent=row.sticky_agent_id))


def _contact(row: RoutingEntry, conv: Conversation) -> Contact:
    customer = conv.customer
    return Contact(conv.pk, conv.channel, _ts(row.arrived_at), team_id=conv.team_id,
                   language=customer.language or "", priority=conv.priority, tier=customer.value_tier,
                   escalated=conv.escalated)


def conversation_resolved(conversation_id: int) -> int:
    actions.do_leave_routing(conversation_id)
    return route(event=LeftRouting(conversation_id))


def conversation_assigned(conversation_id: int, agent_id: int) -> int:
    """An offer was accepted, or someone assigned or transferred the conversation: the agent's load went
    up, and a ringing offer of it, or the agent's own, no longer blocks anything."""
    row = only_row(Conversation.objects.filter(pk=conversation_id).values("channel", "queue_id", "assignee_id",
                                                                           "status"))
    if row is None or row["status"] not in actions.ACTIVE_STATUSES:  # resolved or snoozed: no load
        return route(event=LeftRouting(conversation_id))
    if row["assignee_id"] != agent_id:
        return route()  # assigned again since: a later event tells of that
    return route(event=Held(conversation_id, agent_id, row["channel"], row["queue_id"]))


def conversation_changed(conversation_id: int) -> int:
    """Something routing reads of the conversation changed (routing/signals.py conversation_changed). The
    engine is told how the conversation stands now, so these tasks may run late, twice or out of order."""
    conv = only_row(Conversation.objects.select_related("customer", "routing").filter(pk=conversation_id))
    if conv is None or conv.status == Conversation.Status.RESOLVED:
        return conversation_resolved(conversation_id)
    if conv.status not in actions.ACTIVE_STATUSES:  # snoozed: out of the line, and no agent's load
        actions.do_leave_routing(conversation_id)
        return route(event=LeftRouting(conversation_id))
    if conv.assignee_id is not None:
        return route(event=Held(conversation_id, conv.assignee_id, conv.channel, conv.queue_id))
    entry: RoutingEntry | None = getattr(conv, "routing", None)
    if entry is None:
        return conversation_needs_agent(conversation_id, "woken")
    return route(event=ContactChanged(_contact(entry, conv)))


def offer_declined(conversation_id: int, agent_id: int) -> int:
    return route(event=Declined(conversation_id, agent_id))


def agent_presence_changed(user_id: int, presence: str) -> int:
    """An agent came, left or went on a call: a pending offer is withdrawn when they leave; going offline
    hands back the conversations still awaiting their answer (per queue); then a round runs."""
    now = timezone.now()
    engine = load(now, extra_agents=[user_id])
    # Only while the change still holds: a late task for "away" must not withdraw the offer of an agent
    # who is available again.
    if user_id in engine.agents and presence != "available" and engine.agents[user_id].presence == presence:
        # The engine decides what leaving means; it is told of the change against the previous state.
        engine.agents[user_id].presence = "available"
        _mark_needs_answer(engine, user_id)
        apply(engine.set_presence(user_id, presence, _ts(now)), now)
    return route()


def _mark_needs_answer(engine: Engine, user_id: int) -> None:
    """Whether each of the agent's conversations awaits an answer: its latest message is the customer's."""
    held = [cid for cid in engine.agents[user_id].assigned]
    if not held:
        return
    latest = Message.objects.filter(conversation_id=OuterRef("pk")).order_by("-created_at", "-id")
    for cid, direction in (Conversation.objects.filter(pk__in=held)
                           .annotate(last_direction=Subquery(latest.values("direction")[:1]))
                           .values_list("id", "last_direction")):
        engine.mark_needs_answer(cid, direction == Message.Direction.IN)
