"""Configuring routing queues (the API's /routing/queues/ and the admin): create, change, remove.

`check_queue_config` is the one validation of a queue's configuration, used by the actions below and by
the admin form, so that the engine never meets a configuration it would refuse or misread (routing reads
the JSON fields with little checking: RoutingQueue.engine_queue in hub/models/routing.py).

Two rules keep conversations from being stranded, because routing only loads active queues:

- a queue that is deactivated or deleted hands its waiting conversations to the queue that would take
  them without it (keeping their place by arrival); a pending offer of one of them is withdrawn first;
- the last active catch-all queue (no team, channels or languages) cannot be deactivated, deleted or
  narrowed: conversations no other queue takes wait there (routing/adapter.py ensure_default_queue).

Deleting a queue that conversations, offers or another queue's overflow refer to deactivates it instead:
those references are the history that reports and the offer log are read from, and deleting would set
them to null.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any, TypeGuard
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.utils import timezone

from hub import audit
from hub.actions import ActionError
from hub.actions.routing import do_move_queue, do_withdraw_offer, round_after_commit
from hub.models import Conversation, RoutingEntry, RoutingOffer, RoutingQueue, Team
from routing.adapter import contact_of, ensure_default_queue
from routing.core import Engine, RoutingError
from routing.core.model import STRATEGIES

# Everything configurable on a queue; `team` and `overflow_to` are ids (or None) in a configuration.
QUEUE_FIELDS: tuple[str, ...] = (
    "name", "order", "active", "team", "channels", "languages", "required_skills", "strategy", "aging_seconds",
    "overflow_to", "overflow_after", "hours", "out_of_hours_message", "offer_timeouts", "auto_assign_channels",
    "sticky_seconds", "relaxation", "requeue_on_offline", "aht_seconds", "service_level_seconds",
    "service_level_target",
)
MIN_SKILL_LEVEL, MAX_SKILL_LEVEL = 1, 5
MINUTES_PER_DAY = 24 * 60
HOURS_KEYS = frozenset({"timezone", "weekly", "closed_dates"})
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NAME_MAX = RoutingQueue._meta.get_field("name").max_length or 100


# --- validation ------------------------------------------------------------------------------------------

def _pk(value: object) -> int | None:
    """An id from an id or a model instance (the admin form hands instances, the API ids)."""
    if isinstance(value, Model):
        return int(value.pk)
    return value if _is_int(value) else None


def _is_number(value: object) -> TypeGuard[int | float]:
    # JSON true/false are ints to Python; NaN and infinity would make every comparison in the engine false.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: object, field: str, *, minimum: float, inclusive: bool = True) -> float:
    if not _is_number(value):
        raise ActionError("must be a number", field=field)
    number = float(value)
    if number < minimum or (not inclusive and number == minimum):
        raise ActionError(f"must be {'at least' if inclusive else 'more than'} {minimum:g}", field=field)
    return number


def _strings(value: object, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ActionError("must be a list of non-empty strings", field=field)
    return list(value)


def _check_hours(raw: object) -> dict[str, Any] | None:
    """{"timezone": IANA zone, "weekly": {"0".."6": [[start, end], ...]}, "closed_dates": [ISO dates]} with
    minutes since local midnight, 0 <= start < end <= 1440; null or {} means always open."""
    if raw is None or raw == {}:
        return None
    if not isinstance(raw, dict):
        raise ActionError("must be an object with timezone, weekly and closed_dates, or null", field="hours")
    unknown = set(raw) - HOURS_KEYS
    if unknown:
        raise ActionError(f"unknown keys {sorted(unknown)}; expected {sorted(HOURS_KEYS)}", field="hours")
    zone = raw.get("timezone")
    if not isinstance(zone, str) or not zone:
        raise ActionError("timezone is required (an IANA time zone such as Europe/Paris)", field="hours")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown name, or not a plain key (e.g. a path)
        raise ActionError(f"unknown time zone {zone!r}", field="hours") from None
    weekly = raw.get("weekly")
    # Required even when empty: without it the queue would never open, which is rarely what was meant.
    if not isinstance(weekly, dict):
        raise ActionError('weekly must be an object of weekday ("0" Monday .. "6" Sunday) to intervals',
                          field="hours")
    for day, spans in weekly.items():
        if day not in {str(d) for d in range(7)}:
            raise ActionError(f'weekday {day!r}: must be "0" (Monday) to "6" (Sunday)', field="hours")
        if not isinstance(spans, list):
            raise ActionError(f"weekday {day}: must be a list of [start, end] minute pairs", field="hours")
        for span in spans:
            if (not isinstance(span, list) or len(span) != 2 or not all(_is_int(m) for m in span)
                    or not 0 <= span[0] < span[1] <= MINUTES_PER_DAY):
                raise ActionError(f"weekday {day}: {span!r} is not [start, end] minutes with "
                                  f"0 <= start < end <= {MINUTES_PER_DAY}", field="hours")
    closed = raw.get("closed_dates", [])
    if not isinstance(closed, list):
        raise ActionError("closed_dates must be a list of YYYY-MM-DD dates", field="hours")
    for date in closed:
        try:
            if not isinstance(date, str) or not _DATE.match(date):
                raise ValueError(date)
            dt.date.fromisoformat(date)
        except ValueError:
            raise ActionError(f"closed date {date!r} is not a YYYY-MM-DD date", field="hours") from None
    return {"timezone": zone, "weekly": weekly, "closed_dates": closed}


def _check_overflow(queue_id: int | None, overflow_to: int | None) -> None:
    """The target exists, is not the queue itself, and following overflows from it never comes back here
    (the engine would move a conversation round the cycle for ever)."""
    if overflow_to is None:
        return
    if queue_id is not None and overflow_to == queue_id:
        raise ActionError("a queue cannot overflow to itself", field="overflow_to")
    targets = dict(RoutingQueue.objects.values_list("id", "overflow_to_id"))
    if overflow_to not in targets:
        raise ActionError("no such queue", field="overflow_to")
    if queue_id is None:
        return  # a new queue: nothing overflows to it yet, so no cycle can pass through it
    seen: set[int] = set()
    current: int | None = overflow_to
    while current is not None and current not in seen:
        if current == queue_id:
            raise ActionError("overflowing there would come back to this queue (a cycle)", field="overflow_to")
        seen.add(current)
        current = targets.get(current)


def check_queue_config(config: Mapping[str, Any], *, queue_id: int | None = None) -> dict[str, Any]:
    """Validate a queue's complete configuration (every QUEUE_FIELDS key; `queue_id`: the queue it is for,
    None for a new one) and return it with `team` and `overflow_to` as ids. Raises ActionError naming the
    field for the first problem found."""
    missing = [f for f in QUEUE_FIELDS if f not in config]
    if missing:
        raise ActionError(f"missing {', '.join(missing)}", field=missing[0])
    unknown = sorted(set(config) - set(QUEUE_FIELDS))
    if unknown:
        raise ActionError("not a queue setting", field=unknown[0])
    c = dict(config)

    name = c["name"]
    if not isinstance(name, str) or not name.strip():
        raise ActionError("a name is required", field="name")
    c["name"] = name = name.strip()
    if len(name) > _NAME_MAX:
        raise ActionError(f"at most {_NAME_MAX} characters", field="name")
    others = RoutingQueue.objects.exclude(pk=queue_id) if queue_id is not None else RoutingQueue.objects.all()
    if others.filter(name=name).exists():
        raise ActionError(f"a queue named {name!r} already exists", field="name")
    if not _is_int(c["order"]):
        raise ActionError("must be a whole number", field="order")
    for flag in ("active", "requeue_on_offline"):
        if not isinstance(c[flag], bool):
            raise ActionError("must be true or false", field=flag)

    c["team"] = team = _pk(c["team"])
    if c["team"] is None and config["team"] is not None:
        raise ActionError("must be a team id or null", field="team")
    if team is not None and not Team.objects.filter(pk=team).exists():
        raise ActionError("no such team", field="team")

    for field in ("channels", "languages", "auto_assign_channels"):
        c[field] = _strings(c[field], field)

    skills = c["required_skills"]
    if not isinstance(skills, dict):
        raise ActionError('must be an object of skill to minimum level, e.g. {"spanish": 3}', field="required_skills")
    for skill, level in skills.items():
        if not isinstance(skill, str) or not skill.strip():
            raise ActionError("skill names must not be empty", field="required_skills")
        if not _is_int(level) or not MIN_SKILL_LEVEL <= level <= MAX_SKILL_LEVEL:
            raise ActionError(f"skill {skill!r}: level must be a whole number from {MIN_SKILL_LEVEL} to "
                              f"{MAX_SKILL_LEVEL}", field="required_skills")

    if c["strategy"] not in STRATEGIES:
        raise ActionError(f"must be one of {', '.join(STRATEGIES)}", field="strategy")

    # Waiting `aging_seconds` is worth one priority level, and `aht_seconds` divides the estimated wait:
    # below a second either is a typo that would swamp priorities or the estimate.
    c["aging_seconds"] = _number(c["aging_seconds"], "aging_seconds", minimum=1)
    c["aht_seconds"] = _number(c["aht_seconds"], "aht_seconds", minimum=1)
    c["sticky_seconds"] = _number(c["sticky_seconds"], "sticky_seconds", minimum=0)  # 0: no sticky agent
    # Only the wallboard reads these (docs/metrics.md); 0 s is a valid, if strict, threshold.
    c["service_level_seconds"] = _number(c["service_level_seconds"], "service_level_seconds", minimum=0)
    c["service_level_target"] = _number(c["service_level_target"], "service_level_target", minimum=0)
    if c["service_level_target"] > 1:
        raise ActionError("must be a share from 0 to 1 (0.8 for 80%)", field="service_level_target")

    c["overflow_to"] = overflow_to = _pk(c["overflow_to"])
    if overflow_to is None and config["overflow_to"] is not None:
        raise ActionError("must be a queue id or null", field="overflow_to")
    _check_overflow(queue_id, overflow_to)
    if c["overflow_after"] is not None:
        # Zero would move every conversation on before it could be offered: configure the target instead.
        c["overflow_after"] = _number(c["overflow_after"], "overflow_after", minimum=0, inclusive=False)

    c["hours"] = _check_hours(c["hours"])
    if not isinstance(c["out_of_hours_message"], str):
        raise ActionError("must be text", field="out_of_hours_message")

    timeouts = c["offer_timeouts"]
    if not isinstance(timeouts, dict):
        raise ActionError('must be an object of channel to seconds, e.g. {"webchat": 30}', field="offer_timeouts")
    for channel, seconds in timeouts.items():
        if not isinstance(channel, str) or not channel.strip():
            raise ActionError("channel names must not be empty", field="offer_timeouts")
        if not _is_number(seconds) or seconds <= 0:
            raise ActionError(f"{channel}: the timeout must be a number of seconds above 0", field="offer_timeouts")

    relaxation = c["relaxation"]
    if not isinstance(relaxation, list):
        raise ActionError("must be a list of [after seconds, lower levels by] pairs", field="relaxation")
    for step in relaxation:
        if (not isinstance(step, list) or len(step) != 2 or not _is_number(step[0]) or step[0] < 0
                or not _is_int(step[1]) or step[1] < 1):
            raise ActionError(f"{step!r} is not [seconds >= 0, levels >= 1]", field="relaxation")
    return c


def _is_catch_all(config: Mapping[str, Any]) -> bool:
    return bool(config["active"]) and config["team"] is None and not config["channels"] and not config["languages"]


def _check_keeps_a_catch_all(queue: RoutingQueue, after: Mapping[str, Any] | None) -> None:
    """`after`: the queue's new configuration, None when it is deleted."""
    if not _is_catch_all(queue_config(queue)) or (after is not None and _is_catch_all(after)):
        return
    others = RoutingQueue.objects.filter(active=True, team__isnull=True, channels=[], languages=[]).exclude(pk=queue.pk)
    if not others.exists():
        # The field whose change would remove it (deleting names no field).
        field = "detail" if after is None else next(
            f for f in ("active", "team", "channels", "languages") if after[f] != queue_config(queue)[f])
        raise ActionError("this is the last active queue that takes every conversation (no team, channels or "
                          "languages); add another one first", field=field)


