"""What a chat visitor may read, for web/chat_consumer.py and web/chat_views.py: their account and settings,
the change log of their conversations projected to visitor frames, and their place in the queue.

The projection is the whole privacy boundary of the chat socket: a visitor gets the messages of their own
chats that were sent or received on a web chat account, who answers them, status changes, read marks and
their own rating. Internal notes, other channels, failure reasons, metadata, agent ids and customer data
never leave here.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from connectors.base import AccountInfo
from connectors.webchat import tokens
from connectors.webchat.settings import WidgetSettings
from hub.connector_port import account_info
from hub.models import AgentProfile, Attachment, Change, ChannelAccount, Conversation, Identity, Message, RoutingEntry
from routing import adapter
from routing.core import Contact, Engine

_BATCH = 500


@dataclass(frozen=True)
class Widget:
    """A web chat account as the chat socket and views use it."""

    account: ChannelAccount
    info: AccountInfo
    settings: WidgetSettings


def widget(key: str) -> Widget | None:
    """The active web chat account whose public key is `key`."""
    if not key or len(key) > 320:
        return None
    account = ChannelAccount.objects.filter(channel="webchat", address=key, active=True).first()
    if account is None:
        return None
    info = account_info(account)
    return Widget(account, info, WidgetSettings.from_config(info.config, public_url=info.public_url,
                                                             is_default=account.is_default))


@dataclass(frozen=True)
class VisitorState:
    customer_id: int | None
    name: str
    identified: bool
    conversation_ids: list[int]


def visitor_state(account: ChannelAccount, visitor_id: str) -> VisitorState:
    identity = (Identity.objects.filter(kind=Identity.Kind.WEBCHAT, address=visitor_id)
                .values("customer_id", "display_name", "attributes").first())
    if identity is None:
        return VisitorState(None, "", False, [])
    customer_id = int(identity["customer_id"])
    ids = list(Conversation.objects.filter(customer_id=customer_id, channel_account=account)
               .order_by("id").values_list("pk", flat=True))
    return VisitorState(customer_id, identity["display_name"], bool((identity["attributes"] or {}).get("identified")),
                        ids)


def newest_change(conversation_ids: list[int]) -> int:
    if not conversation_ids:
        return 0
    return int(Change.objects.filter(conversation_id__in=conversation_ids).aggregate(n=Max("number"))["n"] or 0)


def _attachment(w: Widget, visitor_id: str, data: dict[str, Any]) -> dict[str, Any]:
    sig = tokens.sign_attachment(w.info.signing_key, visitor_id, int(data["id"]))
    return {"name": data["name"], "content_type": data["content_type"], "size": data["size"],
            # Relative: the widget puts the hub's address (from its own script src) in front.
            "url": f"{reverse('chat-attachment', args=[w.account.pk, data['id']])}?sig={sig}"}


def project(w: Widget, visitor_id: str, conversation_ids: list[int], after: int) -> tuple[list[dict[str, Any]], int]:
    """The visitor frames for the changes of `conversation_ids` numbered above `after`, in order, and the
    newest change number read (skipped changes count: the visitor's sequence is the change number)."""
    frames: list[dict[str, Any]] = []
    last = after
    if not conversation_ids:
        return frames, last
    while True:
        rows = (Change.objects.filter(conversation_id__in=conversation_ids, number__gt=last).order_by("number")
                .values("number", "type", "conversation_id", "payload")[:_BATCH])
        changes: list[dict[str, Any]] = [dict(row) for row in rows]
        if not changes:
            return frames, last
        frames += _frames(w, visitor_id, changes)
        last = int(changes[-1]["number"])
        if len(changes) < _BATCH:
            return frames, last


def _frames(w: Widget, visitor_id: str, changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    message_ids: set[int] = set()
    agent_ids: set[int] = set()
    for change in changes:
        payload = change["payload"]
        if change["type"] in ("message.created", "message.updated"):
            message_ids.add(int(payload["message"]["id"]))
        elif change["type"] == "message.status":
            message_ids.add(int(payload["message_id"]))
        elif change["type"] == "conversation.assigned" and payload.get("assignee_id"):
            agent_ids.add(int(payload["assignee_id"]))
    # Only messages that still exist and went through a web chat account (a reply by email or SMS in the
    # same conversation is not the visitor's to see).
    rows = {row["pk"]: row for row in Message.objects.filter(pk__in=message_ids, channel_account__channel="webchat")
            .values("pk", "provider_message_id", "direction")}
    names = dict(AgentProfile.objects.filter(user_id__in=agent_ids).values_list("user_id", "display_name"))
    own_prefix = f"{visitor_id}:"
    frames: list[dict[str, Any]] = []
    for change in changes:
        seq, kind, payload = int(change["number"]), change["type"], change["payload"]
        conv_id = int(change["conversation_id"])
        if kind in ("message.created", "message.updated"):
            data = payload["message"]
            row = rows.get(int(data["id"]))
            if row is None:
                continue
            pid = row["provider_message_id"] or ""
            author = {"customer": "visitor", "agent": "agent"}.get(data["author_kind"], "system")
            frames.append({"type": "message", "seq": seq, "message": {
                "id": data["id"], "conversation_id": conv_id,
                "client_id": pid[len(own_prefix):] if pid.startswith(own_prefix) else None,
                "author": author, "author_name": data["author_name"] if author == "agent" else "",
                "text": data["text"], "attachments": [_attachment(w, visitor_id, a) for a in data["attachments"]],
                "status": _status(data["status"]), "created_at": data["created_at"],
            }})
        elif kind == "message.status":
            status = _status(payload["status"])
            if int(payload["message_id"]) in rows and status:
                frames.append({"type": "status", "seq": seq, "conversation_id": conv_id,
                               "message_id": payload["message_id"], "status": status})
        elif kind == "conversation.assigned":
            assignee = payload.get("assignee_id")
            frames.append({"type": "agent", "seq": seq, "conversation_id": conv_id,
                           "name": names.get(int(assignee), "") if assignee else None})
        elif kind in ("conversation.created", "conversation.updated"):
            if kind == "conversation.updated" and "status" not in payload.get("changed", []):
                continue
            frames.append({"type": "conversation", "seq": seq, "conversation_id": conv_id,
                           "status": payload["conversation"]["status"]})
        elif kind == "conversation.read":
            frames.append({"type": "seen", "seq": seq, "conversation_id": conv_id, "up_to": payload["last_read_at"]})
        elif kind == "conversation.rated":
            frames.append({"type": "rated", "seq": seq, "conversation_id": conv_id, "score": payload["score"]})
    return frames


def _status(status: str) -> str:
    """A failed delivery has no meaning for the visitor (they read from the database): shown as nothing."""
    return "" if status == "failed" else status


# --- the queue ---------------------------------------------------------------------------------------------

# Every waiting visitor asks where they stand every 15 s and on every change; loading routing's whole state
# for each would be most of the database's work with hundreds waiting. A snapshot serves every visitor of
# this process for a moment: a position a second old is all a visitor can tell apart anyway.
SNAPSHOT_SECONDS = 1.0
_snapshot: tuple[float, Engine] | None = None
_snapshot_lock = threading.Lock()


def routing_snapshot(now: dt.datetime, *, must_know: int | None = None) -> Engine:
    """Routing's state at most SNAPSHOT_SECONDS old; read again if it does not know conversation
    `must_know` yet (it entered the line after the snapshot was taken)."""
    global _snapshot
    with _snapshot_lock:
        taken = time.monotonic()
        if _snapshot is not None and taken - _snapshot[0] < SNAPSHOT_SECONDS and (
                must_know is None or must_know in _snapshot[1].entries):
            return _snapshot[1]
        engine = adapter.load(now)
        _snapshot = (taken, engine)
        return engine


def queue_state(account: ChannelAccount, conversation_id: int | None, *, fresh: bool = True) -> dict[str, Any]:
    """Where the visitor's current chat stands with routing, as the widget shows it:
    `state` is `assigned`, `offered` (an agent is being asked), `waiting` (with `position` and
    `estimated_wait_seconds`), `out_of_hours`, `closed` (resolved) or `idle` (no chat yet). `offline` is true
    when nobody can answer now (out of hours, or no agent available with room for chats): the widget then
    offers to leave a message."""
    now = timezone.now()
    conv = (Conversation.objects.filter(pk=conversation_id).values("status", "assignee_id", "team_id").first()
            if conversation_id else None)
    if conv is not None and conv["status"] == Conversation.Status.RESOLVED:
        return {"type": "queue", "state": "closed", "offline": False}
    if conv is not None and conv["assignee_id"]:
        return {"type": "queue", "state": "assigned", "offline": False}
    entry = (RoutingEntry.objects.filter(conversation_id=conversation_id).values("state").first()
             if conv is not None and conversation_id is not None else None)
    if entry is not None and entry["state"] == RoutingEntry.State.OUT_OF_HOURS:
        return {"type": "queue", "state": "out_of_hours", "offline": True}
    if entry is not None and entry["state"] == RoutingEntry.State.OFFERED:
        return {"type": "queue", "state": "offered", "offline": False}
    engine = (adapter.load(now) if fresh
              else routing_snapshot(now, must_know=conversation_id if entry is not None else None))
    team_id = conv["team_id"] if conv is not None else account.team_id
    if entry is not None and conversation_id is not None:
        position = engine.position(conversation_id)
        wait = engine.estimated_wait(conversation_id, now.timestamp())
        if position is not None:
            return {"type": "queue", "state": "waiting", "position": position,
                    "estimated_wait_seconds": round(wait) if wait is not None else None,
                    "offline": wait is None}
    out_of_hours, nobody = _availability(engine, team_id, now)
    return {"type": "queue", "state": "idle" if conv is None else "waiting", "position": None,
            "estimated_wait_seconds": None, "offline": out_of_hours or nobody,
            **({"out_of_hours": True} if out_of_hours else {})}


def _availability(engine: Engine, team_id: int | None, now: dt.datetime) -> tuple[bool, bool]:
    """(out of hours, nobody available) for a new chat of this team, from routing's own view."""
    queue = engine.queue_for(Contact(0, "webchat", now.timestamp(), team_id=team_id))
    if not queue.is_open(now.timestamp()):
        return True, False
    required = dict(queue.required_skills)
    for agent in engine.agents.values():
        # The engine's own eligibility rule (team, skills, a chat capacity), for an agent who is available.
        if agent.presence == "available" and Engine._eligible(agent, queue, "webchat", required):
            return False, False
    return False, True


def visitor_attachment(visitor_id: str, attachment_id: int) -> Attachment | None:
    """An attachment of a web chat message in the visitor's own conversations."""
    customer_id = (Identity.objects.filter(kind=Identity.Kind.WEBCHAT, address=visitor_id)
                   .values_list("customer_id", flat=True).first())
    if customer_id is None:
        return None
    return (Attachment.objects.filter(pk=attachment_id, message__conversation__customer_id=customer_id,
                                      message__channel_account__channel="webchat").first())
