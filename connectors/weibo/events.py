"""The platform's pushed payloads, read into hub events.

Two envelopes arrive at the push URL:

* the fan-service push (粉丝服务平台 消息推送): `{"type", "receiver_id", "sender_id", "created_at", "text",
  "data"}` with type `text`, `position`, `voice`, `image` (private messages), `event` (subtype `follow`,
  `unfollow`, ... ) and `mention` (subtype `status` or `comment`, `key` = the post or comment id);
* the comment push (datapush/comment): `{"id", "text": {"type": "comment", "event": "add", "comment": {...}}}`
  with the platform's comment object (`id`, `text`, `user`, `status`, `reply_comment`).

Unknown types and subtypes are acknowledged and ignored, as the platform asks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from connectors.base import (
    IdentityEvent,
    InboundAttachment,
    InboundEvent,
    InboundMessage,
    MalformedRequest,
    Sender,
)
from connectors.weibo import threads

logger = logging.getLogger(__name__)

IDENTITY_KIND = "social"
MEDIA_PATH = "/2/mss/msget"
_MAX_ID = 2**63 - 1
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                       "Nov", "Dec"), start=1)}
_CREATED_AT = re.compile(r"[A-Za-z]{3} ([A-Za-z]{3}) (\d{1,2}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2}) (\d{4})")
_FOLLOW = {"follow": "follow", "scan_follow": "follow", "unfollow": "unfollow"}


def load(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object. UTF-8 only (the platform's encoding): anything else is refused
    rather than guessed, so Chinese text is never stored as mojibake."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedRequest(f"body is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    try:
        payload = json.loads(text)
    except (json.JSONDecodeError, ValueError) as exc:
        raise MalformedRequest(f"body is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise MalformedRequest("body is not a JSON object")
    return payload


def comment_envelope(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The `text` object of a comment push, or None for a fan-service push (which has a top-level type)."""
    if "type" in payload:
        return None
    inner = payload.get("text")
    if isinstance(inner, str) and inner.lstrip().startswith("{"):
        try:
            inner = json.loads(inner)
        except ValueError as exc:
            raise MalformedRequest(f"comment push text is not JSON: {exc}") from exc
    if isinstance(inner, dict):
        return inner
    return None


def receiver(payload: Mapping[str, Any]) -> str | None:
    """The account (uid) a push is for: `receiver_id` (`recipient_id` in the older format), or for a comment
    push the author of the post commented on."""
    envelope = comment_envelope(payload)
    if envelope is not None:
        comment = _object(envelope.get("comment"), "comment")
        status = _object(comment.get("status"), "comment.status")
        owner = _object(status.get("user"), "comment.status.user")
        return _uid(owner["id"], "comment.status.user.id") if owner.get("id") is not None else None
    for field in ("receiver_id", "recipient_id"):
        if payload.get(field) not in (None, ""):
            return _uid(payload[field], field)
    return None


def parse(payload: Mapping[str, Any], *, account_uid: str, media_base: str) -> list[InboundEvent]:
    envelope = comment_envelope(payload)
    if envelope is not None:
        return _comment_push(envelope, account_uid)
    kind = payload.get("type")
    if not isinstance(kind, str) or not kind:
        raise MalformedRequest("push has no type")
    if kind in ("text", "position", "image", "voice"):
        return [_private_message(payload, kind, media_base)]
    if kind == "event":
        return _event(payload)
    if kind == "mention":
        return _mention(payload)
    logger.info("weibo push of type %r ignored", kind[:40])
    return []


def _private_message(payload: Mapping[str, Any], kind: str, media_base: str) -> InboundMessage:
    sender = _uid(_required(payload, "sender_id"), "sender_id")
    data = _object(payload.get("data"), "data")
    text = _text(payload.get("text"), "text")
    created_raw = _text(payload.get("created_at"), "created_at")
    sent_at = parse_created_at(created_raw)
    attachments: list[InboundAttachment] = []
    metadata: dict[str, Any] = {"social_kind": "dm", "weibo_type": kind, "reply_visibility": "private"}
    if kind in ("image", "voice"):
        # tovfid is the receiver's own view of the file (vfid is the sender's).
        fid = _uid(_required(data, "tovfid"), "data.tovfid")
        name, content_type = (f"weibo-image-{fid}.jpg", "") if kind == "image" else (f"weibo-voice-{fid}.amr",
                                                                                   "audio/amr")
        attachments.append(InboundAttachment(name=name, content_type=content_type,
                                             url=f"{media_base}{MEDIA_PATH}?fid={fid}"))
    elif kind == "position":
        metadata.update(latitude=str(data.get("latitude", ""))[:32], longitude=str(data.get("longitude", ""))[:32])
    provider_id = _message_id(payload, sender, created_raw, sent_at, kind, text, data)
    return InboundMessage(
        provider_message_id=provider_id,
        sender=Sender(IDENTITY_KIND, sender, _screen_name(payload)),
        text=text,
        thread_keys=threads.dm_keys(sender, provider_id),
        attachments=attachments,
        sent_at=sent_at,
        metadata=metadata,
    )