# --- reading and writing ---------------------------------------------------------------------------------

def queue_config(queue: RoutingQueue) -> dict[str, Any]:
    """A queue's current configuration (QUEUE_FIELDS, with ids for team and overflow_to)."""
    config = {f: getattr(queue, f) for f in QUEUE_FIELDS if f not in ("team", "overflow_to")}
    return {**config, "team": queue.team_id, "overflow_to": queue.overflow_to_id}


def default_config() -> dict[str, Any]:
    """A new queue's configuration: the model's defaults (the name has none)."""
    return queue_config(RoutingQueue())  # an unsaved instance holds the field defaults


def _save(queue: RoutingQueue, config: Mapping[str, Any]) -> None:
    for field in QUEUE_FIELDS:
        if field not in ("team", "overflow_to"):
            setattr(queue, field, config[field])
    queue.team_id, queue.overflow_to_id = config["team"], config["overflow_to"]
    try:
        with transaction.atomic():
            queue.save()
    except IntegrityError:  # a concurrent save took the name between the check and this write
        raise ActionError(f"a queue named {config['name']!r} already exists", field="name") from None


def _relocate_entries(queue: RoutingQueue, now: dt.datetime) -> int:
    """Hand the conversations routing placed in `queue` to the active queue that takes them without it.
    Called under the queue's lock, before it is deactivated or deleted; returns how many moved."""
    # Blocking locks (not SKIP LOCKED): a router placing one of these finishes first, and none is missed.
    entries = list(RoutingEntry.objects.select_for_update(no_key=True).filter(queue=queue).order_by("arrived_at"))
    if not entries:
        return 0
    for entry in entries:
        if entry.state == RoutingEntry.State.OFFERED and entry.offer_id is not None:
            do_withdraw_offer(entry.offer_id, now)  # back in line here, then moved below
    others = {q.pk: q for q in RoutingQueue.objects.filter(active=True).exclude(pk=queue.pk)}
    engine = Engine()
    for other in others.values():
        try:
            engine.set_queue(other.engine_queue())
        except RoutingError:
            continue  # saved around this validation (a shell); not a place to send conversations
    convs = Conversation.objects.select_related("customer").in_bulk([e.conversation_id for e in entries])
    moved = 0
    for entry in entries:
        conv = convs.get(entry.conversation_id)
        if conv is None:
            continue
        try:
            target = others[engine.queue_for(contact_of(conv)).id]
        except RoutingError:
            target = ensure_default_queue()
        if target.pk == queue.pk:
            continue  # cannot happen while _check_keeps_a_catch_all holds
        moved += do_move_queue(conv.pk, queue.pk, target, out_of_hours=not target.is_open_at(now),
                               reason="queue_removed", now=now)
    return moved


