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

import asyncio
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.utils import timezone

from hub.events import pusher
from hub.events.schema import Event
from hub.models import AgentProfile, Conversation
from search import indexer as search_indexer

logger = logging.getLogger(__name__)


def agent_group(user_id: int) -> str:
    """The channel-layer group of one agent's connections."""
    return f"agent-{user_id}"


# Scope groups: an event goes to the few groups that cover its audience instead of one group per
# recipient, and each connection picks its own sequence number out of the event (web/consumers.py).
STAFF_GROUP = "agents-staff"  # supervisors and admins
ALL_AGENTS_GROUP = "agents-all"  # every agent: conversations with no team are everyone's


def team_group(team_id: int) -> str:
    return f"team-{team_id}"


def conversation_group(conversation_id: int) -> str:
    """The group of the chat visitors' connections that follow one conversation (web/chat_consumer.py).
    They are told only that it changed, and read what they may see from the change log."""
    return f"conversation-{conversation_id}"


class Audience(frozenset[int]):
    """Recipient user ids, plus the channel-layer groups that reach exactly their connections (possibly
    a few more, which find no sequence number for themselves and ignore the event)."""

    groups: frozenset[str]

    def __new__(cls, user_ids: set[int], groups: set[str]) -> Audience:
        audience = super().__new__(cls, user_ids)
        audience.groups = frozenset(groups)
        return audience


@dataclass(frozen=True)
class Published:
    change_ids: list[int]
    seqs: dict[int, list[int]]  # recipient user id -> the sequence numbers of the events, in order


# PostgreSQL: the whole record in one statement. `cursors` reads `counter` so that the change counter is
# always locked before any recipient cursor (one lock order for every writer: no deadlocks), and the
# cursors are locked in user id order.
_RECORD_PG = """
WITH counter AS (
    INSERT INTO hub_changecounter (name, value) VALUES ('change', %(n)s)
    ON CONFLICT (name) DO UPDATE SET value = hub_changecounter.value + %(n)s
    RETURNING value
), changes AS (
    INSERT INTO hub_change (number, type, conversation_id, customer_id, payload, created_at)
    SELECT counter.value - %(n)s + p.ord, p.type, %(conv)s, %(cust)s, p.payload::jsonb, %(now)s
    FROM counter, unnest(%(types)s::text[], %(payloads)s::text[]) WITH ORDINALITY AS p(type, payload, ord)
    RETURNING id, number
), cursors AS (
    INSERT INTO hub_eventcursor (user_id, last_seq)
    SELECT u.id, %(n)s FROM counter, unnest(%(users)s::integer[]) AS u(id) ORDER BY u.id
    ON CONFLICT (user_id) DO UPDATE SET last_seq = hub_eventcursor.last_seq + %(n)s
    RETURNING user_id, last_seq
), deliveries AS (
    INSERT INTO hub_eventdelivery (recipient_id, seq, change_id)
    SELECT cursors.user_id, cursors.last_seq - counter.value + changes.number, changes.id
    FROM counter, cursors, changes
    RETURNING 1
)
SELECT (SELECT array_agg(id ORDER BY number) FROM changes),
       (SELECT array_agg(user_id ORDER BY user_id) FROM cursors),
       (SELECT array_agg(last_seq ORDER BY user_id) FROM cursors),
       (SELECT count(*) FROM deliveries)
"""


def _record_postgres(payloads: list[dict[str, Any]], users: list[int], conversation_id: int | None,
                     customer_id: int | None) -> Published:
    n = len(payloads)
    with connection.cursor() as cur:
        cur.execute(_RECORD_PG, {
            "n": n, "conv": conversation_id, "cust": customer_id,
            "now": connection.ops.adapt_datetimefield_value(timezone.now()),
            "types": [p["type"] for p in payloads], "payloads": [json.dumps(p) for p in payloads],
            "users": users,
        })
        row = cur.fetchone()
    assert row is not None
    change_ids, user_ids, lasts, _ = row
    seqs = {int(uid): list(range(int(last) - n + 1, int(last) + 1))
            for uid, last in zip(user_ids or [], lasts or [], strict=True)}
    return Published([int(i) for i in change_ids], seqs)


