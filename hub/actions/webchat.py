"""What a chat visitor changes (web/chat_consumer.py, web/chat_views.py): their messages, who they say they
are, read receipts, and messages left when nobody can answer. The visitor is an identity of kind `webchat`
whose address is the random visitor id in their signed token."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import cast

from django.contrib.auth.models import User
from django.db import transaction

from connectors.base import InboundAttachment, InboundMessage, Sender
from connectors.webchat.connector import provider_id
from hub.actions import ActionError
from hub.actions.customers import do_merge_customers
from hub.actions.ingestion import IngestError, IngestResult, do_ingest_message
from hub.actions.outbound import do_apply_delivery_status
from hub.identities import InvalidAddress, normalize_address
from hub.models import ChannelAccount, Conversation, Customer, Identity, Message

CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_NAME_CHARS = 200
RECEIPT_STATUSES = ("delivered", "read")
# Receipts cover the messages up to the one named; older ones were acknowledged before.
_RECEIPT_WINDOW = 50


def check_client_id(client_id: object) -> str:
    if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
        raise ActionError("client_id must be 1 to 64 letters, digits, - or _", field="client_id")
    return client_id


def visitor_message_key(visitor_id: str, client_id: str) -> str:
    """The provider id of a visitor's message: the widget's own id for it, scoped to the visitor, so that a
    resend after a reconnect stores one message and two visitors' ids never collide."""
    return f"{visitor_id}:{client_id}"


def visitor_label(visitor_id: str) -> str:
    """What agents see for a visitor who gave no name: short and tellable apart, not a 35-character id."""
    return f"Visitor {visitor_id.removeprefix('wv-')[:6]}"


def do_visitor_message(account: ChannelAccount, visitor_id: str, client_id: str, text: str,
                       attachments: Sequence[InboundAttachment] = (), *, name: str = "",
                       metadata: dict[str, object] | None = None) -> IngestResult:
    """Store a visitor's message (idempotent on `client_id`). The caller has checked size and rate limits."""
    check_client_id(client_id)
    if not text.strip() and not attachments:
        raise ActionError("a message needs text or a file", field="text")
    inbound = InboundMessage(
        provider_message_id=visitor_message_key(visitor_id, client_id),
        sender=Sender(kind=Identity.Kind.WEBCHAT, address=visitor_id,
                      display_name=(name or visitor_label(visitor_id))[:MAX_NAME_CHARS]),
        text=text, attachments=tuple(attachments), metadata=metadata or {},
    )
    try:
        return do_ingest_message(account, inbound)
    except IngestError as exc:
        raise ActionError(str(exc)) from exc


def do_identify_visitor(account: ChannelAccount, visitor_id: str, *, name: str = "", email: str = "",
                        verified: bool = False) -> Identity:
    """Record what the visitor told (pre-chat form) or what the embedding site vouched for (a verified
    email). An email as typed is only kept on the visitor's identity: it links the visitor to the customer
    who owns that address only when `verified`, or anyone could read a stranger's chat history."""
    name = " ".join(name.split())[:MAX_NAME_CHARS]
    email = email.strip()
    normalized = ""
    if email:
        try:
            normalized = normalize_address(Identity.Kind.EMAIL, email)
        except InvalidAddress as exc:
            raise ActionError(str(exc), field="email") from exc
    merge_from: Customer | None = None
    owner: Customer | None = None
    with transaction.atomic():
        identity = (Identity.objects.select_for_update(no_key=True).select_related("customer")
                    .filter(kind=Identity.Kind.WEBCHAT, address=visitor_id).first())
        if identity is None:
            customer = Customer.objects.create(display_name=name or visitor_label(visitor_id))
            identity = Identity.objects.create(customer=customer, kind=Identity.Kind.WEBCHAT, address=visitor_id,
                                               display_name=name)
        customer = identity.customer
        attributes = dict(identity.attributes)
        if name and identity.display_name != name:
            identity.display_name = name
            if customer.display_name in ("", visitor_id, visitor_label(visitor_id)):
                customer.display_name = name
                customer.save(update_fields=["display_name", "updated_at"])
        if email:
            attributes["email"] = email[:320]
            attributes["email_verified"] = bool(verified and normalized)
        attributes["identified"] = True
        identity.attributes = attributes
        identity.save(update_fields=["display_name", "attributes"])
        if verified and normalized:
            email_identity = (Identity.objects.select_for_update(no_key=True)
                              .filter(kind=Identity.Kind.EMAIL, address=normalized).first())
            if email_identity is None:
                Identity.objects.create(customer=customer, kind=Identity.Kind.EMAIL, address=normalized,
                                        display_name=name, verified=True)
            elif email_identity.customer_id != customer.pk:
                owner = Customer.objects.get(pk=email_identity.customer_id)
                while owner.merged_into_id:  # a merged-away owner: its survivor holds the address now
                    owner = Customer.objects.get(pk=owner.merged_into_id)
                if not Identity.objects.filter(customer=customer).exclude(pk=identity.pk).exists():
                    merge_from = customer  # an anonymous visitor record: it becomes the known customer
                else:
                    identity.customer = owner
                    identity.save(update_fields=["customer"])
    if merge_from is not None and owner is not None and owner.pk != merge_from.pk:
        # Recorded and undoable like any merge, and announced to the agents (customers.merged).
        do_merge_customers(cast(User, None), merge_from, owner)
        identity.refresh_from_db()
    return identity


