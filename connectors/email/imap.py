"""Polling an existing mailbox over IMAP (imapclient): new mail in, each one marked once the hub stored it.

A mail is marked with the keyword $HubImported only after `hub.deliver` committed it, so a mail the hub
could not store is fetched again by the next poll; the hub's idempotency on the Message-ID makes a second
delivery of a mail stored just before a crash harmless. Mail that can never be stored (over the size cap,
not a mail at all) is marked $HubSkipped instead and stays in the mailbox for a person to read. A server
that does not allow keywords gets \\Seen instead (and polls fetch UNSEEN mail).
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from connectors.base import AccountInfo, HubPort, InboundEvent, MalformedRequest

logger = logging.getLogger(__name__)

IMPORTED = b"$HubImported"
SKIPPED = b"$HubSkipped"
SEEN = b"\\Seen"
BATCH = 20
MAX_PER_POLL = 200  # the next poll takes the rest; one huge mailbox must not hold up the others
TIMEOUT_SECONDS = 30.0

ReadMail = Callable[[AccountInfo, bytes], Sequence[InboundEvent]]


@dataclass(frozen=True)
class Mailbox:
    host: str
    port: int
    tls: bool
    username: str
    password: str
    folder: str


def parse_imap_url(url: str) -> Mailbox:
    """imaps://user:password@host:port/FOLDER (imap:// without TLS); the folder defaults to INBOX."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("imap", "imaps") or not parts.hostname:
        raise ValueError("the mailbox URL must look like imaps://user:password@host:port/INBOX")
    tls = parts.scheme == "imaps"
    return Mailbox(host=parts.hostname, port=parts.port or (993 if tls else 143), tls=tls,
                   username=unquote(parts.username or ""), password=unquote(parts.password or ""),
                   folder=unquote(parts.path.lstrip("/")) or "INBOX")


def _keywords_allowed(selected: dict[bytes, Any]) -> bool:
    flags = selected.get(b"PERMANENTFLAGS") or ()
    return b"\\*" in flags or IMPORTED in flags


def poll_mailbox(account: AccountInfo, hub: HubPort, read_mail: ReadMail, *, max_bytes: int) -> int:
    """Fetch the mailbox's new mail into the hub. Returns how many mails the hub took."""
    url = str(account.config.get("imap_url") or "")
    if not url:
        return 0
    box = parse_imap_url(url)
    client = IMAPClient(box.host, port=box.port, ssl=box.tls, timeout=TIMEOUT_SECONDS,
                        ssl_context=ssl.create_default_context() if box.tls else None)
    try:
        client.login(box.username, box.password)
        keywords = _keywords_allowed(client.select_folder(box.folder))
        done_flag = IMPORTED if keywords else SEEN
        skip_flag = SKIPPED if keywords else SEEN
        criteria: list[Any] = ["NOT", "KEYWORD", IMPORTED, "NOT", "KEYWORD", SKIPPED] if keywords else ["UNSEEN"]
        uids = sorted(client.search(criteria))[:MAX_PER_POLL]
        handed = 0
        for start in range(0, len(uids), BATCH):
            chunk = uids[start:start + BATCH]
            sizes = client.fetch(chunk, ["RFC822.SIZE"])
            for uid in chunk:
                size = int(sizes.get(uid, {}).get(b"RFC822.SIZE", 0))
                if size > max_bytes:
                    logger.warning("mailbox %s of account %s: mail %s of %d bytes is over the %d bytes cap; "
                                   "left in the mailbox, marked %s", box.folder, account.id, uid, size, max_bytes,
                                   skip_flag.decode())
                    client.add_flags([uid], [skip_flag], silent=True)
                    continue
                # BODY.PEEK: fetching must not mark the mail read; only a stored mail gets marked.
                raw = client.fetch([uid], ["BODY.PEEK[]"]).get(uid, {}).get(b"BODY[]")
                if raw is None:
                    continue  # expunged by someone else meanwhile
                try:
                    events = read_mail(account, bytes(raw))
                except (ValueError, MalformedRequest) as exc:
                    logger.warning("mailbox %s of account %s: mail %s is not readable (%s); left in the "
                                   "mailbox, marked %s", box.folder, account.id, uid, exc, skip_flag.decode())
                    client.add_flags([uid], [skip_flag], silent=True)
                    continue
                if events:
                    try:
                        outcomes = hub.deliver(account, events)
                    except Exception:
                        # The database is away: stop here, everything not marked is fetched next time.
                        logger.exception("mailbox %s of account %s: the hub could not store mail %s; it stays "
                                         "unmarked for the next poll", box.folder, account.id, uid)
                        return handed
                    errors = [o.error for o in outcomes if o.error]
                    if errors:
                        logger.warning("mailbox %s of account %s: the hub refused mail %s (%s); it stays "
                                       "unmarked", box.folder, account.id, uid, "; ".join(errors))
                        continue
                    handed += 1
                client.add_flags([uid], [done_flag], silent=True)
        return handed
    except IMAPClientError as exc:
        raise ConnectionError(f"mailbox {box.host}:{box.port}/{box.folder}: {exc}") from exc
    finally:
        try:
            client.logout()
        except (IMAPClientError, OSError):
            with contextlib.suppress(IMAPClientError, OSError):
                client.shutdown()
