"""The email channel: mail in by SMTP (`hub up`'s listener), IMAP polling or a relay's webhook, replies out
over SMTP.

The three ways in share `read_mail`: one parse (connectors/email/mime.py) into one `InboundMessage`, which
the hub stores idempotently on the Message-ID. Inbound mail is always a customer's: a mail from the account's
own address or from one of its reply addresses is our own mail coming back (a loop) and is dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from connectors.base import (
    AccountInfo,
    Capability,
    Connector,
    HubPort,
    InboundAttachment,
    InboundEvent,
    InboundMessage,
    InboundRequest,
    Listener,
    MalformedRequest,
    OutboundMessage,
    PermanentFailure,
    RejectedRequest,
    Sender,
    SendResult,
    TemporaryFailure,
)
from connectors.email import outbound, tokens
from connectors.email.imap import poll_mailbox
from connectors.email.mime import ParsedMail, parse_mail
from connectors.email.smtp_listener import SmtpListener

logger = logging.getLogger(__name__)

DEFAULT_MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
DEFAULT_MAX_MESSAGE_BYTES = 10 * 1024 * 1024
DEFAULT_SMTP_PORT = 2525
# The metadata keeps the full text, quote and signature; bounded like everything stored from outside.
MAX_METADATA_CHARS = 200_000
_NOT_MAIL_TYPES = ("application/json", "application/x-www-form-urlencoded", "multipart/form-data")


def _int(value: Any, default: int) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _bounded(text: str) -> tuple[str, bool]:
    return (text[:MAX_METADATA_CHARS], True) if len(text) > MAX_METADATA_CHARS else (text, False)


def provider_id(parsed: ParsedMail, raw: bytes) -> str:
    """The Message-ID; without one (or an absurd one), a hash of the bytes: the same mail delivered again
    (a provider's retry, the next IMAP poll) gets the same id and is stored once."""
    if parsed.message_id and len(parsed.message_id) <= 255:
        return parsed.message_id
    return "sha256:" + hashlib.sha256(raw).hexdigest()


class EmailConnector(Connector):
    id = "email"
    name = "Email"
    identity_kind = "email"
    capabilities = frozenset({Capability.TEXT, Capability.HTML, Capability.ATTACHMENTS, Capability.THREADS})
    # A relay service (or anything that has the raw mail) posts it here; <account> is the address or id.
    webhooks = {"email/<str:account>": "mail"}
    default_account_env = {
        "smtp_url": "HUB_SMTP_OUT_URL",
        "webhook_token": "HUB_EMAIL_WEBHOOK_TOKEN",
        "reply_domain": "HUB_EMAIL_REPLY_DOMAIN",
        "imap_url": "HUB_IMAP_URL",
        # Read by `listeners` only (one SMTP listener serves every email account).
        "smtp_listen_port": "HUB_SMTP_PORT",
        "smtp_listen_host": "HUB_SMTP_HOST",
        "hub_host": "HUB_HOST",
        # The same caps as the webhook route and the hub's attachment store.
        "max_message_bytes": "HUB_WEBHOOK_MAX_BYTES",
        "max_attachment_bytes": "HUB_MAX_ATTACHMENT_BYTES",
    }
    polls = True

    # --- inbound ------------------------------------------------------------------------------------------

    def verify(self, account: AccountInfo, request: InboundRequest) -> bool:
        token = str(account.config.get("webhook_token") or "")
        if not token:
            raise RejectedRequest("no webhook token is configured for this email account")
        scheme, _, given = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise RejectedRequest("missing bearer token")
        return hmac.compare_digest(given.strip().encode(), token.encode())

    def parse(self, account: AccountInfo, request: InboundRequest) -> Sequence[InboundEvent]:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type in _NOT_MAIL_TYPES:
            raise MalformedRequest(f"expected the raw message (message/rfc822), got {content_type}")
        if not request.body.strip():
            raise MalformedRequest("empty body: post the raw message (RFC 5322) as message/rfc822")
        return self.read_mail(account, request.body)

    def read_mail(self, account: AccountInfo, raw: bytes,
                  envelope_recipients: Sequence[str] = ()) -> list[InboundEvent]:
        """One raw mail -> what the hub stores: one customer message, or nothing for our own mail coming
        back. Raises MailParseError (a ValueError) for what is not a mail."""
        try:
            parsed = parse_mail(raw, max_attachment_bytes=_int(account.config.get("max_attachment_bytes"),
                                                                 DEFAULT_MAX_ATTACHMENT_BYTES))
        except ValueError:
            raise
        except Exception as exc:
            # A parser bug must not become a 500 (webhook) or a dropped connection (SMTP): the sender is told
            # the message could not be read, and the log has the traceback.
            logger.exception("email account %s: parsing a message failed unexpectedly", account.id)
            raise MalformedRequest(f"the message could not be parsed ({type(exc).__name__})") from exc
        if not parsed.from_address:
            if parsed.is_auto_reply:
                # A bounce with no sender to record it under: answering it with an error would only bounce
                # back and forth.
                logger.info("email account %s: dropped an automatic message without a From address (%s)",
                            account.id, parsed.auto_reply_reason)
                return []
            raise MalformedRequest("the message has no From address")
        loop = self._loop_reason(account, parsed)
        if loop:
            logger.info("email account %s: dropped %s from %s as a mail loop (%s)", account.id,
                        parsed.message_id or "a message", parsed.from_address, loop)
            return []
        return [self._inbound(account, parsed, raw, envelope_recipients)]

    def _loop_reason(self, account: AccountInfo, parsed: ParsedMail) -> str:
        sender = parsed.from_address.lower()
        domain = outbound.reply_domain(account)
        if sender == account.address.strip().lower():
            return "sent from the account's own address"
        if tokens.token_of(sender, domain) is not None:
            return "sent from one of the account's reply addresses"
        if domain != outbound.domain_of(account.address) and outbound.domain_of(sender) == domain:
            return "sent from the reply domain"
        if outbound.is_hub_message_id(parsed.message_id) \
                and parsed.message_id.lower().endswith("@" + outbound.domain_of(account.address)):
            return "a message the hub itself sent"
        return ""

    def _hint(self, account: AccountInfo, recipients: Iterable[str]) -> int | None:
        domain = outbound.reply_domain(account)
        for address in dict.fromkeys(a.strip().lower() for a in recipients if a):
            token = tokens.token_of(address, domain)
            if token is None:
                continue
            conversation_id = tokens.verify_token(account.signing_key, token)
            if conversation_id is not None:
                return conversation_id
            logger.warning("email account %s: reply address %s has a token that does not verify (forged or "
                           "damaged); not threading by it", account.id, address)
        return None

    def _inbound(self, account: AccountInfo, parsed: ParsedMail, raw: bytes,
                 envelope_recipients: Sequence[str]) -> InboundMessage:
        metadata: dict[str, Any] = {}
        for key in ("full_text", "quoted_text", "signature"):
            value, cut = _bounded(getattr(parsed, key))
            if value:
                metadata[key] = value
            if cut:
                metadata[f"{key}_truncated"] = True
        if parsed.defects:
            metadata["defects"] = list(parsed.defects)
        if parsed.auto_reply_reason:
            metadata["auto_reply_reason"] = parsed.auto_reply_reason
        if parsed.skipped_attachments:
            metadata["attachments_not_stored"] = [dict(s) for s in parsed.skipped_attachments]
        if parsed.to:
            metadata["to"] = list(parsed.to)
        if parsed.cc:
            metadata["cc"] = list(parsed.cc)
        if parsed.reply_to and parsed.reply_to != parsed.from_address:
            metadata["reply_to"] = parsed.reply_to
        inline = {a.content_id: a.name for a in parsed.attachments if a.inline and a.content_id}
        if inline:
            metadata["inline_images"] = inline
        if not parsed.message_id:
            metadata["message_id_missing"] = True
        recipients = [*envelope_recipients, *parsed.to, *parsed.cc, *parsed.delivered_to]
        return InboundMessage(
            provider_message_id=provider_id(parsed, raw),
            sender=Sender(kind=self.identity_kind, address=parsed.from_address, display_name=parsed.from_name),
            # A mail that is only a quote or a signature (a bare forward, "see below") still shows something.
            text=parsed.text or parsed.full_text,
            html=parsed.html,
            subject=parsed.subject,
            thread_keys=tuple(dict.fromkeys(k for k in (*parsed.in_reply_to, *parsed.references) if k)),
            attachments=[InboundAttachment(name=a.name, content_type=a.content_type, data=a.data)
                         for a in parsed.attachments],
            is_auto_reply=parsed.is_auto_reply,
            sent_at=parsed.date,
            language=parsed.language_hint,
            metadata=metadata,
            conversation_hint=self._hint(account, recipients),
        )

    def listeners(self, hub: HubPort) -> Sequence[Listener]:
        """One SMTP listener for every email account, configured from the default account (HUB_SMTP_PORT,
        HUB_SMTP_HOST); port 0 turns it off."""
        default = hub.account(self.id, None)
        if default is None:
            return ()
        cfg = default.config
        port = _int(cfg.get("smtp_listen_port"), DEFAULT_SMTP_PORT)
        if port <= 0:
            return ()
        host = str(cfg.get("smtp_listen_host") or cfg.get("hub_host") or "127.0.0.1")
        return [SmtpListener(hub, self.read_mail, host=host, port=port,
                             max_bytes=_int(cfg.get("max_message_bytes"), DEFAULT_MAX_MESSAGE_BYTES),
                             server_name=outbound.domain_of(default.address) or "hub")]

    def poll(self, account: AccountInfo, hub: HubPort) -> int:
        if not account.config.get("imap_url"):
            return 0
        return poll_mailbox(account, hub, self.read_mail,
                            max_bytes=_int(account.config.get("max_message_bytes"), DEFAULT_MAX_MESSAGE_BYTES))

    # --- outbound -----------------------------------------------------------------------------------------

    def is_configured(self, account: AccountInfo) -> bool:
        try:
            outbound.parse_smtp_url(str(account.config.get("smtp_url") or ""))
        except ValueError:
            return False
        return True

    def send(self, account: AccountInfo, message: OutboundMessage) -> SendResult:
        try:
            server = outbound.parse_smtp_url(str(account.config.get("smtp_url") or ""))
        except ValueError as exc:
            raise TemporaryFailure(f"The outbound mail server is not configured: {exc}") from exc
        if outbound.answers_an_automatic_message(message.metadata):
            raise PermanentFailure("Not sent: this automatic message would answer an automatic one (an "
                                   "out-of-office reply or a bounce), which could start a mail loop.")
        mail, message_id = outbound.build_message(account, message)
        outbound.deliver(server, mail, account.address, [message.to.strip()])
        # The hub keeps this as the reply's provider id: a customer's In-Reply-To naming it threads back.
        return SendResult(provider_message_id=message_id)
