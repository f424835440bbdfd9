"""Catching a recipient up from the database: what `/ws/agent/` sends a client that reconnects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from hub.models import EventCursor, EventDelivery

# What a client that is told to reload must fetch again through the API.
RELOAD_RESOURCES = ["conversations", "presence", "customers", "offers"]


@dataclass(frozen=True)
class Backlog:
    events: list[tuple[int, dict[str, Any]]]  # (seq, event payload), in order
    reload: bool
    last_seq: int  # the recipient's newest sequence number at the time of reading


def last_seq(user_id: int) -> int:
    cursor = EventCursor.objects.filter(user_id=user_id).first()
    return cursor.last_seq if cursor else 0


def backlog(user_id: int, after: int, limit: int | None = None) -> Backlog:
    """Events of `user_id` numbered above `after`, in order; or `reload=True` when they are no longer all
    kept (pruned) or more than `limit` were missed, so that reloading is cheaper than replaying."""
    limit = limit or settings.HUB_EVENT_RETENTION
    newest = last_seq(user_id)
    if after >= newest:
        return Backlog([], False, newest)
    if after < 0 or newest - after > limit:
        return Backlog([], True, newest)
    rows = list(
        EventDelivery.objects.filter(recipient_id=user_id, seq__gt=after, seq__lte=newest)
        .order_by("seq").values_list("seq", "change__payload")
    )
    if not rows or rows[0][0] != after + 1 or len(rows) != newest - after:
        return Backlog([], True, newest)  # part of what was missed has been pruned
    return Backlog([(seq, payload) for seq, payload in rows], False, newest)


def prune(keep: int | None = None) -> int:
    """Drop deliveries older than the newest `keep` per recipient. Returns how many were deleted."""
    keep = keep or settings.HUB_EVENT_RETENTION
    deleted = 0
    for cursor in EventCursor.objects.all().iterator():
        n, _ = EventDelivery.objects.filter(recipient_id=cursor.user_id, seq__lte=cursor.last_seq - keep).delete()
        deleted += n
    return deleted
