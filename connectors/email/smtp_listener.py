"""The SMTP server `hub up` runs for inbound mail (aiosmtpd): the MX, or a relay, hands mail straight in.

It accepts a recipient only when it is an email account's address or a reply address at an account's reply
domain (550 otherwise), caps the size (SIZE is advertised; 552 over it), and answers the end of DATA with 250
only after the hub committed the message: 451 when the hub could not store it, so the sending server
retries, 5xx when retrying cannot help (a message that is not a mail, one the hub refuses).
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiosmtpd.controller import Controller

from connectors.base import AccountInfo, HubPort, InboundEvent, MalformedRequest
from connectors.email import tokens
from connectors.email.outbound import reply_domain

logger = logging.getLogger(__name__)

MAX_RECIPIENTS = 50
CHANNEL = "email"

# (account, raw mail, the envelope recipients for that account) -> what to hand the hub.
ReadMail = Callable[[AccountInfo, bytes, Sequence[str]], Sequence[InboundEvent]]

TEMPORARY = "451 4.3.0 The message could not be stored right now, please try again later"


def route_recipient(accounts: Sequence[AccountInfo], address: str) -> AccountInfo | None:
    """The account a recipient belongs to: its own address, or a reply address at its reply domain (the
    account whose key verifies the token; with a forged token, the domain's account, so that the mail is
    still received, only not threaded)."""
    wanted = address.strip().lower()
    for account in accounts:
        if account.address.strip().lower() == wanted:
            return account
    candidates = [a for a in accounts if tokens.token_of(wanted, reply_domain(a)) is not None]
    for account in candidates:
        token = tokens.token_of(wanted, reply_domain(account))
        if token is not None and tokens.verify_token(account.signing_key, token) is not None:
            return account
    candidates.sort(key=lambda a: (not a.is_default, a.id))
    return candidates[0] if candidates else None


def _one_line(text: str, limit: int = 200) -> str:
    flat = re.sub(r"[^\x20-\x7e]+", " ", text).strip()
    return flat[:limit] or "unreadable"


class InboundMailHandler:
    """aiosmtpd handler hooks. The hub's storage is synchronous (the ORM): it runs on `executor`."""

    def __init__(self, hub: HubPort, read_mail: ReadMail, executor: ThreadPoolExecutor) -> None:
        self.hub = hub
        self.read_mail = read_mail
        self.executor = executor

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        loop = asyncio.get_running_loop()
        try:
            account = await loop.run_in_executor(self.executor, self._route, address)
        except Exception:
            logger.exception("SMTP: could not look up the recipient %r", address)
            return TEMPORARY
        if account is None:
            logger.info("SMTP: recipient %r refused: no such account", address)
            return f"550 5.1.1 <{_one_line(address)}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or b""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.executor, self._store, bytes(raw), list(envelope.rcpt_tos))
        except Exception:
            logger.exception("SMTP: storing a message failed")
            return TEMPORARY

    def _route(self, address: str) -> AccountInfo | None:
        return route_recipient(self.hub.accounts(CHANNEL), address)

    def _store(self, raw: bytes, recipients: list[str]) -> str:
        accounts = self.hub.accounts(CHANNEL)
        groups: dict[int, tuple[AccountInfo, list[str]]] = {}
        for address in recipients:
            account = route_recipient(accounts, address)
            if account is not None:
                groups.setdefault(account.id, (account, []))[1].append(address)
        if not groups:
            return "550 5.1.1 No such mailbox here"
        stored = 0
        for account, addresses in groups.values():
            try:
                events = self.read_mail(account, raw, addresses)
            except (ValueError, MalformedRequest) as exc:
                logger.info("SMTP: message for account %s refused, not readable: %s", account.id, exc)
                return f"554 5.6.0 Message not readable: {_one_line(str(exc))}"
            if not events:
                continue  # a loop of our own mail: acknowledged, nothing stored (logged by read_mail)
            try:
                outcomes = self.hub.deliver(account, events)
            except Exception:
                logger.exception("SMTP: the hub could not store a message for account %s; answering 451",
                                 account.id)
                return TEMPORARY
            errors = [o.error for o in outcomes if o.error]
            if errors:
                return f"550 5.7.1 Refused: {_one_line('; '.join(errors))}"
            stored += sum(1 for o in outcomes if o.stored)
        logger.info("SMTP: message for %s accepted (%d stored)", ", ".join(recipients), stored)
        return "250 2.0.0 OK: message stored"


class _Controller(Controller):
    """aiosmtpd's threaded controller, also on port 0 (tests): the bound port is read back before the
    controller's self-check connects to it."""

    def _trigger_server(self) -> None:
        sockets = getattr(self.server, "sockets", None)
        if self.port == 0 and sockets:
            self.port = sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpListener:
    """A `connectors.base.Listener`: start() binds and serves in a thread, stop() ends both."""

    def __init__(self, hub: HubPort, read_mail: ReadMail, *, host: str, port: int, max_bytes: int,
                 server_name: str = "hub") -> None:
        self.hub = hub
        self.read_mail = read_mail
        self.host = host
        self.port = port
        self.max_bytes = max_bytes
        self.server_name = server_name
        self._controller: _Controller | None = None
        self._executor: ThreadPoolExecutor | None = None

    def __str__(self) -> str:
        return f"SMTP listener for inbound mail on {self.host or '*'}:{self.port}"

    def _check_port_free(self) -> None:
        """aiosmtpd reports a failed bind only after its ready timeout; a probe says it at once."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((self.host.strip("[]"), self.port))
            except OSError as exc:
                raise OSError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc} "
                              "(choose another port with HUB_SMTP_PORT; 0 turns the listener off)") from exc

    def start(self) -> None:
        if self.port:
            self._check_port_free()
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="smtp-in")
        handler = InboundMailHandler(self.hub, self.read_mail, self._executor)
        controller = _Controller(handler, hostname=self.host or None, port=self.port,
                                 server_hostname=self.server_name, ident="Hub ESMTP",
                                 data_size_limit=self.max_bytes)
        try:
            controller.start()
        except BaseException as exc:
            self._executor.shutdown(wait=False)
            self._executor = None
            if isinstance(exc, OSError):
                raise OSError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc} "
                              "(choose another port with HUB_SMTP_PORT; 0 turns the listener off)") from exc
            raise
        self._controller = controller
        self.port = controller.port
        logger.info("SMTP listener on %s:%d (messages up to %d bytes)", self.host, self.port, self.max_bytes)

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
