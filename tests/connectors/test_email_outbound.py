"""Replies by mail, without the hub around them: the message the connector builds (threading headers, reply
address, no header injection) and how SMTP answers become temporary or permanent failures. Also the signed
reply-address tokens."""

# Chinese text is written with full-width punctuation, which RUF001 takes for look-alikes of ASCII.

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.base import (
    AccountInfo,
    OutboundAttachment,
    OutboundMessage,
    PermanentFailure,
    TemporaryFailure,
)
from connectors.email import tokens
from connectors.email.connector import EmailConnector
from connectors.email.outbound import build_message, parse_smtp_url, reply_subject, threading_ids
from tests.connectors.test_email_support import ADDRESS, CUSTOMER, SmtpDouble, free_port

KEY = b"k" * 32


@pytest.fixture
def outbox() -> Iterator[SmtpDouble]:
    double = SmtpDouble()
    yield double
    double.close()


def account(smtp_url: str = "", **config: str) -> AccountInfo:
    return AccountInfo(id=3, channel="email", address=ADDRESS, config={"smtp_url": smtp_url, **config},
                       signing_key=KEY, public_url="https://hub.acme.test")


def reply(text: str = "We are on it.", **kw: object) -> OutboundMessage:
    values: dict[str, object] = {"message_id": 71, "conversation_id": 1042, "to": CUSTOMER, "text": text,
                                 "subject": "Order 1042", "thread_keys": ("first@customer.test",)}
    values.update(kw)
    return OutboundMessage(**values)  # type: ignore[arg-type]


def test_the_reply_threads_under_the_customers_mail() -> None:
    keys = ("first@customer.test", "hub.1042.70.abc@acme.test", "second@customer.test", "sha256:" + "0" * 64)
    mail, message_id = build_message(account(), reply(thread_keys=keys))
    assert mail["Message-ID"] == f"<{message_id}>" and message_id.endswith("@acme.test")
    assert message_id.startswith("hub.1042.71.")
    # The customer's latest mail, not our own earlier reply, and no hash standing in for a Message-ID.
    assert mail["In-Reply-To"] == "<second@customer.test>"
    assert mail["References"] == "<first@customer.test> <hub.1042.70.abc@acme.test> <second@customer.test>"
    assert mail["Reply-To"].addresses[0].addr_spec == tokens.reply_address(KEY, 1042, "acme.test")
    assert mail["From"].addresses[0].display_name == "Support"
    assert mail["Subject"] == "Re: Order 1042"
    assert mail["Date"]
    assert "Auto-Submitted" not in mail


def test_in_reply_to_is_the_customers_latest_mail_the_hub_names() -> None:
    keys = ("first@customer.test", "second@customer.test", "third@customer.test")
    context = {"reply_to": {"provider_message_id": "second@customer.test", "is_public": False, "metadata": {}}}
    mail, _ = build_message(account(), reply(thread_keys=keys, metadata=context))
    assert mail["In-Reply-To"] == "<second@customer.test>"
    assert mail["References"] == "<first@customer.test> <second@customer.test> <third@customer.test>"
    # A mail that had no Message-ID is known by a hash: the heuristic takes over.
    context["reply_to"]["provider_message_id"] = "sha256:" + "0" * 64
    mail, _ = build_message(account(), reply(thread_keys=keys, metadata=context))
    assert mail["In-Reply-To"] == "<third@customer.test>"


def test_an_automatic_answer_to_an_automatic_mail_is_never_sent(outbox: SmtpDouble) -> None:
    ooo = {"auto_reply": True, "reply_to": {"provider_message_id": "ooo@customer.test", "is_public": False,
                                            "metadata": {"auto_reply": True}}}
    with pytest.raises(PermanentFailure, match="automatic"):
        EmailConnector().send(account(outbox.url), reply(metadata=ooo))
    assert outbox.sent() == []
    # An agent may still answer an out-of-office note by hand.
    EmailConnector().send(account(outbox.url), reply(metadata={**ooo, "auto_reply": False}))
    assert len(outbox.sent()) == 1


def test_the_message_id_is_the_same_on_every_retry() -> None:
    assert build_message(account(), reply())[1] == build_message(account(), reply())[1]
    assert build_message(account(), reply())[1] != build_message(account(), reply(message_id=72))[1]


