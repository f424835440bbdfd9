"""Replies by mail: the message a customer's mail client threads under their own, handed to an SMTP server.

Threading headers: In-Reply-To names the customer's latest mail, References the conversation's ids, and
Reply-To a per-conversation signed address (connectors/email/tokens.py) for clients that drop both.
Every header value is checked for line breaks first: an address or subject carrying CR/LF would let its
author add headers or recipients, so such a message fails permanently and nothing is sent.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import mimetypes
import re
import smtplib
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from connectors.base import AccountInfo, OutboundMessage, PermanentFailure, TemporaryFailure
from connectors.email import tokens

logger = logging.getLogger(__name__)

DEFAULT_FROM_NAME = "Support"
TIMEOUT_SECONDS = 30.0
MAX_REFERENCES = 20
# The Message-IDs the hub generates start with this, so they are told apart from customers' ones.
HUB_ID_PREFIX = "hub."

# Line separators a header value must not contain (CR and LF, and what str.splitlines also breaks on).
_LINE_BREAK = re.compile(r"[\r\n\x00\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_MSG_ID = re.compile(r"^[^\s<>@]+@[^\s<>@]+$")
_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|antw|vs|回复|答复)\s*[:\uff1a]", re.IGNORECASE)


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str
    password: str


def parse_smtp_url(url: str) -> SmtpServer:
    """smtp://user:password@host:port (?starttls=1 to upgrade), smtps:// for TLS from the first byte."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("the outbound mail server URL must look like smtp://user:password@host:port")
    query = {k.lower(): v[-1] for k, v in parse_qs(parts.query).items()}
    implicit = parts.scheme == "smtps"
    return SmtpServer(
        host=parts.hostname,
        port=parts.port or (465 if implicit else 25),
        implicit_tls=implicit,
        starttls=not implicit and query.get("starttls", "").lower() in ("1", "true", "yes", "on"),
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().lower()


def reply_domain(account: AccountInfo) -> str:
    return str(account.config.get("reply_domain") or "").strip().lower() or domain_of(account.address)


def is_hub_message_id(message_id: str) -> bool:
    return message_id.startswith(HUB_ID_PREFIX)


def make_message_id(account: AccountInfo, message: OutboundMessage) -> str:
    """Stable across retries of one message (a mail that went through before a dropped connection and is
    sent again carries the same id, and clients show it once); bare, without <>."""
    seed = f"{message.conversation_id}:{message.message_id}:{message.to}:{message.text}".encode()
    mac = hmac.new(account.signing_key or b"hub", seed, hashlib.sha256).hexdigest()[:12]
    return f"{HUB_ID_PREFIX}{message.conversation_id}.{message.message_id}.{mac}@{domain_of(account.address)}"


def reply_subject(subject: str) -> str:
    subject = " ".join(subject.split())
    if not subject:
        return "Re: your message"
    return subject if _REPLY_PREFIX.match(subject) else f"Re: {subject}"


def _check_header(name: str, value: str) -> str:
    if _LINE_BREAK.search(value):
        raise PermanentFailure(f"The {name} contains a line break, which is not allowed in a mail header "
                               "(it could add headers or recipients): nothing was sent.")
    return value


def _mailbox(name: str, address: str, what: str) -> Address:
    _check_header(f"{what} address", address)
    _check_header(f"{what} name", name)
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain or any(c in address for c in " ,;<>()\"\\"):
        raise PermanentFailure(f"The {what} address {address!r} is not a valid email address.")
    try:
        return Address(display_name=name, username=local, domain=domain)
    except (ValueError, IndexError) as exc:
        raise PermanentFailure(f"The {what} address {address!r} is not a valid email address.") from exc


def _message_id(value: str) -> str:
    bare = value.strip().strip("<>")
    return bare if _MSG_ID.match(bare) and len(bare) <= 250 else ""


def threading_ids(thread_keys: Iterable[str], latest: str = "") -> tuple[str, list[str]]:
    """(In-Reply-To, References) from the conversation's keys, oldest first. In-Reply-To is the customer's
    latest mail: `latest` when the hub named it, else the last key the hub did not generate. Keys that are
    not message ids (a hash standing in for a missing Message-ID) are left out."""
    ids = [k for k in dict.fromkeys(_message_id(k) for k in thread_keys if k) if k]
    latest = _message_id(latest)
    if not ids and not latest:
        return "", []
    customer = [k for k in ids if not is_hub_message_id(k)]
    in_reply_to = latest or (customer[-1] if customer else ids[-1])
    # Keep the first (the thread's root, which clients thread on) and the newest ones.
    references = ids if len(ids) <= MAX_REFERENCES else [ids[0], *ids[-(MAX_REFERENCES - 1):]]
    if in_reply_to not in references:
        references.append(in_reply_to)
    return in_reply_to, references


def latest_customer_message(metadata: Mapping[str, Any]) -> Mapping[str, Any]:
    """The hub's note on the customer's latest message (hub/delivery.py's reply context), or {}."""
    latest = metadata.get("reply_to")
    return latest if isinstance(latest, Mapping) else {}


def build_message(account: AccountInfo, message: OutboundMessage, *, now: datetime | None = None
                  ) -> tuple[EmailMessage, str]:
    """The reply as a mail, and its Message-ID (bare). Raises PermanentFailure for what cannot be sent."""
    from_name = str(account.config.get("from_name") or DEFAULT_FROM_NAME)
    sender = _mailbox(from_name, account.address, "sender")
    recipient = _mailbox("", message.to, "recipient")
    subject = reply_subject(_check_header("subject", message.subject))
    message_id = make_message_id(account, message)
    latest = latest_customer_message(message.metadata)
    in_reply_to, references = threading_ids(message.thread_keys, str(latest.get("provider_message_id") or ""))

    mail = EmailMessage(policy=SMTP)
    mail["From"] = sender
    mail["To"] = recipient
    mail["Subject"] = subject
    mail["Date"] = format_datetime(now or datetime.now(UTC))
    mail["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        mail["In-Reply-To"] = f"<{in_reply_to}>"
        mail["References"] = " ".join(f"<{r}>" for r in references)
    domain = reply_domain(account)
    if account.signing_key and message.conversation_id and domain:
        address = tokens.reply_address(account.signing_key, message.conversation_id, domain)
        mail["Reply-To"] = _mailbox(from_name, address, "reply")
    if _is_automatic(message.metadata):
        # RFC 3834: other systems must not answer an automatic message (no out-of-office ping-pong).
        mail["Auto-Submitted"] = "auto-replied"
        mail["X-Auto-Response-Suppress"] = "All"
    mail.set_content(message.text or "")
    if message.html:
        mail.add_alternative(message.html, subtype="html")
    for attachment in message.attachments:
        name = _check_header("attachment name", attachment.name or "attachment")
        content_type = attachment.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        maintype, _, subtype = content_type.partition("/")
        if not maintype or not subtype or _LINE_BREAK.search(content_type):
            maintype, subtype = "application", "octet-stream"
        try:
            with open(attachment.path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError as exc:
            raise PermanentFailure(f"The attachment {name!r} is missing from the hub's storage.") from exc
        except OSError as exc:
            raise TemporaryFailure(f"The attachment {name!r} could not be read: {exc}") from exc
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return mail, message_id


def _is_automatic(metadata: Mapping[str, Any]) -> bool:
    return bool(metadata.get("auto_reply"))


def answers_an_automatic_message(metadata: Mapping[str, Any]) -> bool:
    """An automatic message (out-of-hours answer) whose customer message was itself automatic (an
    out-of-office, a bounce): RFC 3834 says not to send it, or two robots talk forever."""
    if not _is_automatic(metadata):
        return False
    latest = latest_customer_message(metadata).get("metadata")
    return isinstance(latest, Mapping) and bool(latest.get("auto_reply"))


def _failure(code: int, text: bytes | str, what: str) -> Exception:
    reason = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    reason = " ".join(reason.split())[:300]
    if 400 <= code < 500:
        return TemporaryFailure(f"The mail server deferred the message ({what}): {code} {reason}")
    return PermanentFailure(f"The mail server refused the message ({what}): {code} {reason}")


def deliver(server: SmtpServer, mail: EmailMessage, envelope_from: str, recipients: Sequence[str]) -> None:
    """Hand `mail` to the SMTP server. 4xx and connection trouble: TemporaryFailure; 5xx: PermanentFailure
    with the server's own words."""
    client: smtplib.SMTP | None = None
    try:
        context = ssl.create_default_context()
        if server.implicit_tls:
            client = smtplib.SMTP_SSL(server.host, server.port, timeout=TIMEOUT_SECONDS, context=context)
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=TIMEOUT_SECONDS)
        client.ehlo_or_helo_if_needed()
        if server.starttls:
            client.starttls(context=context)
            client.ehlo()
        if server.username:
            client.login(server.username, server.password)
        refused = client.send_message(mail, from_addr=envelope_from, to_addrs=list(recipients))
        if refused:  # only some recipients refused; we send to one, so this is defensive
            code, text = next(iter(refused.values()))
            raise _failure(code, text, "recipient")
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()), (550, b"recipient refused"))
        raise _failure(code, text, "recipient") from exc
    except smtplib.SMTPSenderRefused as exc:
        raise _failure(exc.smtp_code, exc.smtp_error, "sender") from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise _failure(exc.smtp_code, exc.smtp_error, "login") from exc
    except smtplib.SMTPResponseException as exc:
        raise _failure(exc.smtp_code, exc.smtp_error, "SMTP") from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise PermanentFailure(f"The mail server does not support what this message needs: {exc}") from exc
    except (TimeoutError, smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise TemporaryFailure(f"The mail server {server.host}:{server.port} could not be reached: "
                               f"{exc or type(exc).__name__}") from exc
    finally:
        if client is not None:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
