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
from typing import Any, ClassVar, Literal, Protocol


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
    # The hub's conversation id this message says it continues, from something the connector verified
    # (an HMAC-signed reply address). Used after `thread_keys`, and only within the sender's own
    # conversations: a hint never moves a message into a stranger's conversation.
    conversation_hint: int | None = None
    # The thread keys name a conversation shared by everyone writing in it (a Slack thread where several
    # people of the customer's company answer): the message joins it whoever wrote it. Default: keys only
    # match the sender's own conversations (public comments under one post stay apart).
    shared_thread: bool = False


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
    """A voice call's progress. `call_id` is the idempotency key; later events update the same call: its
    status only moves forward, and what an event leaves empty (recording, transcript, duration) is kept."""

    call_id: str
    caller: Sender
    status: Literal["ringing", "in-progress", "completed", "no-answer", "busy", "failed", "canceled"]
    direction: Literal["in", "out"] = "in"
    duration_seconds: int = 0
    recording_url: str = ""
    transcript: str = ""
    at: datetime | None = None
    # Provider details merged into the call's metadata (recording sid, time in queue...); an empty value
    # never replaces a stored one. The hub reads `answered_by`: "" says no agent has answered the call yet,
    # an agent's username that one did. A call that ends while it is "" is a missed call and becomes a
    # callback task; leave the key out when the connector cannot tell.
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IdentityEvent:
    """News about a sender rather than a message: consent (an SMS STOP or START) or a follow.

    `opt_out` makes the hub refuse outbound messages to `sender` from this account, with a reason the agent
    sees, until an `opt_in`; `follow` / `unfollow` are kept on the identity and shown to agents."""

    sender: Sender
    change: Literal["opt_out", "opt_in", "follow", "unfollow"]
    keyword: str = ""
    at: datetime | None = None


InboundEvent = InboundMessage | DeliveryStatus | CallEvent | IdentityEvent


@dataclass(frozen=True)
class AccountInfo:
    """The channel account a connector works for, as plain data.

    `config` holds the account's settings and credentials (for a channel's default account, overlaid with
    the `HUB_*` variables the connector names in `default_account_env`). `signing_key` is a secret the hub
    derives for this account, for what the connector signs itself (reply-address tokens). `public_url` is
    HUB_PUBLIC_URL, for callback URLs handed to the provider."""

    id: int
    channel: str
    address: str
    config: Mapping[str, Any] = field(default_factory=dict)
    signing_key: bytes = b""
    public_url: str = ""
    is_default: bool = False


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
    headers: Mapping[str, str]  # names in lower case
    body: bytes
    query: Mapping[str, str] = field(default_factory=dict)
    form: Mapping[str, str] = field(default_factory=dict)
    endpoint: str = ""  # which of the connector's `webhooks` was called
    params: Mapping[str, str] = field(default_factory=dict)  # values captured from the route


@dataclass(frozen=True)
class DeliveryKey:
    """A webhook delivery's own id (Slack's event_id, a push's nonce). A key seen before is acknowledged
    without being processed again. With `replay_protected`, the same key with a different body is a replayed
    signature (the provider signs the key, not the body) and is refused."""

    key: str
    replay_protected: bool = False


@dataclass(frozen=True)
class ContactState:
    """Where the hub stands with the conversation an event went into, for the connector's answer (a voice
    connector's TwiML depends on whether an agent was found)."""

    conversation_id: int
    status: str
    assignee: str = ""  # the assigned agent's username, "" when nobody has it
    waiting: bool = False  # in a routing queue's line
    out_of_hours: bool = False
    queue: str = ""
    position: int | None = None
    estimated_wait_seconds: float | None = None
    waited_seconds: float = 0.0


@dataclass(frozen=True)
class Outcome:
    """What the hub did with one parsed event."""

    event: InboundEvent
    stored: bool  # something new was stored or changed
    duplicate: bool = False  # the same event was stored before
    message_id: int | None = None
    contact: ContactState | None = None
    error: str = ""  # the hub refused the event (an invalid address...): the request is answered 400


@dataclass(frozen=True)
class WebhookReply:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FetchedMedia:
    data: bytes
    content_type: str
    name: str = ""


class RejectedRequest(Exception):
    """`verify` may raise this instead of returning False, to log why (timestamp outside the window...)."""