def test_long_threads_keep_the_root_and_the_newest_references() -> None:
    keys = [f"m{i}@customer.test" for i in range(40)]
    in_reply_to, references = threading_ids(keys)
    assert in_reply_to == "m39@customer.test"
    assert references[0] == "m0@customer.test" and references[-1] == "m39@customer.test"
    assert len(references) == 20
    assert threading_ids([]) == ("", [])
    assert threading_ids(["not an id", "sha256:abc"]) == ("", [])


def test_no_reply_address_without_a_reply_domain_or_key() -> None:
    info = AccountInfo(id=3, channel="email", address=ADDRESS, config={}, signing_key=b"")
    mail, _ = build_message(info, reply())
    assert "Reply-To" not in mail
    mail, _ = build_message(account(reply_domain="reply.acme.test", from_name="Acme 客服"), reply())
    assert mail["Reply-To"].addresses[0].domain == "reply.acme.test"
    assert mail["From"].addresses[0].display_name == "Acme 客服"


@pytest.mark.parametrize(("subject", "expected"), [
    ("Order 1042", "Re: Order 1042"), ("Re: Order 1042", "Re: Order 1042"), ("RE: Order", "RE: Order"),
    ("re:Order", "re:Order"), ("AW: Bestellung", "AW: Bestellung"), ("回复：订单", "回复：订单"),
    ("  spaced   out ", "Re: spaced out"), ("", "Re: your message"), ("Regarding", "Re: Regarding"),
])
def test_subjects_get_one_re(subject: str, expected: str) -> None:
    assert reply_subject(subject) == expected


def test_automatic_messages_say_so_rfc_3834() -> None:
    mail, _ = build_message(account(), reply(metadata={"auto_reply": True}))
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["X-Auto-Response-Suppress"] == "All"


def test_html_and_attachments(tmp_path: Path) -> None:
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(b"%PDF-1.4 fake")
    attachment = OutboundAttachment(name="发票 invoice.pdf", content_type="application/pdf", path=str(pdf), size=13)
    mail, _ = build_message(account(), reply(html="<p>We are <b>on it</b>.</p>", attachments=[attachment]))
    assert mail.get_content_type() == "multipart/mixed"
    assert mail.get_body(("html",)).get_content().strip() == "<p>We are <b>on it</b>.</p>"  # type: ignore[union-attr]
    assert mail.get_body(("plain",)).get_content().strip() == "We are on it."  # type: ignore[union-attr]
    (part,) = list(mail.iter_attachments())
    assert part.get_filename() == "发票 invoice.pdf" and part.get_content() == b"%PDF-1.4 fake"


def test_a_missing_attachment_file_fails_permanently(tmp_path: Path) -> None:
    gone = OutboundAttachment(name="a.txt", content_type="text/plain", path=str(tmp_path / "gone"), size=1)
    with pytest.raises(PermanentFailure, match="missing"):
        build_message(account(), reply(attachments=[gone]))


@pytest.mark.parametrize(("field", "value"), [
    ("to", "li.wei@customer.test\r\nBcc: everyone@victim.test"),
    ("to", "li.wei@customer.test\nX-Injected: 1"),
    ("subject", "Order 1042\r\nBcc: everyone@victim.test"),
    ("subject", "Order\u2028X-Injected: 1"),
])
def test_line_breaks_in_headers_fail_permanently_and_nothing_is_sent(outbox: SmtpDouble, field: str,
                                                                     value: str) -> None:
    with pytest.raises(PermanentFailure, match="line break"):
        EmailConnector().send(account(outbox.url), reply(**{field: value}))
    assert outbox.sent() == []


@pytest.mark.parametrize("config", [{"from_name": "Support\r\nBcc: x@victim.test"}, {"reply_domain": "a.test\r\nX: 1"}])
def test_line_breaks_in_the_accounts_settings_fail_too(outbox: SmtpDouble, config: dict[str, str]) -> None:
    with pytest.raises(PermanentFailure, match="line break"):
        EmailConnector().send(account(outbox.url, **config), reply())
    assert outbox.sent() == []


