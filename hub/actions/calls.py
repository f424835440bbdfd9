"""Voice calls on the hub's side: a call's progress folded into its `call` message, a call that ended with
no agent turned into a callback task agents are offered, and which calls still hold their agent.

A call message's metadata holds `call_status` (only ever moving forward), `status_history`, `duration_seconds`,
`recording_url`, the connector's details (hub/actions/ingestion.do_ingest_call stores them) and, once a
callback was asked for, `callback_requested`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from connectors.base import CallEvent
from hub import audit
from hub.events import schema
from hub.events.payloads import conversation_data, note_data
from hub.events.publish import conversation_audience, publish_many
from hub.models import Conversation, Identity, Message, Note, Tag
from routing.core.model import EXCLUSIVE_CHANNELS
from routing.signals import conversation_needs_agent

LIVE_STATUSES = frozenset({"queued", "ringing", "in-progress"})
FINAL_STATUSES = frozenset({"completed", "no-answer", "busy", "failed", "canceled"})
# How far along a call is: a late or repeated report of an earlier state changes nothing.
_RANK = {"queued": 0, "ringing": 0, "in-progress": 1, **{s: 2 for s in FINAL_STATUSES}}
_HISTORY_MAX = 8

CALLBACK_TAG = "callback"
# Twilio ends a call after 4 hours unless told otherwise (the default time limit of calls and of <Dial>):
# a call still "live" after that lost its final status report, and must not hold its agent forever.
MAX_CALL_LENGTH = dt.timedelta(hours=4)
# Routing counts an assigned voice conversation whose calls are over on this channel instead: after-call
# work is ordinary work (it does not stop chats), while a live call keeps the agent to itself.
AFTER_CALL_CHANNEL = "after-call"


def merged_call_metadata(current: Mapping[str, Any], event: CallEvent) -> dict[str, Any]:
    """The call message's metadata once `event` is applied: the status moves forward only, the duration
    never shrinks, and nothing an event leaves empty replaces what is stored (providers retry, and their
    callbacks arrive in any order)."""
    meta = dict(current)
    before = meta.get("call_status")
    if before is None or _RANK.get(event.status, 0) > _RANK.get(str(before), 0):
        meta["call_status"] = event.status
        at = (event.at or timezone.now()).isoformat()
        meta["status_history"] = [*meta.get("status_history", []), {"status": event.status, "at": at}][-_HISTORY_MAX:]
    meta["duration_seconds"] = max(int(meta.get("duration_seconds") or 0), event.duration_seconds)
    if event.recording_url or "recording_url" not in meta:
        meta["recording_url"] = event.recording_url or meta.get("recording_url", "")
    meta.setdefault("call_direction", event.direction)
    for key, value in event.metadata.items():
        # "" is a value the first time ("answered_by": "" says nobody answered yet), never over another.
        if value is None or (value == "" and key in meta):
            continue
        meta[key] = value
    return meta


def callback_reason(meta: Mapping[str, Any]) -> str | None:
    """Why this call needs a callback (voicemail, abandoned, no-answer...), or None: it is still going, an
    agent answered it, a callback was already asked for, or its connector does not say who answered."""
    if meta.get("call_status") not in FINAL_STATUSES or meta.get("callback_requested"):
        return None
    if "answered_by" not in meta or meta["answered_by"]:
        return None
    if meta.get("voicemail") or meta.get("recording_url"):
        return "voicemail"
    if meta.get("queue_result") == "hangup":
        return "abandoned"
    status = str(meta["call_status"])
    return "missed" if status == "completed" else status


def do_follow_up_call(message: Message) -> bool:
    """After a call event was stored: a call that ended unanswered becomes a callback task (once)."""
    reason = callback_reason(message.metadata)
    if reason is None:
        return False
    return do_request_callback(message.conversation_id, reason, call_message_id=message.pk)


def do_request_callback(conversation_id: int, reason: str, *, call_message_id: int | None = None) -> bool:
    """Make the conversation a callback task: open, tagged `callback`, a note saying whom to call and why,
    and waiting for routing unless an agent already has it. With `call_message_id`, at most once per call
    (providers retry their callbacks). Returns whether a task was created."""
    with transaction.atomic():
        conv = (Conversation.objects.select_for_update(no_key=True, of=("self",)).select_related("customer")
                .filter(pk=conversation_id).first())
        if conv is None:
            return False
        message = None
        if call_message_id is not None:
            message = (Message.objects.select_for_update(no_key=True, of=("self",)).select_related("author_identity")
                       .filter(pk=call_message_id, conversation_id=conversation_id).first())
            if message is None or message.metadata.get("callback_requested"):
                return False
        now = timezone.now()
        identity = (message.author_identity if message is not None else
                    Identity.objects.filter(customer_id=conv.customer_id, kind="phone").order_by("-id").first())
        callable_number = identity.address if identity is not None and identity.kind == "phone" else ""
        events: list[schema.Event] = []
        if message is not None:
            message.metadata = {**message.metadata, "callback_requested": {"reason": reason, "at": now.isoformat()}}
            Message.objects.filter(pk=message.pk).update(metadata=message.metadata)
        changed: list[str] = []
        if callable_number:
            tag = Tag.objects.get_or_create(name=CALLBACK_TAG)[0]
            if not conv.tags.filter(pk=tag.pk).exists():
                conv.tags.add(tag)
                changed.append("tags")
        if callable_number and conv.status != Conversation.Status.OPEN:
            if conv.status == Conversation.Status.RESOLVED:
                conv.reopened_at = now
                conv.reopen_count += 1
                changed.append("reopened_at")
            conv.status = Conversation.Status.OPEN
            conv.snoozed_until = None
            changed += ["status", "snoozed_until"]
        if changed:
            conv.save(update_fields=["status", "snoozed_until", "reopened_at", "reopen_count", "updated_at"])
            events.append(schema.ConversationUpdated(conversation=conversation_data(conv), changed=changed))
        note = Note.objects.create(conversation=conv, author=None, text=_note_text(reason, callable_number, message))
        events.append(schema.NoteCreated(note=note_data(note)))
        audit.record("conversation.callback_requested", None, conversation=conv, reason=reason,
                     call_message=call_message_id, number=callable_number)
        publish_many(events, conversation_audience(conv), conversation_id=conv.pk, customer_id=conv.customer_id)
        if callable_number and conv.assignee_id is None:
            conv_id = conv.pk
            # Already waiting (a caller who hung up in the queue) keeps its place: routing ignores a repeat.
            transaction.on_commit(lambda: conversation_needs_agent.send(
                sender=Conversation, conversation_id=conv_id, reason="callback"))
    return True


def _note_text(reason: str, number: str, message: Message | None) -> str:
    if not number:
        return "Missed call from a withheld number: it cannot be called back."
    if reason == "voicemail":
        return f"Voicemail from {number}: listen to it on the call, then call them back."
    if reason == "abandoned":
        waited = int((message.metadata.get("queue_seconds") or 0) if message is not None else 0)
        after = f" after waiting {_duration(waited)} in the queue" if waited else " while waiting in the queue"
        return f"Missed call from {number} (hung up{after}): call them back."
    return f"Missed call from {number}: call them back."


def _duration(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def held_channels(conversations: Iterable[tuple[int, str]], now: dt.datetime | None = None) -> dict[int, str]:
    """The channel routing counts each (conversation id, channel) an agent holds on. A conversation on an
    exclusive channel (voice) whose calls are all over counts as after-call work; one with a live call, or
    with no call recorded at all, keeps its channel and so the agent to itself."""
    rows = list(conversations)
    held = {cid: channel for cid, channel in rows}
    exclusive = [cid for cid, channel in rows if channel in EXCLUSIVE_CHANNELS]
    if not exclusive:
        return held
    since = (now or timezone.now()) - MAX_CALL_LENGTH
    with_calls: set[int] = set()
    live: set[int] = set()
    for cid, meta, created_at in (Message.objects.filter(conversation_id__in=exclusive, kind=Message.Kind.CALL)
                                  .values_list("conversation_id", "metadata", "created_at")):
        with_calls.add(cid)
        status = meta.get("call_status") if isinstance(meta, dict) else None
        if status in LIVE_STATUSES and created_at >= since:
            live.add(cid)
    for cid in with_calls - live:
        held[cid] = AFTER_CALL_CHANNEL
    return held
