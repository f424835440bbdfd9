"""Handing one queued outbound message to its channel's connector (what the delivery task runs)."""

from __future__ import annotations

import json
import logging
from typing import Any

from connectors import registry
from connectors.base import (
    Connector,
    OutboundAttachment,
    OutboundMessage,
    PermanentFailure,
    TemporaryFailure,
)
from hub.actions.inbound import opted_out
from hub.actions.outbound import do_claim_delivery, do_mark_sent, do_record_attempt_failure, opt_out_reason
from hub.connector_port import account_info
from hub.models import ChannelAccount, Message, ThreadKey

logger = logging.getLogger(__name__)


def connector_for(account: ChannelAccount) -> Connector:
    """The channel's connector, or the log connector when the channel has no configured provider."""
    info = account_info(account)
    connector = registry.get(account.channel)
    if connector is None or not connector.is_configured(info):
        return registry.log_connector()
    return connector


def deliver(message_id: int, *, final_attempt: bool) -> str:
    """Send one queued message. Returns what happened ("sent", "skipped", "failed"); raises
    TemporaryFailure when a retry should follow. On the final attempt a temporary failure becomes a
    permanent one, so no message stays queued forever."""
    msg = (Message.objects.select_related("channel_account", "conversation", "author_identity")
           .filter(pk=message_id).first())
    if msg is None or msg.direction != Message.Direction.OUT or msg.status != Message.Status.QUEUED:
        return "skipped"  # already delivered by an earlier attempt, or gone
    if not do_claim_delivery(msg.pk):
        return "skipped"  # another attempt is delivering it right now
    account = msg.channel_account
    connector = connector_for(account)
    # What the provider threads on: the provider ids of this conversation's messages on this account
    # (email References) and the keys customers' messages referred to (a Slack thread, a post).
    # The newest keys: a long conversation's reply answers its latest messages (and the first provider id
    # stays, the root an email client threads under).
    registered = list(ThreadKey.objects.filter(conversation_id=msg.conversation_id, channel_account=account)
                      .order_by("-id").values_list("key", flat=True)[:20])
    provider_ids = Message.objects.filter(conversation_id=msg.conversation_id, channel_account=account,
                                          provider_message_id__isnull=False)
    first_id = provider_ids.order_by("created_at", "id").values_list("provider_message_id", flat=True)[:1]
    newest_ids = list(provider_ids.order_by("-created_at", "-id").values_list("provider_message_id", flat=True)[:29])
    keys: list[str | None] = list(dict.fromkeys([*reversed(registered), *first_id, *reversed(newest_ids)]))
    thread_keys = [k for k in keys if k]
    outbound = OutboundMessage(
        message_id=msg.pk,
        conversation_id=msg.conversation_id,
        to=str(msg.metadata.get("to") or (msg.author_identity.address if msg.author_identity else "")),
        text=msg.text,
        html=msg.html,
        subject=msg.conversation.subject,
        thread_keys=thread_keys,
        attachments=[OutboundAttachment(name=a.name, content_type=a.content_type, path=a.file.path, size=a.size)
                     for a in msg.attachments.all()],
        metadata=_reply_context(msg),
    )
    stop = opted_out(account, outbound.to)
    if stop is not None:
        # The customer opted out after this reply was queued: the provider would refuse it, and must not
        # be asked to (carriers count messages sent to opted-out numbers).
        do_record_attempt_failure(msg, opt_out_reason(stop.keyword), permanent=True)
        return "failed"
    try:
        result = connector.send(account_info(account), outbound)
    except PermanentFailure as exc:
        do_record_attempt_failure(msg, str(exc) or "rejected by the provider", permanent=True)
        return "failed"
    except TemporaryFailure as exc:
        reason = str(exc) or "provider unavailable"
        if final_attempt:
            do_record_attempt_failure(msg, f"gave up after retries: {reason}", permanent=True)
            return "failed"
        do_record_attempt_failure(msg, reason, permanent=False)
        raise
    except Exception as exc:
        # A bug in a connector must not leave the message silently queued: count it as temporary.
        logger.exception("connector %s crashed sending message %s", connector.id, msg.pk)
        if final_attempt:
            do_record_attempt_failure(msg, f"connector error: {type(exc).__name__}", permanent=True)
            return "failed"
        do_record_attempt_failure(msg, f"connector error: {type(exc).__name__}", permanent=False)
        raise TemporaryFailure(str(exc)) from exc
    do_mark_sent(msg, result.provider_message_id, result.status)
    return "sent"


# Metadata values larger than this are left out of the reply context (an email's full original text).
_CONTEXT_VALUE_LIMIT = 2000


def _reply_context(msg: Message) -> dict[str, Any]:
    """What the connector needs to answer in the right place: the customer's latest message on this
    account (its provider id, whether it was public, and its small metadata: a Slack thread, the post a
    comment was under)."""
    latest = (Message.objects.filter(conversation_id=msg.conversation_id, channel_account_id=msg.channel_account_id,
                                     direction=Message.Direction.IN, created_at__lte=msg.created_at)
              .order_by("-created_at", "-id").only("provider_message_id", "is_public", "metadata").first())
    context: dict[str, Any] = {"auto_reply": bool(msg.metadata.get("auto_reply"))}
    if latest is not None:
        context["reply_to"] = {
            "provider_message_id": latest.provider_message_id or "",
            "is_public": latest.is_public,
            "metadata": {k: v for k, v in latest.metadata.items() if len(json.dumps(v, default=str))
                         <= _CONTEXT_VALUE_LIMIT},
        }
    return context