@pytest.mark.parametrize("to", ["a@x.test, b@y.test", "not-an-address", "", "a b@x.test", "<a@x.test>"])
def test_a_recipient_that_is_not_one_address_fails_permanently(outbox: SmtpDouble, to: str) -> None:
    with pytest.raises(PermanentFailure, match="not a valid email address"):
        EmailConnector().send(account(outbox.url), reply(to=to))
    assert outbox.sent() == []


def test_send_hands_the_mail_to_the_server_and_returns_the_bare_message_id(outbox: SmtpDouble) -> None:
    result = EmailConnector().send(account(outbox.url), reply(text="Thanks, 谢谢!"))
    (received,) = outbox.sent()
    assert received.mail_from == ADDRESS and received.rcpt_tos == [CUSTOMER]
    assert received.message()["Message-ID"] == f"<{result.provider_message_id}>"
    assert "<" not in result.provider_message_id and result.status == "sent"
    assert received.message().get_body(("plain",)).get_content().strip() == "Thanks, 谢谢!"  # type: ignore[union-attr]


def test_smtp_errors_become_temporary_or_permanent_failures(outbox: SmtpDouble) -> None:
    outbox.fail_temporarily()
    with pytest.raises(TemporaryFailure, match="451"):
        EmailConnector().send(account(outbox.url), reply())
    outbox.fail_permanently()
    with pytest.raises(PermanentFailure, match=r"550 5\.1\.1 .*User unknown"):
        EmailConnector().send(account(outbox.url), reply())
    outbox.refuse_rcpt = "550 5.7.1 Relaying denied"
    with pytest.raises(PermanentFailure, match="Relaying denied"):
        EmailConnector().send(account(outbox.url), reply())
    outbox.refuse_rcpt = "452 4.2.2 Mailbox full"
    with pytest.raises(TemporaryFailure, match="Mailbox full"):
        EmailConnector().send(account(outbox.url), reply())


def test_an_unreachable_server_is_a_temporary_failure() -> None:
    with pytest.raises(TemporaryFailure, match="could not be reached"):
        EmailConnector().send(account(f"smtp://127.0.0.1:{free_port()}"), reply())


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_login_with_the_urls_credentials() -> None:
    double = SmtpDouble(login=("mailer@acme.test", "p@ss word"))
    try:
        url = f"smtp://mailer%40acme.test:p%40ss%20word@127.0.0.1:{double.port}"
        EmailConnector().send(account(url), reply())
        assert len(double.sent()) == 1
        with pytest.raises(PermanentFailure, match="login"):
            EmailConnector().send(account(url.replace("word@", "wrong@")), reply())
    finally:
        double.close()


def test_smtp_urls_and_what_counts_as_configured() -> None:
    server = parse_smtp_url("smtps://u%40x:p%3Aw@mail.acme.test")
    assert (server.host, server.port, server.implicit_tls, server.starttls, server.username, server.password) == (
        "mail.acme.test", 465, True, False, "u@x", "p:w")
    server = parse_smtp_url("smtp://mail.acme.test:587?starttls=1")
    assert (server.port, server.implicit_tls, server.starttls, server.username) == (587, False, True, "")
    assert parse_smtp_url("smtp://mail.acme.test").port == 25
    connector = EmailConnector()
    assert connector.is_configured(account("smtp://mail.acme.test"))
    for url in ("", "http://mail.acme.test", "smtp://", "mail.acme.test:25"):
        assert not connector.is_configured(account(url))


def test_tokens_round_trip_and_refuse_forgeries() -> None:
    token = tokens.make_token(KEY, 1042)
    assert tokens.verify_token(KEY, token) == 1042
    assert tokens.verify_token(KEY, token.upper()) == 1042  # servers that change the case of local parts
    assert tokens.verify_token(b"another key", token) is None
    forged = token.replace("1042-", "1043-")
    assert tokens.verify_token(KEY, forged) is None
    for junk in ("", "1042", "1042-", "x-abcdefghijklmnop", "1042-abcdefghijklmno!", "9" * 40 + "-" + "a" * 16):
        assert tokens.verify_token(KEY, junk) is None
    address = tokens.reply_address(KEY, 7, "acme.test")
    assert tokens.token_of(address, "acme.test") == tokens.make_token(KEY, 7)
    assert tokens.token_of(address, "other.test") is None
    assert tokens.token_of(ADDRESS, "acme.test") is None
    with pytest.raises(ValueError, match="signing key"):
        tokens.make_token(b"", 7)
