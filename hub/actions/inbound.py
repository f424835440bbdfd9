"""Everything a connector hands the hub, stored: messages, delivery reports, calls, consent and follows.

Webhook views, the SMTP listener and the mailbox poller all come through `do_receive_events`, so every way
in gets the same idempotency and the same answers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from connectors.base import (
    CallEvent,
    ContactState,
    DeliveryStatus,
    IdentityEvent,
    InboundEvent,
    InboundMessage,
    Outcome,
)
from hub.actions.ingestion import IngestError, do_ingest_call, do_ingest_message, do_ingest_status
from hub.actions.outbound import ActionError
from hub.identities import normalize_address
from hub.models import ChannelAccount, Conversation, Identity, OptOut, RoutingEntry

logger = logging.getLogger(__name__)


def do_receive_events(account: ChannelAccount, events: Sequence[InboundEvent], *,
                      with_contact: bool = False) -> list[Outcome]:
    """Store each event in its own transaction (one bad event does not undo the others, and a provider's
    retry of the whole request stores only what is missing). `with_contact`: also read each conversation's
    routing state for the connector's answer (a few queries more, so only for connectors that use it)."""
    outcomes: list[Outcome] = []
    for event in events:
        try:
            outcomes.append(_receive(account, event, with_contact))
        except (IngestError, ActionError) as exc:
            logger.info("refused %s on account %s: %s", type(event).__name__, account.pk, exc)
            outcomes.append(Outcome(event=event, stored=False, error=str(exc)))
    return outcomes


def _receive(account: ChannelAccount, event: InboundEvent, with_contact: bool) -> Outcome:
    if isinstance(event, InboundMessage):
        result = do_ingest_message(account, event)
        return Outcome(event=event, stored=result.created, duplicate=not result.created,
                       message_id=result.message.pk,
                       contact=contact_state(result.message.conversation_id) if with_contact else None)
    if isinstance(event, CallEvent):
        result = do_ingest_call(account, event)
        return Outcome(event=event, stored=result.created, duplicate=not result.created,
                       message_id=result.message.pk,
                       contact=contact_state(result.message.conversation_id) if with_contact else None)
    if isinstance(event, DeliveryStatus):
        message = do_ingest_status(account, event)
        if message is None:
            # Reports for messages sent outside the hub (or long pruned) are normal: acknowledged, ignored.
            logger.info("delivery report for unknown message %s on account %s", event.provider_message_id,
                        account.pk)
        return Outcome(event=event, stored=message is not None, message_id=message.pk if message else None)
    if isinstance(event, IdentityEvent):
        return Outcome(event=event, stored=do_identity_event(account, event))
    raise IngestError(f"unknown event type {type(event).__name__}")


def do_identity_event(account: ChannelAccount, event: IdentityEvent) -> bool:
    """Apply consent or a follow. Returns whether anything changed (repeats change nothing)."""
    try:
        address = normalize_address(event.sender.kind, event.sender.address)
    except ValueError as exc:
        raise IngestError(str(exc)) from exc
    at = event.at or timezone.now()
    with transaction.atomic():
        if event.change == "opt_out":
            _, created = OptOut.objects.get_or_create(channel_account=account, address=address,
                                                      defaults={"keyword": event.keyword[:40], "created_at": at})
            if created:
                logger.info("%s opted out of account %s (%s)", address, account.pk, event.keyword)
            return created
        if event.change == "opt_in":
            deleted, _ = OptOut.objects.filter(channel_account=account, address=address).delete()
            return deleted > 0
        identity = Identity.objects.select_for_update(no_key=True).filter(kind=event.sender.kind,
                                                                          address=address).first()
        if identity is None:
            # A follower who never wrote is not a customer yet; their first message creates one.
            return False
        following = event.change == "follow"
        if identity.attributes.get("following") == following:
            return False
        identity.attributes = {**identity.attributes, "following": following,
                               "following_changed_at": at.isoformat()}
        identity.save(update_fields=["attributes"])
        return True


def opted_out(account: ChannelAccount, address: str) -> OptOut | None:
    return OptOut.objects.filter(channel_account=account, address=address).first()


def contact_state(conversation_id: int) -> ContactState | None:
    """The conversation's place with routing, read now (a connector's answer may depend on it)."""
    conv = (Conversation.objects.select_related("assignee").filter(pk=conversation_id)
            .only("id", "status", "assignee__username", "first_queued_at", "created_at").first())
    if conv is None:
        return None
    entry = RoutingEntry.objects.select_related("queue").filter(conversation_id=conversation_id).first()
    now = timezone.now()
    since = entry.arrived_at if entry else (conv.first_queued_at or conv.created_at)
    position = None
    if entry is not None and entry.state == RoutingEntry.State.WAITING:
        # Cheap and good enough for an answer to a caller: arrival order within the queue. The routing API's
        # /waiting/ view gives the engine's exact order with priorities.
        position = RoutingEntry.objects.filter(queue_id=entry.queue_id, state=RoutingEntry.State.WAITING,
                                               arrived_at__lt=entry.arrived_at).count() + 1
    return ContactState(
        conversation_id=conv.pk,
        status=conv.status,
        assignee=conv.assignee.username if conv.assignee_id and conv.assignee else "",
        waiting=entry is not None and entry.state != RoutingEntry.State.OUT_OF_HOURS,
        out_of_hours=entry is not None and entry.state == RoutingEntry.State.OUT_OF_HOURS,
        queue=entry.queue.name if entry else "",
        position=position,
        waited_seconds=max(0.0, (now - since).total_seconds()) if since else 0.0,
    )