def _record_portable(payloads: list[dict[str, Any]], users: list[int], conversation_id: int | None,
                     customer_id: int | None) -> Published:
    """The same record in plain statements, for SQLite (whose transactions are serialized anyway)."""
    n = len(payloads)
    now = connection.ops.adapt_datetimefield_value(timezone.now())  # the ORM's text form on SQLite
    with connection.cursor() as cur:
        cur.execute("INSERT INTO hub_changecounter (name, value) VALUES ('change', %s) "
                    "ON CONFLICT (name) DO UPDATE SET value = hub_changecounter.value + %s RETURNING value",
                    [n, n])
        row = cur.fetchone()
        assert row is not None
        first = int(row[0]) - n + 1
        change_ids: list[int] = []
        for i, payload in enumerate(payloads):
            cur.execute("INSERT INTO hub_change (number, type, conversation_id, customer_id, payload, created_at) "
                        "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                        [first + i, payload["type"], conversation_id, customer_id, json.dumps(payload), now])
            created = cur.fetchone()
            assert created is not None
            change_ids.append(int(created[0]))
        seqs: dict[int, list[int]] = {}
        if users:
            values = ", ".join(["(%s, %s)"] * len(users))
            cur.execute(
                f"INSERT INTO hub_eventcursor (user_id, last_seq) VALUES {values} "  # noqa: S608 - placeholders
                "ON CONFLICT (user_id) DO UPDATE SET last_seq = hub_eventcursor.last_seq + %s "
                "RETURNING user_id, last_seq",
                [*[v for uid in users for v in (uid, n)], n],
            )
            seqs = {int(uid): list(range(int(last) - n + 1, int(last) + 1)) for uid, last in cur.fetchall()}
            rows = [(uid, seq, cid) for uid, user_seqs in seqs.items()
                    for seq, cid in zip(user_seqs, change_ids, strict=True)]
            cur.execute("INSERT INTO hub_eventdelivery (recipient_id, seq, change_id) VALUES "  # noqa: S608
                        + ", ".join(["(%s, %s, %s)"] * len(rows)), [v for r in rows for v in r])
    return Published(change_ids, seqs)


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
    users = sorted(set(recipients))
    record = _record_postgres if connection.vendor == "postgresql" else _record_portable
    published = record(payloads, users, conversation_id, customer_id)
    seqs = published.seqs
    groups = (sorted(recipients.groups) if isinstance(recipients, Audience)
              else [agent_group(uid) for uid in seqs])
    transaction.on_commit(lambda: send_now(seqs, payloads, groups, conversation_id=conversation_id))
    transaction.on_commit(search_indexer.kick)
    return published


def send_now(seqs: dict[int, list[int]], payloads: list[dict[str, Any]], groups: list[str], *,
             conversation_id: int | None = None) -> None:
    """Hand committed events to the pusher (hub/events/pusher.py); returns at once. A push that fails or
    is lost loses nothing: clients notice the gap in their sequence and read the events from the database.
    With `conversation_id`, the conversation's chat visitors are also told that it changed."""
    layer = get_channel_layer()
    if layer is None or not (seqs or conversation_id):
        return
    # Per event, every recipient's number, keyed by user id as text (msgpack and JSON both keep it).
    per_event = [{str(uid): user_seqs[i] for uid, user_seqs in seqs.items()} for i in range(len(payloads))]
    # Encoded here once, not by each receiving connection (web/consumers.py sends the text as it is).
    texts = [json.dumps(payload) for payload in payloads] if seqs else []

    async def push_group(group: str) -> None:
        for numbers, text in zip(per_event, texts, strict=True):  # a group's events stay in order
            try:
                await layer.group_send(group, {"type": "hub.event", "seqs": numbers, "event_json": text})
            except Exception:
                logger.exception("realtime push to %s failed", group)

    async def tell_visitors() -> None:
        if conversation_id is None:
            return
        try:
            await layer.group_send(conversation_group(conversation_id),
                                   {"type": "chat.changed", "conversation_id": conversation_id})
        except Exception:
            logger.exception("realtime push to the visitors of conversation %s failed", conversation_id)

    async def push_all() -> None:
        await asyncio.gather(*(push_group(group) for group in groups if seqs), tell_visitors())

    pusher.submit(push_all)


def regroup_after_commit(user_id: int) -> None:
    """The agent's teams changed: once this commits, their open connections join the groups they now
    belong in and leave the others (web/consumers.py hub_regroup), instead of hearing of the new teams'
    conversations only at their next connection."""
    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return

        async def push() -> None:
            try:
                await layer.group_send(agent_group(user_id), {"type": "hub.regroup"})
            except Exception:  # the connection still learns of the change when it reconnects
                logger.exception("telling agent %s's connections of their new teams failed", user_id)

        pusher.submit(push)

    transaction.on_commit(send)


def staff_ids() -> set[int]:
    return set(
        AgentProfile.objects.filter(role__in=[AgentProfile.Role.SUPERVISOR, AgentProfile.Role.ADMIN])
        .values_list("user_id", flat=True)
    )


def conversation_audience(conversation: Conversation, *extra: int | None) -> Audience:
    """Who receives events about a conversation: the same people who may see it (hub/access.py), plus
    `extra` users (a previous assignee, so their list drops it). One query: it runs on every message."""
    if conversation.team_id is None:
        sql, params = "SELECT user_id FROM hub_agentprofile WHERE role IN ('supervisor', 'admin', 'agent')", []
        groups = {ALL_AGENTS_GROUP}
    else:
        sql = ("SELECT user_id FROM hub_agentprofile WHERE role IN ('supervisor', 'admin') UNION "
               "SELECT a.user_id FROM hub_agentprofile a JOIN hub_agentprofile_teams t "
               "ON t.agentprofile_id = a.id WHERE t.team_id = %s")
        params = [conversation.team_id]
        groups = {STAFF_GROUP, team_group(conversation.team_id)}
    with connection.cursor() as cur:
        cur.execute(sql, params)
        ids = {int(row[0]) for row in cur.fetchall()}
    for uid in (conversation.assignee_id, *extra):
        if uid:
            ids.add(uid)
            groups.add(agent_group(uid))
    return Audience(ids, groups)
