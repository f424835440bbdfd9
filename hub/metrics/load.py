"""The wallboard's records read from the database, and the figures computed from them (docs/metrics.md).

A fixed number of queries whatever the volume (tests/api/test_metrics_api.py counts them): the day's
conversations as tuples (`values_list`, no model instances), the calls that ended unanswered, the routing
line, the agents with their teams, and the conversations the agents hold now. Conversations are read by
the indexed `first_queued_at` and `resolved_at`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Q

from hub.actions.calls import FINAL_STATUSES
from hub.metrics import formulas as f
from hub.models import AgentProfile, Conversation, Message, RoutingEntry, RoutingQueue
from routing.core.model import DEFAULT_CAPACITY, capacity_for

ACTIVE_STATUSES = (Conversation.Status.OPEN, Conversation.Status.PENDING)
LINE_STATES = (RoutingEntry.State.WAITING, RoutingEntry.State.OFFERED)
# The waiting conversations listed for force-assign (oldest first); the counts cover the whole line.
WAITING_LISTED = 200


def day_bounds(day: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """Local midnight to the next local midnight in `zone`, as aware datetimes."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    return start, end


def _ts(value: dt.datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _unanswered_calls(start: dt.datetime, until: dt.datetime) -> dict[int, float]:
    """conversation id -> when its first call that ended with nobody answering ended (docs/metrics.md:
    abandoned). The connector says so with `answered_by: ""` (connectors/base.py)."""
    ended: dict[int, float] = {}
    rows = (Message.objects.filter(kind=Message.Kind.CALL, direction=Message.Direction.IN,
                                   created_at__gte=start, created_at__lt=until)
            .values_list("conversation_id", "metadata", "created_at"))
    for cid, meta, created_at in rows:
        if not isinstance(meta, dict) or meta.get("answered_by", None) != "" \
                or meta.get("call_status") not in FINAL_STATUSES:
            continue
        at = created_at.timestamp()
        history = meta.get("status_history")
        if isinstance(history, list) and history and isinstance(history[-1], dict):
            with contextlib.suppress(ValueError):
                at = dt.datetime.fromisoformat(str(history[-1].get("at"))).timestamp()
        ended[cid] = min(at, ended.get(cid, at))
    return ended


def _contacts(start: dt.datetime, end: dt.datetime, now: dt.datetime,
              thresholds: Mapping[int, float]) -> list[f.Contact]:
    # Arrivals up to FCR_WINDOW after the day are the returns that cancel a first-contact resolution.
    until = min(max(now, end), end + dt.timedelta(seconds=f.FCR_WINDOW_SECONDS))
    rows = (Conversation.objects
            .filter(Q(first_queued_at__gte=start, first_queued_at__lt=until)
                    | Q(resolved_at__gte=start, resolved_at__lt=end, first_queued_at__isnull=False))
            .values_list("id", "queue_id", "customer_id", "channel", "first_queued_at", "first_response_at",
                         "assigned_at", "resolved_at", "status", "reopen_count"))
    calls = _unanswered_calls(start, until)
    contacts = []
    for cid, queue_id, customer_id, channel, queued, responded, assigned, resolved, status, reopens in rows:
        if queued is None:  # resolved today but never queued (an outbound conversation): not a contact
            continue
        contacts.append(f.classify(
            id=cid, queued_at=queued.timestamp(), channel=channel, first_response_at=_ts(responded),
            assigned_at=_ts(assigned),
            # A reopened conversation keeps its old resolved_at: only a resolved one counts as resolved.
            resolved_at=_ts(resolved) if status == Conversation.Status.RESOLVED else None,
            unanswered_call_at=calls.get(cid), queue_id=queue_id, customer_id=customer_id, reopen_count=reopens,
            threshold=thresholds.get(queue_id or 0, f.DEFAULT_THRESHOLD_SECONDS)))
    return contacts


def _agents() -> tuple[list[dict[str, Any]], list[f.AgentState]]:
    """Every active agent: what the table shows and what the figures need."""
    profiles = list(AgentProfile.objects.filter(user__is_active=True)
                    .values_list("user_id", "display_name", "role", "presence", "capacity", "presence_changed_at",
                                 "presence_reason"))
    teams: dict[int, set[int]] = {}
    for uid, team_id in AgentProfile.teams.through.objects.filter(agentprofile__user__is_active=True).values_list(
            "agentprofile__user_id", "team_id"):
        teams.setdefault(uid, set()).add(team_id)
    held: dict[int, list[dict[str, Any]]] = {}
    load: dict[int, dict[str, int]] = {}
    for cid, uid, channel, subject, customer, queue_id, status in (
            Conversation.objects.filter(assignee__isnull=False, status__in=ACTIVE_STATUSES)
            .order_by("assigned_at", "id")
            .values_list("id", "assignee_id", "channel", "subject", "customer__display_name", "queue_id", "status")):
        held.setdefault(uid, []).append({"id": cid, "channel": channel, "subject": subject, "customer_name": customer,
                                         "queue_id": queue_id, "status": status})
        load.setdefault(uid, {})[channel] = load.get(uid, {}).get(channel, 0) + 1
    # A ringing offer reserves the capacity it would use, as routing counts it.
    for uid, channel in (RoutingEntry.objects.filter(state=RoutingEntry.State.OFFERED, offer__isnull=False)
                         .values_list("offer__agent_id", "conversation__channel")):
        load.setdefault(uid, {})[channel] = load.get(uid, {}).get(channel, 0) + 1
    rows: list[dict[str, Any]] = []
    states: list[f.AgentState] = []
    for uid, name, role, presence, capacity, changed, reason in profiles:
        mine = load.get(uid, {})
        channels = sorted(set(DEFAULT_CAPACITY) | set(capacity or {}) | set(mine))
        caps = {c: capacity_for(capacity or {}, c) for c in channels}
        state = f.AgentState(uid, presence, dict(mine), caps, frozenset(teams.get(uid, ())))
        states.append(state)
        rows.append({"id": uid, "name": name, "role": role, "presence": presence, "presence_changed_at": changed,
                     "presence_reason": reason,
                     "teams": sorted(state.teams), "load": dict(sorted(mine.items())), "capacity": caps,
                     "occupancy": f.agent_occupancy(state), "conversations": held.get(uid, [])})
    return rows, states


def _hours(rows: list[dict[str, Any]], zone: ZoneInfo) -> list[dict[str, Any]]:
    return [{**row, "start": dt.datetime.fromtimestamp(row["start"], zone)} for row in rows]


def wallboard(now: dt.datetime, day: dt.date, zone: ZoneInfo) -> dict[str, Any]:
    """Everything GET /api/v1/metrics/wallboard/ answers (hub/api/views/metrics.py)."""
    start, end = day_bounds(day, zone)
    t_start, t_end, t_now = start.timestamp(), end.timestamp(), now.timestamp()
    queues = list(RoutingQueue.objects.values_list("id", "name", "team_id", "active", "order",
                                                   "service_level_seconds", "service_level_target"))
    thresholds = {q[0]: q[5] for q in queues}
    contacts = _contacts(start, end, now, thresholds)
    # An entry whose conversation was answered or closed by other means waits for routing's next round to
    # be removed (routing/adapter.py load): it is no longer in line.
    entries = list(RoutingEntry.objects.filter(state__in=LINE_STATES, conversation__assignee__isnull=True)
                   .exclude(conversation__status=Conversation.Status.RESOLVED).order_by("arrived_at", "conversation_id")
                   .values_list("conversation_id", "queue_id", "arrived_at", "state", "conversation__channel",
                                "conversation__customer__display_name", "conversation__subject",
                                "conversation__team_id", "offer__agent_id"))
    line = [f.Waiting(e[0], e[1], e[2].timestamp()) for e in entries]
    agent_rows, agents = _agents()
    returns = contacts
    by_queue: dict[int | None, list[f.Contact]] = {}
    for c in contacts:
        by_queue.setdefault(c.queue_id, []).append(c)
    line_of: dict[int, list[f.Waiting]] = {}
    for w in line:
        line_of.setdefault(w.queue_id, []).append(w)
    # A row for each active queue, and for an inactive one that still has figures today.
    used = set(by_queue) | set(line_of)
    queue_rows = []
    for qid, name, team_id, active, _order, sl_seconds, sl_target in queues:
        if not active and qid not in used:
            continue
        mine = by_queue.get(qid, [])
        serving = [a for a in agents if f.serves(a, team_id)]
        queue_rows.append({
            "id": qid, "name": name, "team_id": team_id, "active": active,
            "service_level_seconds": sl_seconds, "service_level_target": sl_target,
            "figures": f.figures(mine, line_of.get(qid, []), serving, start=t_start, end=t_end,
                                 now=t_now, returns=returns),
            "hourly": _hours(f.hourly(mine, start=t_start, end=t_end, now=t_now), zone),
        })
    waiting = [{"conversation_id": cid, "queue_id": qid, "arrived_at": arrived, "state": state, "channel": channel,
                "customer_name": customer, "subject": subject, "team_id": team_id, "offered_to": offered_to,
                "wait": max(0.0, t_now - arrived.timestamp())}
               for cid, qid, arrived, state, channel, customer, subject, team_id, offered_to
               in entries[:WAITING_LISTED]]
    return {
        "generated_at": now, "date": day, "timezone": zone.key, "day_start": start, "day_end": end,
        "overall": {
            "figures": f.figures(contacts, line, agents, start=t_start, end=t_end, now=t_now, returns=returns),
            "hourly": _hours(f.hourly(contacts, start=t_start, end=t_end, now=t_now), zone),
        },
        "queues": queue_rows,
        "agents": agent_rows,
        "waiting": waiting,
    }