class MalformedRequest(Exception):
    """`parse` raises this for a payload it cannot read; the text goes back to the provider with a 400."""


class HubPort(Protocol):
    """What the hub offers connectors that receive outside webhooks (an SMTP listener, a mailbox poller)."""

    def account(self, channel: str, address: str | None) -> AccountInfo | None:
        """The active account of `channel` with this address (None: the channel's default account)."""

    def accounts(self, channel: str) -> list[AccountInfo]:
        """Every active account of `channel`."""

    def deliver(self, account: AccountInfo, events: Sequence[InboundEvent]) -> list[Outcome]:
        """Store events exactly as webhook events are stored (idempotent, one transaction each)."""


class Listener(Protocol):
    """A long-running inbound server a connector runs inside `hub up` (an SMTP listener)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


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
    # Webhook routes under /webhooks/, in Django's path syntax, each naming an endpoint the connector's
    # methods see as `request.endpoint`: {"twilio/sms": "message", "twilio/sms/status": "status"}.
    # Values captured by the route arrive in `request.params`.
    webhooks: ClassVar[Mapping[str, str]] = {}
    # The default account's settings from the environment: config key -> HUB_ variable, e.g.
    # {"auth_token": "HUB_TWILIO_AUTH_TOKEN"}. A variable that is set wins over the stored config.
    default_account_env: ClassVar[Mapping[str, str]] = {}
    # Whether `poll` should run on the periodic schedule (pull channels such as IMAP).
    polls: ClassVar[bool] = False
    # Whether `respond` reads `Outcome.contact` (the conversation's routing state: a voice connector's
    # answer depends on it). Off by default: reading it costs queries on every webhook.
    answers_with_contact: ClassVar[bool] = False

    def is_configured(self, account: AccountInfo) -> bool:
        """Whether this account has what `send` needs (credentials...). Unconfigured accounts deliver to
        the log connector instead, which is what `make run` does out of the box."""
        return True

    def account_address(self, request: InboundRequest) -> str | None:
        """Which of the channel's accounts a webhook request is for (its address: the number called, the
        workspace id), read before verification so that the right account's secret verifies it. None: the
        channel's default account."""
        return request.params.get("account")

    def verify(self, account: AccountInfo, request: InboundRequest) -> bool:
        """Check the request's signature or token. Must be constant-time where secrets are compared. Return
        False, or raise RejectedRequest with the reason to log."""
        raise NotImplementedError(f"{self.id} has no inbound webhook")

    def delivery_key(self, account: AccountInfo, request: InboundRequest) -> DeliveryKey | None:
        """The delivery's own id, for the hub to acknowledge a repeated delivery without processing it."""
        return None

    def parse(self, account: AccountInfo, request: InboundRequest) -> Sequence[InboundEvent]:
        """Turn a verified request into events for the hub. Raise MalformedRequest (or let a ValueError,
        KeyError or TypeError through) for a payload that cannot be read: the provider gets a 400."""
        raise NotImplementedError(f"{self.id} has no inbound webhook")

    def respond(self, account: AccountInfo, request: InboundRequest, outcomes: Sequence[Outcome]) -> WebhookReply:
        """The answer to a verified, processed request (a handshake's echo, TwiML...). Default: 200 "ok"."""
        return WebhookReply(body=b"ok")

    def fetch_media(self, account: AccountInfo, url: str, max_bytes: int) -> FetchedMedia:
        """Download an `InboundAttachment.url` with the account's credentials, refusing URLs outside the
        provider and bodies over `max_bytes` (PermanentFailure), or TemporaryFailure to retry."""
        raise PermanentFailure(f"{self.name} attachments cannot be fetched")

    def listeners(self, hub: HubPort) -> Sequence[Listener]:
        """Servers `hub up` runs for this channel (an SMTP listener). Default: none."""
        return ()

    def poll(self, account: AccountInfo, hub: HubPort) -> int:
        """Fetch new inbound messages for `account` (when `polls`); returns how many were handed to the hub."""
        return 0

    @abc.abstractmethod
    def send(self, account: AccountInfo, message: OutboundMessage) -> SendResult:
        """Hand `message` to the provider. Raise TemporaryFailure or PermanentFailure on error."""
