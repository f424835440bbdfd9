"""The outbox: an agent's reply is a queued row before any provider is called; a task delivers it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from hub import audit
from hub.actions import ActionError
from hub.events import schema
from hub.events.payloads import conversation_data, message_data
from hub.events.publish import conversation_audience, publish
from hub.identities import CHANNEL_IDENTITY_KIND
from hub.models import ChannelAccount, Conversation, Customer, Identity, Message, OptOut
from hub.sanitize import bound_text
from routing.signals import conversation_assigned

logger = logging.getLogger(__name__)

# A status only ever moves forward along this order; "failed" is terminal except that a provider's
# later "delivered"/"read" proves it was in fact delivered.
_RANK = {"queued": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 1}


@dataclass(frozen=True)
class ReplyTarget:
    account: ChannelAccount
    identity: Identity


def identity_kind_for(channel: str) -> str:
    from connectors import registry

    connector = registry.get(channel)
    if connector is not None and connector.identity_kind:
        return connector.identity_kind
    return CHANNEL_IDENTITY_KIND.get(channel, channel)


def check_reply_target(conversation: Conversation, account: ChannelAccount | None = None) -> ReplyTarget:
    """Where a reply goes: the conversation's own channel account unless another of the customer's
    channels is chosen, to the identity the customer last wrote from on that channel."""
    account = account or conversation.channel_account
    if not account.active:
        raise ActionError(f"channel account {account} is disabled", field="channel_account")
    kind = identity_kind_for(account.channel)
    last_in = (Message.objects.filter(conversation=conversation, direction=Message.Direction.IN,
                                      channel_account__channel=account.channel, author_identity__isnull=False)
               .select_related("author_identity").order_by("-created_at", "-id").first())
    identity = last_in.author_identity if last_in and last_in.author_identity else None
    if identity is None or identity.customer_id != conversation.customer_id:
        identity = Identity.objects.filter(customer_id=conversation.customer_id, kind=kind).order_by("-id").first()
    if identity is None:
        raise ActionError(f"the customer has no {kind} address to reply to on {account.channel}",
                          field="channel_account")
    stop = OptOut.objects.filter(channel_account=account, address=identity.address).first()
    if stop is not None:
        raise ActionError(opt_out_reason(stop.keyword), field="channel_account")
    return ReplyTarget(account, identity)


def opt_out_reason(keyword: str) -> str:
    said = f"replied {keyword.upper()}" if keyword else "opted out"
    return (f"The customer {said} to this number: messages to them are refused until they send START "
            "(or another opt-in keyword).")


def do_send_reply(agent: User, conversation: Conversation, text: str, *,
                  account: ChannelAccount | None = None, client_id: str | None = None) -> Message:
    """Queue `agent`'s reply. Idempotent on `client_id`: a double submit returns the first message."""
    if not text or not text.strip():
        raise ActionError("a reply needs text", field="text")
    if client_id is not None and not (0 < len(client_id) <= 64):
        raise ActionError("client_id must be 1 to 64 characters", field="client_id")
    if client_id:
        existing = Message.objects.filter(author_user=agent, client_id=client_id).first()
        if existing is not None:
            if existing.conversation_id != conversation.pk:
                raise ActionError("this client_id was already used in another conversation", field="client_id")
            return existing
    target = check_reply_target(conversation, account)
    text, truncated = bound_text(text)
    try:
        with transaction.atomic():
            conv = Conversation.objects.select_for_update(no_key=True).get(pk=conversation.pk)
            now = timezone.now()
            message = Message.objects.create(
                conversation=conv, direction=Message.Direction.OUT, author_kind=Message.Author.AGENT,
                author_user=agent, author_identity=target.identity, channel_account=target.account, text=text,
                status=Message.Status.QUEUED, client_id=client_id or None, created_at=now,
                status_changed_at=now, metadata={"to": target.identity.address, **({"truncated": True}
                                                                                  if truncated else {})},
            )
            changed = ["last_message_at", "messages_count"]
            conv.messages_count = F("messages_count") + 1
            conv.last_message_at = now
            if conv.first_response_at is None:
                conv.first_response_at = now
                changed.append("first_response_at")
            previous_assignee = conv.assignee_id
            if conv.assignee_id is None:
                # Whoever answers an unassigned conversation owns it from then on.
                conv.assignee_id = agent.pk
                conv.assigned_at = now
                changed.append("assignee")
            conv.save()
            conv.refresh_from_db()
            # Lifetime figures count every message exchanged with the customer, both ways.
            Customer.objects.filter(pk=conv.customer_id).update(messages_count=F("messages_count") + 1,
                                                                last_contact_at=now)
            audience = conversation_audience(conv, previous_assignee)
            if "assignee" in changed:
                audit.record("conversation.assigned", agent, conversation=conv, assignee=agent.pk,
                             previous=None, reason="replied")
                publish(schema.ConversationAssigned(conversation=conversation_data(conv), assignee_id=agent.pk,
                                                    previous_assignee_id=None, team_id=conv.team_id,
                                                    by_id=agent.pk),
                        audience, conversation_id=conv.pk, customer_id=conv.customer_id)
            publish(schema.MessageCreated(message=message_data(message)), audience,
                    conversation_id=conv.pk, customer_id=conv.customer_id)
            message_id = message.pk
            transaction.on_commit(lambda: _enqueue_delivery(message_id))
            if "assignee" in changed:
                conv_id, agent_id = conv.pk, agent.pk
                transaction.on_commit(lambda: conversation_assigned.send(
                    sender=Conversation, conversation_id=conv_id, agent_id=agent_id))
    except IntegrityError:
        if client_id:
            existing = Message.objects.filter(author_user=agent, client_id=client_id).first()
            if existing is not None:
                return existing
        raise
    return message


