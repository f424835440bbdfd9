"""An Events API `event_callback` turned into what the hub stores: customer messages only.

No API call happens here (Slack wants its answer within 3 seconds, and the hub stores before anything
else): everything comes from the payload. The hub's own posts come back as events too and are dropped:
they carry a `bot_id`, or are written by the bot user the payload's `authorizations` name.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.base import InboundAttachment, InboundEvent, InboundMessage, MalformedRequest, Sender
from connectors.slack import mrkdwn, threads

logger = logging.getLogger(__name__)

# Message subtypes written by a person: everything else (edits, deletions, joins, topic changes...) is
# acknowledged and left alone.
CUSTOMER_SUBTYPES = frozenset({"file_share", "thread_broadcast", "me_message"})
MAX_FILES = 20  # the hub refuses a message with more attachments; Slack allows 10 per message

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TS = re.compile(threads.TS)


def from_event_callback(payload: Mapping[str, Any], config: Mapping[str, Any]) -> Sequence[InboundEvent]:
    event = payload.get("event")
    if not isinstance(event, dict):
        raise MalformedRequest("event_callback without an event object")
    kind = event.get("type")
    if not isinstance(kind, str) or not kind:
        raise MalformedRequest("event without a type")
    if kind not in ("message", "app_mention"):
        logger.info("slack: %s event acknowledged, not handled", kind)
        return []
    subtype = event.get("subtype")
    if subtype is not None and not isinstance(subtype, str):
        raise MalformedRequest("event subtype must be a string")
    if event.get("bot_id") or subtype == "bot_message":
        logger.debug("slack: message from a bot (%s) ignored", event.get("bot_id"))
        return []
    user = event.get("user")
    if isinstance(user, str) and user in own_user_ids(payload, config):
        logger.debug("slack: our own bot's message ignored")
        return []
    if event.get("hidden") or (subtype is not None and subtype not in CUSTOMER_SUBTYPES):
        # message_changed has no edit to apply in the hub (a message is stored once, as received), and
        # message_deleted must not erase what an agent already read: both are only logged.
        logger.info("slack: message subtype %s acknowledged, not stored", subtype)
        return []
    return [_message(event, payload, config)]


def own_user_ids(payload: Mapping[str, Any], config: Mapping[str, Any]) -> set[str]:
    """Our bot user: named in `authorizations` for a bot-token install, or in the account's config."""
    found = {str(config["bot_user_id"])} if config.get("bot_user_id") else set()
    authorizations = payload.get("authorizations")
    if isinstance(authorizations, list):
        found |= {a["user_id"] for a in authorizations
                  if isinstance(a, dict) and a.get("is_bot") is True and isinstance(a.get("user_id"), str)}
    return found


def _message(event: Mapping[str, Any], payload: Mapping[str, Any], config: Mapping[str, Any]) -> InboundMessage:
    channel = _required_id(event, "channel")
    user = _required_id(event, "user")
    ts = _ts(event, "ts")
    if ts is None:
        raise MalformedRequest("message event without a ts")
    root = _ts(event, "thread_ts") or ts
    raw_text = event.get("text", "")
    if raw_text is None:
        raw_text = ""
    if not isinstance(raw_text, str):
        raise MalformedRequest("message text must be a string")
    metadata: dict[str, Any] = {"channel": channel, "thread_ts": root, "ts": ts, "mrkdwn": raw_text}
    for name in ("channel_type", "team"):
        if isinstance(event.get(name), str):
            metadata[name] = event[name]
    attachments, unavailable = _files(event.get("files"))
    if unavailable:
        metadata["slack_files_unavailable"] = unavailable
    return InboundMessage(
        provider_message_id=threads.provider_id(channel, ts),
        sender=Sender("slack", user, _display_name(event.get("user_profile"))),
        text=mrkdwn.to_text(raw_text, own_user_ids(payload, config)),
        thread_keys=threads.thread_keys(channel, root, ts),
        attachments=attachments,
        sent_at=_sent_at(ts),
        metadata=metadata,
        shared_thread=True,
    )


def _required_id(event: Mapping[str, Any], name: str) -> str:
    value = event.get(name)
    if value is None:
        raise MalformedRequest(f"message event without a {name}")
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise MalformedRequest(f"message {name} is not a Slack id")
    return value


def _ts(event: Mapping[str, Any], name: str) -> str | None:
    value = event.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _TS.fullmatch(value):
        raise MalformedRequest(f"message {name} is not a Slack timestamp")
    return value


def _sent_at(ts: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None  # a ts far outside the calendar still identifies the message


def _display_name(profile: Any) -> str:
    if not isinstance(profile, dict):
        return ""
    for name in ("display_name", "real_name", "name"):
        value = profile.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return ""


def _files(files: Any) -> tuple[list[InboundAttachment], list[str]]:
    """Files to fetch after commit (url_private needs the bot token), and the names of those Slack did not
    give us a URL for (Slack Connect files, hidden by plan limits, deleted)."""
    if files is None:
        return [], []
    if not isinstance(files, list):
        raise MalformedRequest("message files must be a list")
    attachments: list[InboundAttachment] = []
    unavailable: list[str] = []
    for item in files:
        if not isinstance(item, dict):
            raise MalformedRequest("message files must be objects")
        name = next((str(item[k]) for k in ("name", "title", "id") if isinstance(item.get(k), str) and item[k]),
                    "file")
        url = item.get("url_private")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(attachments) >= MAX_FILES:
            unavailable.append(name[:200])
            continue
        mimetype = item.get("mimetype")
        attachments.append(InboundAttachment(name=name[:200], content_type=mimetype if isinstance(mimetype, str)
                                             else "", url=url))
    return attachments, unavailable
