"""What the email tests share (no tests here): the fixture mails under tests/fixtures/email/, a mail builder,
and the SMTP double (a real aiosmtpd server standing in for the outbound mail server)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from django.test import Client

from tests.connectors.contract import WebhookCall, call

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "email"
TOKEN = "relay-7f3a9c2e51d84b06"
ADDRESS = "support@acme.test"
CUSTOMER = "li.wei@customer.test"
CUSTOMER_MESSAGE_ID = "5f2c1d9e-7a41-4b8e-9d0c-1e2f3a4b5c6d@customer.test"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mail(*, sender: str = CUSTOMER, to: str = ADDRESS, subject: str = "Question", text: str = "Hello there",
         message_id: str | None = "q-1@customer.test", name: str = "Li Wei", **headers: str) -> bytes:
    """A plain customer mail, as bytes on the wire."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = f"{name} <{sender}>" if name else sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Tue, 14 May 2024 09:21:07 +0800"
    if message_id:
        msg["Message-ID"] = f"<{message_id}>"
    for key, value in headers.items():
        msg[key.replace("_", "-")] = value
    msg.set_content(text)
    return msg.as_bytes()


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed


class SmtpDouble:
    """A real SMTP server (aiosmtpd) standing in for the outbound mail server: records every mail it was
    given, and answers the next ones with a queued failure (451 deferred, 550 refused) when told to."""

    def __init__(self, *, login: tuple[str, str] | None = None) -> None:
        self.received: list[ReceivedMail] = []
        self.answers: list[str] = []
        self.refuse_rcpt: str = ""
        self.port = free_port()
        kwargs: dict[str, Any] = {}
        if login is not None:
            def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
                ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == login
                return AuthResult(success=ok, handled=False)

            kwargs = {"authenticator": authenticator, "auth_require_tls": False, "auth_required": True}
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()
        self.url = f"smtp://127.0.0.1:{self.port}"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if self.refuse_rcpt:
            answer, self.refuse_rcpt = self.refuse_rcpt, ""
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos),
                                          bytes(envelope.original_content)))
        if self.answers:
            return self.answers.pop(0)
        return "250 2.0.0 Ok: queued as 4VfK2x0Qz3z9rt"

    # ProviderDouble
    def sent(self) -> list[ReceivedMail]:
        return list(self.received)

    def fail_temporarily(self) -> None:
        self.answers.append("451 4.3.0 Mailbox temporarily unavailable, try again later")

    def fail_permanently(self) -> None:
        self.answers.append("550 5.1.1 <li.wei@customer.test>: Recipient address rejected: User unknown")

    def close(self) -> None:
        self.controller.stop()


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post_mail(client: Client, body: bytes, *, account: str = ADDRESS, token: str | None = TOKEN,
              content_type: str = "message/rfc822") -> Any:
    headers = bearer(token) if token is not None else {}
    return call(client, WebhookCall(f"/webhooks/email/{account}", body, headers, content_type))