def do_send_auto_reply(conversation: Conversation, text: str) -> Message:
    """Queue an automatic message from the hub itself (out-of-hours answer): it counts as neither the first
    response nor an agent's answer, and assigns nobody."""
    target = check_reply_target(conversation)
    text, _ = bound_text(text)
    with transaction.atomic():
        conv = Conversation.objects.select_for_update(no_key=True).get(pk=conversation.pk)
        now = timezone.now()
        message = Message.objects.create(
            conversation=conv, direction=Message.Direction.OUT, author_kind=Message.Author.SYSTEM,
            author_identity=target.identity, channel_account=target.account, text=text,
            status=Message.Status.QUEUED, created_at=now, status_changed_at=now,
            metadata={"to": target.identity.address, "auto_reply": True},
        )
        Conversation.objects.filter(pk=conv.pk).update(messages_count=F("messages_count") + 1, last_message_at=now)
        conv.refresh_from_db()
        publish(schema.MessageCreated(message=message_data(message)), conversation_audience(conv),
                conversation_id=conv.pk, customer_id=conv.customer_id)
        message_id = message.pk
        transaction.on_commit(lambda: _enqueue_delivery(message_id))
    return message


def _enqueue_delivery(message_id: int) -> None:
    from hub import tasks
    from hub.taskqueue import enqueue

    enqueue(tasks.deliver_message, message_id)


DELIVERY_LEASE = timedelta(minutes=5)


def do_claim_delivery(message_id: int) -> bool:
    """Take the delivery lease of a queued message; False when it is not queued or another attempt holds
    it. Only the holder calls the provider, so duplicate tasks (a sweep, a broker redelivery) do not send
    twice while an attempt is under way."""
    now = timezone.now()
    claimed = (Message.objects.filter(pk=message_id, direction=Message.Direction.OUT, status=Message.Status.QUEUED)
               .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
               .update(lease_until=now + DELIVERY_LEASE, last_attempt_at=now))
    return claimed == 1


def do_mark_sent(message: Message, provider_message_id: str, status: str = "sent") -> Message:
    """Record the provider's acceptance of an outbound message."""
    with transaction.atomic():
        msg = Message.objects.select_for_update(no_key=True).select_related("conversation").get(pk=message.pk)
        if msg.provider_message_id and msg.provider_message_id != provider_message_id:
            logger.warning("message %s already has provider id %s", msg.pk, msg.provider_message_id)
        msg.provider_message_id = provider_message_id
        msg.attempts = F("attempts") + 1
        msg.failure_reason = ""  # earlier temporary failures no longer matter
        msg.lease_until = None
        msg.save(update_fields=["provider_message_id", "attempts", "failure_reason", "lease_until"])
        msg.refresh_from_db()
        # No ThreadKey needed: a customer reply naming this provider id finds the message itself.
        _move_status(msg, status, "")
    return msg


def do_record_attempt_failure(message: Message, reason: str, *, permanent: bool) -> Message:
    """A delivery attempt failed. Permanent: the message is failed and the agent is told. Temporary: the
    attempt is counted and the reason kept, the task retries."""
    with transaction.atomic():
        msg = Message.objects.select_for_update(no_key=True).select_related("conversation").get(pk=message.pk)
        msg.attempts = F("attempts") + 1
        msg.failure_reason = reason[:500]
        msg.lease_until = None
        msg.save(update_fields=["attempts", "failure_reason", "lease_until"])
        msg.refresh_from_db()
        if permanent:
            _move_status(msg, "failed", reason, permanent=True)
    return msg


def do_apply_delivery_status(account: ChannelAccount, provider_message_id: str, status: str,
                             reason: str = "") -> Message | None:
    """A provider status callback. Idempotent; never moves a status backwards."""
    if status not in _RANK:
        raise ActionError(f"unknown delivery status {status!r}", field="status")
    with transaction.atomic():
        msg = (Message.objects.select_for_update(no_key=True).select_related("conversation")
               .filter(channel_account=account, provider_message_id=provider_message_id,
                       direction=Message.Direction.OUT).first())
        if msg is None:
            return None
        _move_status(msg, status, reason, permanent=status == "failed")
    return msg


def _move_status(msg: Message, status: str, reason: str, *, permanent: bool = False) -> bool:
    current = msg.status
    if current == status:
        return False
    if current == "failed" and status not in ("delivered", "read"):
        return False
    if current != "failed" and status != "failed" and _RANK[status] <= _RANK.get(current, 0):
        return False
    if current in ("delivered", "read") and status == "failed":
        return False
    msg.status = status
    msg.status_changed_at = timezone.now()
    if status == "failed":
        msg.failure_reason = reason[:500] or msg.failure_reason or "delivery failed"
    elif current == "failed":
        msg.failure_reason = ""
    msg.save(update_fields=["status", "status_changed_at", "failure_reason"])
    conv = msg.conversation
    publish(schema.MessageStatus(message_id=msg.pk, conversation_id=conv.pk, status=status,  # type: ignore[arg-type]
                                 failure_reason=msg.failure_reason if status == "failed" else "",
                                 permanent=permanent),
            conversation_audience(conv), conversation_id=conv.pk, customer_id=conv.customer_id)
    return True