def _message_id(payload: Mapping[str, Any], sender: str, created_raw: str, sent_at: datetime | None, kind: str,
                text: str, data: Mapping[str, Any]) -> str:
    """The platform's message id when the push carries one (older pushes did); otherwise a derivation that
    a retry of the same push reproduces: the platform itself recommends deduplicating on sender_id plus
    created_at, and the content digest keeps apart two messages sent within the same second."""
    for field in ("id", "msg_id"):
        if payload.get(field) not in (None, ""):
            return _uid(payload[field], field)
    content = json.dumps([kind, created_raw, text, data], sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha256(content.encode()).hexdigest()[:12]
    stamp = int(sent_at.timestamp()) if sent_at else 0
    return f"wbdm-{sender}-{stamp}-{digest}"


def _event(payload: Mapping[str, Any]) -> list[InboundEvent]:
    data = _object(payload.get("data"), "data")
    subtype = data.get("subtype")
    change = _FOLLOW.get(subtype) if isinstance(subtype, str) else None
    if change is None:
        logger.info("weibo event %r ignored", str(subtype)[:40])
        return []
    sender = _uid(_required(payload, "sender_id"), "sender_id")
    return [IdentityEvent(sender=Sender(IDENTITY_KIND, sender, _screen_name(payload)),
                          change="follow" if change == "follow" else "unfollow",
                          at=parse_created_at(_text(payload.get("created_at"), "created_at")))]


def _mention(payload: Mapping[str, Any]) -> list[InboundEvent]:
    data = _object(payload.get("data"), "data")
    subtype = data.get("subtype")
    if subtype not in ("status", "comment"):
        logger.info("weibo mention of subtype %r ignored", str(subtype)[:40])
        return []
    sender = _uid(_required(payload, "sender_id"), "sender_id")
    key = _uid(_required(data, "key"), "data.key")
    metadata: dict[str, Any] = {"social_kind": "mention", "mention_of": subtype, "reply_visibility": "public"}
    if subtype == "status":
        metadata["post_id"] = key
        keys = threads.post_keys(sender, key)
    else:
        # The push names the comment only; `send` looks up its post when an agent answers.
        metadata["comment_id"] = key
        keys = threads.comment_keys(sender, key, "")
    return [InboundMessage(
        provider_message_id=key,
        sender=Sender(IDENTITY_KIND, sender, _screen_name(payload)),
        text=_text(payload.get("text"), "text"),
        thread_keys=keys,
        is_public=True,
        sent_at=parse_created_at(_text(payload.get("created_at"), "created_at")),
        metadata=metadata,
    )]


def _comment_push(envelope: Mapping[str, Any], account_uid: str) -> list[InboundEvent]:
    if envelope.get("type") != "comment":
        logger.info("weibo data push of type %r ignored", str(envelope.get("type"))[:40])
        return []
    if envelope.get("event", "add") != "add":
        logger.info("weibo comment %r event ignored", str(envelope.get("event"))[:40])
        return []
    comment = _object(envelope.get("comment"), "comment")
    user = _object(comment.get("user"), "comment.user")
    sender = _uid(_required(user, "id"), "comment.user.id")
    if account_uid and sender == account_uid:
        return []  # the account's own comment (an agent's reply, pushed back): not a customer's
    comment_id = _uid(comment.get("idstr") or _required(comment, "id"), "comment.id")
    status = _object(comment.get("status"), "comment.status")
    post_id = _uid(status.get("idstr") or _required(status, "id"), "comment.status.id")
    metadata: dict[str, Any] = {"social_kind": "comment", "post_id": post_id, "comment_id": comment_id,
                                "reply_visibility": "public"}
    post_text = status.get("text")
    if isinstance(post_text, str) and post_text:
        metadata["post_excerpt"] = post_text[:280]
    reply_to = comment.get("reply_comment")
    if isinstance(reply_to, dict) and reply_to.get("id") is not None:
        metadata["in_reply_to_comment_id"] = _uid(reply_to.get("idstr") or reply_to["id"],
                                                  "comment.reply_comment.id")
    name = user.get("screen_name") or user.get("name") or ""
    return [InboundMessage(
        provider_message_id=comment_id,
        sender=Sender(IDENTITY_KIND, sender, name if isinstance(name, str) else ""),
        text=_text(comment.get("text"), "comment.text"),
        thread_keys=threads.comment_keys(sender, comment_id, post_id),
        is_public=True,
        sent_at=parse_created_at(_text(comment.get("created_at"), "comment.created_at")),
        metadata=metadata,
    )]


def parse_created_at(value: str) -> datetime | None:
    """The platform's `Mon Jul 16 18:09:20 +0800 2012`, read without the process locale; None if unreadable."""
    match = _CREATED_AT.fullmatch(value.strip())
    if not match or match[1] not in _MONTHS:
        return None
    day, hour, minute, second = (int(match[i]) for i in (2, 3, 4, 5))
    offset = timedelta(hours=int(match[7]), minutes=int(match[8]))
    try:
        return datetime(int(match[9]), _MONTHS[match[1]], day, hour, minute, second,
                        tzinfo=timezone(-offset if match[6] == "-" else offset))
    except ValueError:
        return None


def _screen_name(payload: Mapping[str, Any]) -> str:
    # The documented private-message push names nobody; some carry the sender's screen name.
    for field in ("sender_screen_name", "screen_name"):
        value = payload.get(field)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return ""


def _required(obj: Mapping[str, Any], field: str) -> Any:
    value = obj.get(field)
    if value is None or value == "":
        raise MalformedRequest(f"missing field {field!r}")
    return value


def _object(value: Any, field: str) -> Mapping[str, Any]:
    if value is None or value == "" or value == []:
        return {}
    if not isinstance(value, dict):
        raise MalformedRequest(f"{field} is not an object")
    return value


def _text(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedRequest(f"{field} is not a string")
    return value


def _uid(value: Any, field: str) -> str:
    """A platform id (uid, message, post or comment id): a positive 64-bit integer, as a number or a string."""
    if isinstance(value, bool):
        raise MalformedRequest(f"{field} is not an id")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if not isinstance(value, int) or not 0 < value <= _MAX_ID:
        raise MalformedRequest(f"{field} is not an id")
    return str(value)
