"""Recording changes and handing realtime events out after commit (Zulip's send_event_on_commit).

Every change an action makes is recorded, inside the action's transaction, as a `Change` row with a change
number, and as one `EventDelivery` per recipient with that recipient's next sequence number. Only after the
transaction commits are the events pushed to the channel layer; a rollback sends nothing and leaves no row.

Numbers are handed out under row locks (the change counter, then each recipient's cursor, in id order), so
they become visible in the order they were handed out: a reader that has seen number N has seen every
number below it. That is what lets the search indexer and a reconnecting websocket catch up from the
database alone. The lock is taken as late as possible in the transaction (publish is the last step of an
action) to keep the serialized section short.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from hub.events import pusher
from hub.events.schema import Event
from hub.models import AgentProfile, Change, Conversation, EventDelivery

logger = logging.getLogger(__name__)


def agent_group(user_id: int) -> str:
    """The channel-layer group of one agent's connections."""
    return f"agent-{user_id}"


@dataclass(frozen=True)
class Published:
    changes: list[Change]
    seqs: dict[int, list[int]]  # recipient user id -> the sequence numbers of the events, in order


def _next_change_numbers(n: int) -> list[int]:
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO hub_changecounter (name, value) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET value = hub_changecounter.value + %s RETURNING value",
            ["change", n, n],
        )
        row = cur.fetchone()
    assert row is not None
    last = int(row[0])
    return list(range(last - n + 1, last + 1))


def _next_seqs(user_ids: list[int], n: int) -> dict[int, list[int]]:
    if not user_ids:
        return {}
    values = ", ".join(["(%s, %s)"] * len(user_ids))
    sql = (
        f"INSERT INTO hub_eventcursor (user_id, last_seq) VALUES {values} "  # noqa: S608 - placeholders only
        "ON CONFLICT (user_id) DO UPDATE SET last_seq = hub_eventcursor.last_seq + %s "
        "RETURNING user_id, last_seq"
    )
    params: list[int] = []
    for uid in user_ids:
        params += [uid, n]
    with connection.cursor() as cur:
        cur.execute(sql, [*params, n])
        return {int(uid): list(range(int(last) - n + 1, int(last) + 1)) for uid, last in cur.fetchall()}


def publish(event: Event, recipients: Iterable[int], *, conversation_id: int | None = None,
            customer_id: int | None = None) -> Published:
    """Record `event` as a change and queue it for `recipients` (user ids) after commit.

    Precondition: called inside the action's transaction, as its last write.
    """
    return publish_many([event], recipients, conversation_id=conversation_id, customer_id=customer_id)


def publish_many(events: list[Event], recipients: Iterable[int], *, conversation_id: int | None = None,
                 customer_id: int | None = None) -> Published:
    """Record several events for the same audience, in order, with one round of numbering (the hot path
    of ingestion publishes two)."""
    if not connection.in_atomic_block:
        raise RuntimeError("publish() must run inside the transaction of the change it describes")
    if not events:
        return Published([], {})
    payloads = [event.model_dump(mode="json") for event in events]
    now = timezone.now()
    numbers = _next_change_numbers(len(payloads))
    changes = Change.objects.bulk_create([
        Change(number=number, type=payload["type"], conversation_id=conversation_id, customer_id=customer_id,
               payload=payload, created_at=now)
        for number, payload in zip(numbers, payloads, strict=True)
    ])
    seqs = _next_seqs(sorted(set(recipients)), len(payloads))
    EventDelivery.objects.bulk_create([
        EventDelivery(recipient_id=uid, seq=seq, change=change)
        for uid, user_seqs in seqs.items()
        for seq, change in zip(user_seqs, changes, strict=True)
    ])
    transaction.on_commit(lambda: send_now(seqs, payloads))
    return Published(changes, seqs)


def send_now(seqs: dict[int, list[int]], payloads: list[dict[str, Any]]) -> None:
    """Hand committed events to the pusher (hub/events/pusher.py); returns at once. A push that fails or
    is lost loses nothing: clients notice the gap in their sequence and read the events from the database."""
    layer = get_channel_layer()
    if layer is None or not seqs:
        return

    async def push_all() -> None:
        for uid, user_seqs in seqs.items():
            group = agent_group(uid)
            for seq, payload in zip(user_seqs, payloads, strict=True):
                try:
                    await layer.group_send(group, {"type": "hub.event", "seq": seq, "event": payload})
                except Exception:
                    logger.exception("realtime push to user %s failed", uid)

    pusher.submit(push_all)


def staff_ids() -> set[int]:
    return set(
        AgentProfile.objects.filter(role__in=[AgentProfile.Role.SUPERVISOR, AgentProfile.Role.ADMIN])
        .values_list("user_id", flat=True)
    )


def conversation_audience(conversation: Conversation, *extra: int | None) -> set[int]:
    """Who receives events about a conversation: the same people who may see it (hub/access.py), plus
    `extra` users (a previous assignee, so their list drops it)."""
    q = Q(role__in=[AgentProfile.Role.SUPERVISOR, AgentProfile.Role.ADMIN])
    if conversation.team_id is None:
        q |= Q(role=AgentProfile.Role.AGENT)
    else:
        q |= Q(teams=conversation.team_id)
    ids = set(AgentProfile.objects.filter(q).values_list("user_id", flat=True))
    if conversation.assignee_id:
        ids.add(conversation.assignee_id)
    ids.update(uid for uid in extra if uid)
    return ids
