"""The typed schema of every realtime event (docs/protocol.md is written from these classes).

An event is what an action changed, as the browser needs it. It travels inside an envelope that carries the
recipient's sequence number: ``{"type": "event", "seq": 42, "event": {...one of these...}}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AttachmentData(_Schema):
    id: int
    name: str
    content_type: str
    size: int
    url: str


class ConversationData(_Schema):
    id: int
    customer_id: int
    customer_name: str
    team_id: int | None
    assignee_id: int | None
    status: Literal["open", "pending", "snoozed", "resolved"]
    priority: int
    escalated: bool
    subject: str
    channel: str
    channel_account_id: int
    tags: list[str]
    messages_count: int
    created_at: datetime
    last_message_at: datetime | None
    snoozed_until: datetime | None


class MessageData(_Schema):
    id: int
    conversation_id: int
    direction: Literal["in", "out"]
    author_kind: Literal["customer", "agent", "system"]
    author_name: str
    author_id: int | None
    channel: str
    channel_account_id: int
    kind: Literal["text", "call"]
    text: str
    html: str
    is_public: bool
    status: Literal["received", "queued", "sent", "delivered", "read", "failed"]
    failure_reason: str
    attachments: list[AttachmentData]
    created_at: datetime


class NoteData(_Schema):
    id: int
    conversation_id: int
    author_id: int | None
    author_name: str
    text: str
    created_at: datetime


class ConversationCreated(_Schema):
    type: Literal["conversation.created"] = "conversation.created"
    conversation: ConversationData


class ConversationUpdated(_Schema):
    type: Literal["conversation.updated"] = "conversation.updated"
    conversation: ConversationData
    changed: list[str]


class ConversationAssigned(_Schema):
    type: Literal["conversation.assigned"] = "conversation.assigned"
    conversation: ConversationData
    assignee_id: int | None
    previous_assignee_id: int | None
    team_id: int | None
    by_id: int | None


class MessageCreated(_Schema):
    type: Literal["message.created"] = "message.created"
    message: MessageData


class MessageUpdated(_Schema):
    """A message changed in place (a call's progress, a transcript arriving)."""

    type: Literal["message.updated"] = "message.updated"
    message: MessageData


class MessageStatus(_Schema):
    type: Literal["message.status"] = "message.status"
    message_id: int
    conversation_id: int
    status: Literal["queued", "sent", "delivered", "read", "failed"]
    failure_reason: str
    permanent: bool


class NoteCreated(_Schema):
    type: Literal["note.created"] = "note.created"
    note: NoteData


class ConversationRead(_Schema):
    """The recipient read a conversation up to `last_read_at` (their unread count drops; a chat visitor
    sees their messages up to then as seen)."""

    type: Literal["conversation.read"] = "conversation.read"
    conversation_id: int
    user_id: int
    last_read_at: datetime


class ConversationRated(_Schema):
    """The customer answered the satisfaction question about a resolution of the conversation."""

    type: Literal["conversation.rated"] = "conversation.rated"
    conversation_id: int
    customer_id: int
    round: int
    score: int
    comment: str


class PresenceChanged(_Schema):
    type: Literal["presence.changed"] = "presence.changed"
    agent_id: int
    presence: Literal["available", "away", "busy", "offline"]
    # Set when the hub changed it, not a person: after offers in a row went unanswered, after no inbox
    # connection of the agent's was open for a while, or at sign-out.
    reason: Literal["missed_offers", "disconnected", "signed_out"] | None = None


class CustomerUpdated(_Schema):
    type: Literal["customer.updated"] = "customer.updated"
    customer_id: int
    changed: list[str]


class CustomersMerged(_Schema):
    type: Literal["customers.merged"] = "customers.merged"
    merge_id: int
    source_id: int
    target_id: int
    undone: bool
    conversation_ids: list[int]


class CustomerDeleted(_Schema):
    """A customer erased with all their conversations (hub/actions/customers.py do_delete_customer)."""

    type: Literal["customer.deleted"] = "customer.deleted"
    customer_id: int
    conversation_ids: list[int]


class OfferCreated(_Schema):
    """Sent by routing: a conversation is offered to the recipient until `expires_at`."""

    type: Literal["offer.created"] = "offer.created"
    offer_id: int
    conversation: ConversationData
    expires_at: datetime


class OfferClosed(_Schema):
    """Sent by routing: the offer was accepted, declined, expired or withdrawn."""

    type: Literal["offer.closed"] = "offer.closed"
    offer_id: int
    conversation_id: int
    outcome: Literal["accepted", "declined", "expired", "withdrawn"]


Event = Annotated[
    ConversationCreated
    | ConversationUpdated
    | ConversationAssigned
    | MessageCreated
    | MessageUpdated
    | MessageStatus
    | NoteCreated
    | ConversationRead
    | ConversationRated
    | PresenceChanged
    | CustomerUpdated
    | CustomersMerged
    | CustomerDeleted
    | OfferCreated
    | OfferClosed,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

EVENT_TYPES: tuple[type[_Schema], ...] = (
    ConversationCreated, ConversationUpdated, ConversationAssigned, MessageCreated, MessageUpdated, MessageStatus,
    NoteCreated, ConversationRead, ConversationRated, PresenceChanged, CustomerUpdated, CustomersMerged,
    CustomerDeleted, OfferCreated, OfferClosed,
)


def parse_event(data: dict[str, Any]) -> Event:
    """Validate a JSON-decoded event against its schema (raises pydantic.ValidationError)."""
    return EVENT_ADAPTER.validate_python(data)
