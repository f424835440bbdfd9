"""Routing on the database: load the engine from the persisted state, let it decide, apply each decision
through hub/actions/routing.py (which checks it again under row locks).

A round (`route`) runs after every change that can let routing do something (a conversation needs an
agent, an agent becomes available, an offer is answered, a conversation is resolved) and on a periodic
tick for expiries, overflow, opening hours and relaxation. Rounds may run in several processes at
once: the engine's view can be stale, but the actions never over-assign.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterable

from django.conf import settings
from django.db import connection
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from hub.actions import calls
from hub.actions import routing as actions
from hub.models import AgentProfile, AgentSkill, Conversation, Message, RoutingEntry, RoutingQueue
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
        if e["conversation__assignee_id"] is not None or e["conversation__status"] == Conversation.Status.RESOLVED:
            actions.do_leave_routing(e["conversation_id"], now)  # answered or closed without routing
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
# counter; the running round reads the counter when done and goes again if it moved.
_ROUND_LOCK_KEY = 0x6875_6272  # "hubr"
_REQUESTS = "routing_requests"


def _round_requests() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT value FROM hub_changecounter WHERE name = %s", [_REQUESTS])
        row = cur.fetchone()
    return int(row[0]) if row else 0


def _request_round() -> None:
    with connection.cursor() as cur:
        cur.execute("INSERT INTO hub_changecounter (name, value) VALUES (%s, 1) ON CONFLICT (name) DO UPDATE "
                    "SET value = hub_changecounter.value + 1", [_REQUESTS])


def _try_round_lock() -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", [_ROUND_LOCK_KEY])
        row = cur.fetchone()
    return bool(row and row[0])


def _round_unlock() -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_unlock(%s)", [_ROUND_LOCK_KEY])


_last_round_started = 0.0  # time.time() when this process last began reading state for a round


def route(now: dt.datetime | None = None, requested_at: float | None = None) -> int:
    """One routing round, or, when a round is already running (in this process, or on PostgreSQL in any),
    a request that it runs once more when done (rounds are not cheap: they read every waiting
    conversation). A request made at `requested_at` is already served by any round that began reading
    after it: a worker working through a backlog of requests runs one round for all of them."""
    if requested_at is not None and _last_round_started > requested_at:
        return 0
    if not _lock.acquire(blocking=False):
        _again.set()
        return 0
    try:
        if connection.vendor != "postgresql" or now is not None:
            return _rounds(now)
        applied = 0
        while True:
            _request_round()  # before trying the lock: a holder finishing now sees it, or has unlocked
            if not _try_round_lock():
                return applied
            try:
                while True:
                    seen = _round_requests()
                    applied += _rounds(None)
                    if _round_requests() == seen:
                        break
            finally:
                _round_unlock()
            if _round_requests() == seen:  # nobody asked between the last check and the unlock
                return applied
    finally:
        _lock.release()


def _rounds(now: dt.datetime | None) -> int:
    global _last_round_started
    applied = 0
    while True:
        _again.clear()
        _last_round_started = time.time()
        moment = now or timezone.now()
        started = time.perf_counter()
        engine = load(moment)
        loaded = time.perf_counter()
        decisions = engine.tick(_ts(moment))
        done = apply(decisions, moment)
        applied += done
        logger.debug("routing round: %d waiting or offered, %d decisions, %d applied; load %.1f ms, apply %.1f ms",
                     len(engine.entries), len(decisions), done, (loaded - started) * 1000,
                     (time.perf_counter() - loaded) * 1000)
        if not _again.is_set() or now is not None:
            return applied


def conversation_needs_agent(conversation_id: int, reason: str = "new") -> int:
    """A conversation entered (or re-entered) routing: it joins its queue, then a round runs."""
    now = timezone.now()
    conv = Conversation.objects.select_related("customer").filter(pk=conversation_id).first()
    if conv is None or conv.assignee_id is not None or conv.status == Conversation.Status.RESOLVED:
        return 0
    queues = _queues()
    engine = _engine(queues)
    try:
        queue = engine.queue_for(contact_of(conv))
    except RoutingError:
        logger.warning("no queue takes conversation %s; it waits in the default queue", conversation_id)
        queue = ensure_default_queue().engine_queue()
    actions.do_enter_queue(conversation_id, queues[queue.id], out_of_hours=not queue.is_open(_ts(now)), now=now)
    return route(requested_at=time.time())


def conversation_resolved(conversation_id: int) -> int:
    actions.do_leave_routing(conversation_id)
    return route(requested_at=time.time())


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