def do_visitor_receipt(account: ChannelAccount, customer_id: int, message_id: int, status: str) -> int:
    """The widget reports the agent's messages up to `message_id` delivered or read. Only messages of this
    visitor's customer sent on this account count. Returns how many statuses moved."""
    if status not in RECEIPT_STATUSES:
        raise ActionError("status must be delivered or read", field="status")
    target = (Message.objects.filter(pk=message_id, direction=Message.Direction.OUT, channel_account=account,
                                     conversation__customer_id=customer_id)
              .values_list("conversation_id", flat=True).first())
    if target is None:
        raise ActionError("no such message", field="message_id")
    rank = {"queued": 0, "sent": 1, "delivered": 2, "read": 3}[status]
    below = [s for s, r in (("sent", 1), ("delivered", 2)) if r < rank]
    pending = list(Message.objects.filter(conversation_id=target, direction=Message.Direction.OUT,
                                          channel_account=account, pk__lte=message_id, status__in=below,
                                          provider_message_id__isnull=False)
                   .order_by("-id").values_list("pk", flat=True)[:_RECEIPT_WINDOW])
    moved = 0
    for pk in reversed(pending):
        # Each status is its own small transaction and event, as a provider's callback would be.
        if do_apply_delivery_status(account, provider_id(pk), status) is not None:
            moved += 1
    return moved


def do_leave_message(account: ChannelAccount, visitor_id: str, client_id: str, text: str, *, name: str = "",
                     email: str = "", email_account: ChannelAccount | None = None) -> tuple[str, IngestResult]:
    """A message left while nobody can answer. With an email address it becomes an email conversation
    from that address (answered by email, like any mail the address sends); without one, a chat message
    that waits for an agent. Returns the channel it went to and the stored message."""
    check_client_id(client_id)
    if not text.strip():
        raise ActionError("a message needs text", field="text")
    name = " ".join(name.split())[:MAX_NAME_CHARS]
    if not email.strip():
        return "webchat", do_visitor_message(account, visitor_id, client_id, text, name=name,
                                             metadata={"left_message": True})
    try:
        address = normalize_address(Identity.Kind.EMAIL, email)
    except InvalidAddress as exc:
        raise ActionError(str(exc), field="email") from exc
    if email_account is None:
        email_account = ChannelAccount.objects.filter(channel="email", is_default=True, active=True).first()
    if email_account is None:
        raise ActionError("messages cannot be left by email here", field="email")
    inbound = InboundMessage(
        provider_message_id=f"webchat-form:{visitor_message_key(visitor_id, client_id)}",
        sender=Sender(kind=Identity.Kind.EMAIL, address=address, display_name=name),
        subject="Message left in the website chat", text=text,
        # Nobody proved they own this address: the agent sees where it came from before answering.
        metadata={"source": "webchat_form", "webchat_visitor": visitor_id, "webchat_account": account.pk,
                  "sender_verified": False},
    )
    try:
        return "email", do_ingest_message(email_account, inbound)
    except IngestError as exc:
        raise ActionError(str(exc)) from exc


def visitor_conversations(account: ChannelAccount, customer_id: int) -> list[int]:
    """The conversations a visitor follows: their customer's chats on this widget account."""
    return list(Conversation.objects.filter(customer_id=customer_id, channel_account=account)
                .order_by("id").values_list("pk", flat=True))