def check_queue_change(queue: RoutingQueue | None, values: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration `queue` would have with `values` (some QUEUE_FIELDS) applied, or a new queue (None)
    with the defaults for the rest, validated; and a change must not remove the last catch-all queue."""
    config = check_queue_config({**(queue_config(queue) if queue else default_config()), **values},
                                queue_id=queue.pk if queue else None)
    if queue is not None:
        _check_keeps_a_catch_all(queue, config)
    return config


def do_create_queue(actor: User | None, values: Mapping[str, Any]) -> RoutingQueue:
    """A new queue from `values` (any QUEUE_FIELDS; the rest take the model's defaults)."""
    config = check_queue_change(None, values)
    with transaction.atomic():
        queue = RoutingQueue()
        _save(queue, config)
        audit.record("routing.queue_created", actor, queue=queue.pk, config=config)
        round_after_commit()
    return queue


def do_update_queue(actor: User | None, queue: RoutingQueue, changes: Mapping[str, Any]) -> RoutingQueue:
    """Change some of a queue's settings. Deactivating it hands its waiting conversations to other queues."""
    now = timezone.now()
    with transaction.atomic():
        locked = RoutingQueue.objects.select_for_update(no_key=True).filter(pk=queue.pk).first()
        if locked is None:
            raise ActionError("no such queue", field="queue")
        before = queue_config(locked)
        after = check_queue_change(locked, changes)
        changed = {f: after[f] for f in QUEUE_FIELDS if after[f] != before[f]}
        if not changed:
            return locked
        moved = _relocate_entries(locked, now) if before["active"] and not after["active"] else 0
        _save(locked, after)
        audit.record("routing.queue_updated", actor, queue=locked.pk, changed=changed,
                     previous={f: before[f] for f in changed}, moved=moved)
        round_after_commit()
    return locked


def do_delete_queue(actor: User | None, queue: RoutingQueue) -> RoutingQueue | None:
    """Remove a queue: deleted (returns None) when nothing refers to it, else deactivated (returns it).
    Either way its waiting conversations first move to the queues that take them without it."""
    now = timezone.now()
    with transaction.atomic():
        locked = RoutingQueue.objects.select_for_update(no_key=True).filter(pk=queue.pk).first()
        if locked is None:
            raise ActionError("no such queue", field="queue")
        _check_keeps_a_catch_all(locked, None)
        moved = _relocate_entries(locked, now) if locked.active else 0
        referenced = (Conversation.objects.filter(queue=locked).exists()
                      or RoutingOffer.objects.filter(queue=locked).exists()
                      or RoutingQueue.objects.filter(overflow_to=locked).exclude(pk=locked.pk).exists()
                      or RoutingEntry.objects.filter(queue=locked).exists())  # one a router held past the move
        if not referenced:
            pk = locked.pk
            locked.delete()
            audit.record("routing.queue_deleted", actor, queue=pk, name=locked.name, moved=moved)
            round_after_commit()
            return None
        if locked.active:
            locked.active = False
            locked.save(update_fields=["active", "updated_at"])
            audit.record("routing.queue_updated", actor, queue=locked.pk, changed={"active": False},
                         previous={"active": True}, moved=moved)
            round_after_commit()
    return locked
