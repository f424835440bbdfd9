"""The one door for inbound contacts: a connector's plain event in, stored rows out, in one transaction.

Idempotent on (channel account, provider message id): providers retry, also concurrently, and we store one
message. After commit only: realtime events (hub/events) and the routing notification.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from connectors.base import CallEvent, DeliveryStatus, InboundAttachment, InboundMessage, Sender
from hub import audit
from hub.actions import calls
from hub.actions.outbound import do_apply_delivery_status
from hub.events import schema
from hub.events.payloads import conversation_data, message_data
from hub.events.publish import conversation_audience, publish, publish_many
from hub.identities import normalize_address
from hub.models import Attachment, ChannelAccount, Conversation, Customer, Identity, Message, ThreadKey
from hub.sanitize import bound_text, sanitize_html
from routing.signals import call_ended, conversation_changed, conversation_needs_agent

logger = logging.getLogger(__name__)

MAX_ATTACHMENTS = 20
_ATTEMPTS = 4

ThreadOutcome = Literal["created", "reopened", "woken", "continued"]


class IngestError(ValueError):
    """The event cannot be stored as given (invalid address, oversized...). The message says why; webhook
    views answer it as a 4xx so that the provider does not retry forever."""


@dataclass(frozen=True)
class IngestResult:
    message: Message
    created: bool  # False: a duplicate delivery, nothing was stored
    conversation_created: bool = False
    reopened: bool = False


def do_ingest_message(account: ChannelAccount, inbound: InboundMessage, *,
                      kind: str = Message.Kind.TEXT) -> IngestResult:
    """Store one inbound message, or return the one already stored for its provider id."""
    if not inbound.provider_message_id or len(inbound.provider_message_id) > 255:
        raise IngestError("provider_message_id must be 1 to 255 characters")
    if len(inbound.attachments) > MAX_ATTACHMENTS:
        raise IngestError(f"more than {MAX_ATTACHMENTS} attachments")
    try:
        address = normalize_address(inbound.sender.kind, inbound.sender.address)
    except ValueError as exc:
        raise IngestError(str(exc)) from exc
    # Concurrent deliveries of the same message (or first messages of the same new customer) race on the
    # unique constraints; the loser rolls back whole and finds the winner's rows on the next attempt.
    for attempt in range(_ATTEMPTS):
        try:
            with transaction.atomic():
                return _ingest(account, inbound, address, kind)
        except IntegrityError:
            if attempt == _ATTEMPTS - 1:
                raise
            logger.debug("ingest race on %s/%s, retrying", account.pk, inbound.provider_message_id)
    raise AssertionError("unreachable")


def _ingest(account: ChannelAccount, inbound: InboundMessage, address: str, kind: str) -> IngestResult:
    with connection.cursor() as cur:
        # Plain SQL on the hottest lookup: this runs for every delivery, duplicate or not.
        cur.execute("SELECT id FROM hub_message WHERE channel_account_id = %s AND provider_message_id = %s",
                    [account.pk, inbound.provider_message_id])
        row = cur.fetchone()
    if row is not None:
        return IngestResult(Message.objects.select_related("conversation").get(pk=row[0]), created=False)

    now = timezone.now()
    identity, customer, new_customer = _identity_with_locked_customer(inbound.sender, address, inbound.language)
    conversation, how = _thread(account, customer, inbound, now, new_customer)
    created, reopened = how == "created", how == "reopened"
    if conversation.customer_id == customer.pk:
        conversation.customer = customer  # the locked, current row (a shared thread may be someone else's)

    text, truncated = bound_text(inbound.text)
    metadata = dict(inbound.metadata)
    if truncated:
        metadata["truncated"] = True
    if inbound.is_auto_reply:
        metadata["auto_reply"] = True
    if inbound.sent_at:
        metadata["provider_sent_at"] = inbound.sent_at.isoformat()
    message = Message.objects.create(
        conversation=conversation, direction=Message.Direction.IN, author_kind=Message.Author.CUSTOMER,
        author_identity=identity, channel_account=account, kind=kind, text=text, html=sanitize_html(inbound.html),
        is_public=inbound.is_public, provider_message_id=inbound.provider_message_id,
        status=Message.Status.RECEIVED, metadata=metadata, created_at=now,
    )
    attachments = _store_attachments(message, inbound.attachments) if inbound.attachments else []

    # Both rows are locked (see _thread and _identity_with_locked_customer), so these updates cannot
    # interleave with another writer's; plain SQL because they run on every message.
    conversation.messages_count += 1
    conversation.last_message_at = conversation.last_customer_message_at = conversation.updated_at = now
    customer.messages_count += 1
    customer.last_contact_at = customer.updated_at = now
    customer.first_contact_at = customer.first_contact_at or now
    customer.conversations_count += 1 if created else 0
    # Stored the way the ORM stores timestamps (SQLite compares them as text).
    at = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cur:
        cur.execute("UPDATE hub_conversation SET messages_count = messages_count + 1, last_message_at = %s, "
                    "last_customer_message_at = %s, updated_at = %s WHERE id = %s",
                    [at, at, at, conversation.pk])
        cur.execute("UPDATE hub_customer SET messages_count = messages_count + 1, last_contact_at = %s, "
                    "first_contact_at = COALESCE(first_contact_at, %s), updated_at = %s, "
                    "conversations_count = conversations_count + %s WHERE id = %s",
                    [at, at, at, 1 if created else 0, customer.pk])
    if inbound.thread_keys:
        _register_thread_keys(account, conversation, list(inbound.thread_keys))

    events: list[schema.Event] = []
    if created:
        events.append(schema.ConversationCreated(conversation=conversation_data(conversation, tags=[])))
    elif reopened:
        audit.record("conversation.reopened", None, conversation=conversation, reason="customer_message")
        events.append(schema.ConversationUpdated(conversation=conversation_data(conversation),
                                                 changed=["status", "reopened_at"]))
    elif how == "woken":
        audit.record("conversation.status", None, conversation=conversation, status="open",
                     reason="customer_message")
        events.append(schema.ConversationUpdated(conversation=conversation_data(conversation),
                                                 changed=["status", "snoozed_until"]))
    events.append(schema.MessageCreated(message=message_data(message, attachments=attachments)))
    publish_many(events, conversation_audience(conversation), conversation_id=conversation.pk,
                 customer_id=customer.pk)

    conv_id = conversation.pk
    if inbound.is_auto_reply:
        pass  # an out-of-office note or a bounce never asks for an agent (nor wakes or reopens anything)
    elif how == "created" or (how == "reopened" and conversation.assignee_id is None):
        reason = "new" if how == "created" else "reopened"
        transaction.on_commit(lambda: conversation_needs_agent.send(
            sender=Conversation, conversation_id=conv_id, reason=reason))
    elif how in ("reopened", "woken"):
        # Back with its agent (whose load goes up again), or out of a snooze: a snoozed conversation was
        # out of the line, and routing puts it back if it has no agent.
        transaction.on_commit(lambda: conversation_changed.send(sender=Conversation, conversation_id=conv_id))
    return IngestResult(message, created=True, conversation_created=created, reopened=reopened)


def _identity_with_locked_customer(sender: Sender, address: str, language: str) -> tuple[Identity, Customer, bool]:
    """The identity for (kind, address) and its customer, row-locked: locking the customer serializes
    threading per customer, so two first messages arriving together cannot open two conversations.
    Creates both the first time (third value True)."""
    # Raw queries on the hot path: no query compilation, while raw() still converts column values.
    found = list(Customer.objects.raw(
        "SELECT c.*, i.id AS identity_pk, i.display_name AS identity_name, i.verified AS identity_verified "
        "FROM hub_customer c JOIN hub_identity i ON i.customer_id = c.id WHERE i.kind = %s AND i.address = %s"
        + _for_update(" OF c"), [sender.kind, address]))
    if found:
        customer = found[0]
        extra = customer.__dict__  # the identity's columns, selected alongside the customer's
        identity = Identity(pk=extra["identity_pk"], customer=customer, kind=sender.kind, address=address,
                            display_name=extra["identity_name"], verified=bool(extra["identity_verified"]))
        identity._state.adding = False
        identity._state.db = "default"
        if sender.display_name and not identity.display_name:
            identity.display_name = sender.display_name[:200]
            identity.save(update_fields=["display_name"])
        return identity, customer, False
    # Create without looking again: if another transaction created this identity meanwhile, the insert
    # fails on the unique constraint and the whole ingest is retried, and then takes the lock above.
    # (A second lookup here could find the other's identity without locking its customer.)
    customer = Customer.objects.create(display_name=(sender.display_name or address)[:200], language=language[:16])
    identity = Identity.objects.create(customer=customer, kind=sender.kind, address=address,
                                       display_name=sender.display_name[:200])
    return identity, customer, True


def _for_update(of: str = "") -> str:
    """Row locks where the database has them (SQLite serializes whole transactions instead). NO KEY: the
    commit-time foreign key checks of other transactions (FOR KEY SHARE on the rows their new rows point
    to) must not wait on these locks, or a transaction holding the change counter would wait for us while
    we wait for the counter."""
    return f" FOR NO KEY UPDATE{of}" if connection.features.has_select_for_update else ""


def _reopen_window() -> timedelta:
    return timedelta(hours=settings.HUB_REOPEN_WINDOW_HOURS)


def _thread(account: ChannelAccount, customer: Customer, inbound: InboundMessage, now: datetime,
            new_customer: bool = False) -> tuple[Conversation, ThreadOutcome]:
    """Find the conversation this message continues, row-locked: by provider thread key first (a key we
    registered, or the provider id of a message already stored), then the customer's unresolved
    conversation on this channel, then a recently resolved one (reopened). Returns
    the conversation and how: created, reopened (was resolved), woken (was pending or snoozed, the
    customer's message puts it back to open) or continued."""
    candidate: Conversation | None = None
    if inbound.thread_keys and (inbound.shared_thread or not new_customer):
        keys = list(inbound.thread_keys)
        # Only the customer's own conversations: many people comment under one public post, and a key
        # seen in someone else's thread must not put a stranger's words into their conversation. A shared
        # thread (a Slack thread) is one conversation whoever writes in it.
        owner = {} if inbound.shared_thread else {"conversation__customer": customer}
        conv_id = (ThreadKey.objects.filter(channel_account=account, key__in=keys, **owner)
                   .order_by("-conversation_id").values_list("conversation_id", flat=True).first())
        if conv_id is None:
            conv_id = (Message.objects.filter(channel_account=account, provider_message_id__in=keys, **owner)
                       .order_by("-conversation_id").values_list("conversation_id", flat=True).first())
        if conv_id is not None:
            candidate = Conversation.objects.select_for_update(no_key=True).filter(pk=conv_id).first()
    if candidate is None and inbound.conversation_hint and not new_customer:
        # A verified hint (a signed reply address), still only among the customer's own conversations.
        candidate = (Conversation.objects.select_for_update(no_key=True)
                     .filter(pk=inbound.conversation_hint, customer=customer).first())
    if candidate is None and not new_customer:
        found = list(Conversation.objects.raw(
            "SELECT * FROM hub_conversation WHERE customer_id = %s AND channel = %s "  # noqa: S608 - no input
            "ORDER BY CASE WHEN status = 'resolved' THEN 1 ELSE 0 END, id DESC LIMIT 1" + _for_update(),
            [customer.pk, account.channel]))
        candidate = found[0] if found else None

    if candidate is not None:
        if candidate.status != Conversation.Status.RESOLVED:
            if candidate.status in (Conversation.Status.SNOOZED, Conversation.Status.PENDING) \
                    and not inbound.is_auto_reply:
                # The customer wrote back: the conversation needs an agent again.
                candidate.status = Conversation.Status.OPEN
                candidate.snoozed_until = None
                candidate.save(update_fields=["status", "snoozed_until", "updated_at"])
                return candidate, "woken"
            return candidate, "continued"
        if inbound.is_auto_reply:
            return candidate, "continued"  # an out-of-office note never reopens anything
        resolved_at = candidate.resolved_at or candidate.updated_at
        if now - resolved_at <= _reopen_window():
            candidate.status = Conversation.Status.OPEN
            candidate.reopened_at = now
            candidate.reopen_count += 1
            candidate.snoozed_until = None
            candidate.first_queued_at = candidate.first_queued_at or now
            candidate.save(update_fields=["status", "reopened_at", "reopen_count", "snoozed_until",
                                          "first_queued_at", "updated_at"])
            return candidate, "reopened"

    subject = inbound.subject.strip() or " ".join(inbound.text.split())[:80]
    conversation = Conversation.objects.create(
        customer=customer, team=account.team, channel=account.channel, channel_account=account,
        subject=subject[:300], status=Conversation.Status.OPEN, first_queued_at=now,
        priority=(Conversation.Priority.HIGH if customer.value_tier == Customer.Tier.VIP
                  else Conversation.Priority.NORMAL),
    )
    return conversation, "created"


def _register_thread_keys(account: ChannelAccount, conversation: Conversation, keys: list[str]) -> None:
    """Point each key at `conversation` (the newest conversation of a thread wins), in one statement."""
    rows = [ThreadKey(channel_account=account, key=k, conversation=conversation)
            for k in sorted({k for k in keys if k and len(k) <= 500})]
    if rows:
        ThreadKey.objects.bulk_create(rows, update_conflicts=True, unique_fields=["channel_account", "key"],
                                      update_fields=["conversation"])


def _store_attachments(message: Message, attachments: Sequence[InboundAttachment]) -> list[Attachment]:
    cap = settings.HUB_MAX_ATTACHMENT_BYTES
    skipped: list[dict[str, object]] = []
    stored: list[Attachment] = []
    for item in attachments:
        name = get_valid_filename(item.name or "attachment")[:200] or "attachment"
        content_type = (item.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream")[:127]
        if not item.data:
            if item.url:
                skipped.append({"name": name, "url": item.url, "reason": "pending_fetch"})
            continue
        if len(item.data) > cap:
            skipped.append({"name": name, "size": len(item.data), "reason": "too_large"})
            continue
        attachment = Attachment(message=message, name=name, content_type=content_type, size=len(item.data))
        digest = hashlib.sha256(item.data).hexdigest()[:16]
        attachment.file.save(f"{digest}-{name}", ContentFile(item.data), save=False)
        attachment.save()
        stored.append(attachment)
    if skipped:
        # Added to what the connector already listed (attachments its parser dropped).
        message.metadata["attachments_not_stored"] = [*message.metadata.get("attachments_not_stored", []), *skipped]
        message.save(update_fields=["metadata"])
        if any(item["reason"] == "pending_fetch" for item in skipped):
            message_id = message.pk
            transaction.on_commit(lambda: _enqueue_media_fetch(message_id))
    return stored


def _enqueue_media_fetch(message_id: int) -> None:
    from hub import tasks
    from hub.taskqueue import enqueue

    enqueue(tasks.fetch_media, message_id)


def do_attach_fetched(message_id: int, url: str, *, data: bytes | None, content_type: str = "", name: str = "",
                      failure: str = "") -> Attachment | None:
    """Settle one `pending_fetch` attachment of an inbound message: store the fetched bytes, or record why
    they could not be fetched. Idempotent: an entry already settled is left alone."""
    with transaction.atomic():
        message = Message.objects.select_for_update(no_key=True).select_related("conversation").get(pk=message_id)
        entries = list(message.metadata.get("attachments_not_stored", []))
        index = next((i for i, e in enumerate(entries) if e.get("url") == url and e.get("reason") == "pending_fetch"),
                     None)
        if index is None:
            return None
        entry = dict(entries[index])
        attachment = None
        if data is not None and len(data) <= settings.HUB_MAX_ATTACHMENT_BYTES:
            stored = _store_attachments(message, [InboundAttachment(name=name or entry["name"],
                                                                    content_type=content_type, data=data)])
            attachment = stored[0] if stored else None
            del entries[index]
        else:
            entry["reason"] = "too_large" if data is not None else "fetch_failed"
            if failure:
                entry["detail"] = failure[:300]
            if data is not None:
                entry["size"] = len(data)
            entries[index] = entry
        message.metadata = {**message.metadata, "attachments_not_stored": entries}
        if not entries:
            message.metadata.pop("attachments_not_stored")
        message.save(update_fields=["metadata"])
        conversation = message.conversation
        publish(schema.MessageUpdated(message=message_data(message)), conversation_audience(conversation),
                conversation_id=conversation.pk, customer_id=conversation.customer_id)
    return attachment


def do_ingest_status(account: ChannelAccount, status: DeliveryStatus) -> Message | None:
    """Apply a provider's delivery report to the outbound message it names (None: unknown message)."""
    return do_apply_delivery_status(account, status.provider_message_id, status.status, status.reason)


def do_ingest_call(account: ChannelAccount, event: CallEvent) -> IngestResult:
    """Record a voice call as a `call` message; later events of the same call update it in place. The status
    only moves forward and nothing an event leaves empty is wiped (hub/actions/calls.merged_call_metadata);
    a call that ended with no agent becomes a callback task, once."""
    if not event.call_id or len(event.call_id) > 250:
        raise IngestError("call_id must be 1 to 250 characters")
    provider_id = f"call:{event.call_id}"
    result = _update_call(account, event, provider_id)
    if result is None:
        inbound = InboundMessage(
            provider_message_id=provider_id, sender=event.caller, text=event.transcript,
            metadata=calls.merged_call_metadata({"call_direction": event.direction}, event),
        )
        result = do_ingest_message(account, inbound, kind=Message.Kind.CALL)
        if not result.created:
            # Another delivery created the call meanwhile: this event still applies to it.
            result = _update_call(account, event, provider_id) or result
    if result.message.metadata.get("call_status") in calls.FINAL_STATUSES:
        # The agent on the call has room again (after-call work): routing reads that from the call's state.
        conversation_id = result.message.conversation_id
        transaction.on_commit(lambda: call_ended.send(sender=Message, conversation_id=conversation_id))
    calls.do_follow_up_call(result.message)
    return result


def _update_call(account: ChannelAccount, event: CallEvent, provider_id: str) -> IngestResult | None:
    with transaction.atomic():
        existing = (Message.objects.select_for_update(no_key=True)
                    .filter(channel_account=account, provider_message_id=provider_id).first())
        if existing is None:
            return None
        meta = calls.merged_call_metadata(existing.metadata, event)
        text = bound_text(event.transcript)[0] if event.transcript else existing.text
        if meta == existing.metadata and text == existing.text:
            return IngestResult(existing, created=False)
        Message.objects.filter(pk=existing.pk).update(metadata=meta, text=text)
        existing.refresh_from_db()
        conversation = existing.conversation
        publish(schema.MessageUpdated(message=message_data(existing)), conversation_audience(conversation),
                conversation_id=conversation.pk, customer_id=conversation.customer_id)
        return IngestResult(existing, created=False)
