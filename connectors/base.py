"""The contract between the hub and a channel connector.

A connector turns a provider's requests into these plain dataclasses and sends outbound messages through
the provider. It never sees a model: the hub hands it `AccountInfo` and `OutboundMessage`, and takes back
`InboundMessage`, `DeliveryStatus`, `CallEvent` and `SendResult`. See docs/connectors.md.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal


class Capability:
    TEXT = "text"
    HTML = "html"
    ATTACHMENTS = "attachments"
    DELIVERY_RECEIPTS = "delivery_receipts"
    THREADS = "threads"
    VOICE = "voice"


@dataclass(frozen=True)
class Sender:
    """Who wrote: an address on one identity kind (email, phone, social, slack, webchat)."""

    kind: str
    address: str
    display_name: str = ""


@dataclass(frozen=True)
class InboundAttachment:
    name: str
    content_type: str
    data: bytes = b""
    # A provider URL to fetch later (e.g. MMS media); the hub fetches it with a size cap.
    url: str = ""


@dataclass(frozen=True)
class InboundMessage:
    """One message from a customer, as the provider reported it.

    `provider_message_id` is the idempotency key within the channel account: the same id delivered again
    stores nothing new. `thread_keys` are the provider references this message continues (email
    In-Reply-To/References, a Slack thread ts, a social post id).
    """

    provider_message_id: str
    sender: Sender
    text: str = ""
    html: str = ""  # raw provider HTML; the hub sanitizes it before storing
    subject: str = ""
    thread_keys: Sequence[str] = ()
    attachments: Sequence[InboundAttachment] = ()
    is_public: bool = False
    is_auto_reply: bool = False  # auto-replies and bounces are recorded but never answered automatically
    sent_at: datetime | None = None
    language: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)


DeliveryState = Literal["sent", "delivered", "read", "failed"]


@dataclass(frozen=True)
class DeliveryStatus:
    """A provider's report on a message we sent. Never moves a message's status backwards."""

    provider_message_id: str
    status: DeliveryState
    reason: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class CallEvent:
    """A voice call's progress. `call_id` is the idempotency key; later events update the same call."""

    call_id: str
    caller: Sender
    status: Literal["ringing", "in-progress", "completed", "no-answer", "busy", "failed", "canceled"]
    direction: Literal["in", "out"] = "in"
    duration_seconds: int = 0
    recording_url: str = ""
    transcript: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class AccountInfo:
    """The channel account a connector works for, as plain data."""

    id: int
    channel: str
    address: str
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboundAttachment:
    name: str
    content_type: str
    path: str
    size: int


@dataclass(frozen=True)
class OutboundMessage:
    message_id: int  # the hub's id; connectors pass it to providers as an idempotency key where supported
    conversation_id: int
    to: str
    text: str
    html: str = ""
    subject: str = ""
    thread_keys: Sequence[str] = ()
    attachments: Sequence[OutboundAttachment] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    status: Literal["sent", "delivered"] = "sent"


@dataclass(frozen=True)
class InboundRequest:
    """An HTTP request to a webhook, as plain data."""

    method: str
    url: str  # the public URL the provider called (HUB_PUBLIC_URL + path), for signature checks
    path: str
    headers: Mapping[str, str]
    body: bytes
    query: Mapping[str, str] = field(default_factory=dict)
    form: Mapping[str, str] = field(default_factory=dict)


class TemporaryFailure(Exception):
    """The provider may accept a retry (timeout, 429, 5xx)."""


class PermanentFailure(Exception):
    """Retrying will not help (invalid number, opted out, 4xx); the reason is shown to the agent."""


class Connector(abc.ABC):
    """Base class of every channel connector. Subclasses set the class attributes and implement `send`,
    and the inbound side where the channel has one."""

    id: ClassVar[str]
    name: ClassVar[str]
    identity_kind: ClassVar[str]
    capabilities: ClassVar[frozenset[str]] = frozenset({Capability.TEXT})

    def is_configured(self, account: AccountInfo) -> bool:
        """Whether this account has what `send` needs (credentials...). Unconfigured accounts deliver to
        the log connector instead, which is what `make run` does out of the box."""
        return True

    def verify(self, account: AccountInfo, request: InboundRequest) -> bool:
        """Check the request's signature or token. Must be constant-time where secrets are compared."""
        raise NotImplementedError(f"{self.id} has no inbound webhook")

    def parse(self, account: AccountInfo, request: InboundRequest) -> Sequence[InboundMessage | DeliveryStatus
                                                                               | CallEvent]:
        """Turn a verified request into events for the hub."""
        raise NotImplementedError(f"{self.id} has no inbound webhook")

    @abc.abstractmethod
    def send(self, account: AccountInfo, message: OutboundMessage) -> SendResult:
        """Hand `message` to the provider. Raise TemporaryFailure or PermanentFailure on error."""
