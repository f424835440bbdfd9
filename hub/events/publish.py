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

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from hub.events.schema import Event
from hub.models import AgentProfile, Change, Conversation, EventDelivery

logger = logging.getLogger(__name__)


def agent_group(user_id: int) -> str:
    """The channel-layer group of one agent's connections."""
    return f"agent-{user_id}"


@dataclass(frozen=True)
class Published:
    change: Change
    seqs: dict[int, int]  # recipient user id -> sequence number


def _next_change_number() -> int:
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO hub_changecounter (name, value) VALUES (%s, 1) "
            "ON CONFLICT (name) DO UPDATE SET value = hub_changecounter.value + 1 RETURNING value",
            ["change"],
        )
        row = cur.fetchone()
    assert row is not None
    return int(row[0])


def _next_seqs(user_ids: list[int]) -> dict[int, int]:
    if not user_ids:
        return {}
    values = ", ".join(["(%s, 1)"] * len(user_ids))
    sql = (
        f"INSERT INTO hub_eventcursor (user_id, last_seq) VALUES {values} "  # noqa: S608 - placeholders only
        "ON CONFLICT (user_id) DO UPDATE SET last_seq = hub_eventcursor.last_seq + 1 "
        "RETURNING user_id, last_seq"
    )
    with connection.cursor() as cur:
        cur.execute(sql, user_ids)
        return {int(uid): int(seq) for uid, seq in cur.fetchall()}


def publish(
    event: Event,
    recipients: Iterable[int],
    *,
    conversation_id: int | None = None,
    customer_id: int | None = None,
) -> Published:
    """Record `event` as a change and queue it for `recipients` (user ids) after commit.

    Precondition: called inside the action's transaction, as its last write.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("publish() must run inside the transaction of the change it describes")
    payload = event.model_dump(mode="json")
    number = _next_change_number()
    change = Change.objects.create(
        number=number, type=payload["type"], conversation_id=conversation_id, customer_id=customer_id,
        payload=payload, created_at=timezone.now(),
    )
    seqs = _next_seqs(sorted(set(recipients)))
    EventDelivery.objects.bulk_create(
        [EventDelivery(recipient_id=uid, seq=seq, change=change) for uid, seq in seqs.items()]
    )
    transaction.on_commit(lambda: send_now(seqs, payload))
    return Published(change, seqs)


def send_now(seqs: dict[int, int], payload: dict[str, object]) -> None:
    """Push one committed event to its recipients' connections. A failure here loses nothing: clients
    notice the gap in their sequence and fetch the missing events from the database."""
    layer = get_channel_layer()
    if layer is None:
        return
    for uid, seq in seqs.items():
        try:
            async_to_sync(layer.group_send)(agent_group(uid), {"type": "hub.event", "seq": seq, "event": payload})
        except Exception:  # the database copy is authoritative; resume covers a dropped push
            logger.exception("realtime push to user %s failed", uid)


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
