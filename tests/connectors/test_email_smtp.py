"""Inbound mail through the SMTP listener `hub up` runs (a real aiosmtpd server on a free port, spoken to with
smtplib), and the whole round trip: mail in, agent reply out through a local SMTP server, the customer's
answer back into the same conversation by its headers or by the signed reply address."""

# Chinese text is written with full-width punctuation, which RUF001 takes for look-alikes of ASCII.

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import OperationalError
from django.utils import timezone

from connectors import registry
from connectors.base import AccountInfo, Connector, OutboundMessage, SendResult
from connectors.email import tokens
from connectors.email.connector import EmailConnector
from connectors.email.smtp_listener import SmtpListener
from hub.actions.outbound import do_send_reply
from hub.cli.up import start_listeners, stop_listeners
from hub.connector_port import DatabaseHubPort, account_info
from hub.models import ChannelAccount, Conversation, Message, RoutingQueue
from tests import factories as f
from tests.connectors.contract import inbound_count
from tests.connectors.test_email_support import (
    ADDRESS,
    CUSTOMER,
    CUSTOMER_MESSAGE_ID,
    SmtpDouble,
    fixture,
    free_port,
    mail,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def outbox() -> Iterator[SmtpDouble]:
    double = SmtpDouble()
    yield double
    double.close()


@pytest.fixture
def support(outbox: SmtpDouble) -> ChannelAccount:
    return ChannelAccount.objects.create(channel="email", name="Support", address=ADDRESS,
                                         config={"smtp_url": outbox.url})


def connector() -> EmailConnector:
    found = registry.get("email")
    assert isinstance(found, EmailConnector)
    return found


@pytest.fixture
def listener(support: ChannelAccount) -> Iterator[SmtpListener]:
    server = SmtpListener(DatabaseHubPort(), connector().read_mail, host="127.0.0.1", port=0, max_bytes=300_000,
                          server_name="acme.test")
    server.start()
    yield server
    server.stop()


def send(listener: SmtpListener, body: bytes, to: list[str] | None = None, sender: str = CUSTOMER) -> Any:
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as client:
        return client.sendmail(sender, to or [ADDRESS], body)


def test_mail_in_is_a_conversation_and_the_reply_threads_both_ways(listener: SmtpListener, outbox: SmtpDouble,
                                                                   support: ChannelAccount) -> None:
    assert send(listener, fixture("transport-customer.eml")) == {}
    inbound = Message.objects.get()
    conversation = inbound.conversation
    assert inbound.provider_message_id == CUSTOMER_MESSAGE_ID and inbound.channel_account_id == support.pk

    reply = do_send_reply(f.agent(), conversation, "It left our warehouse today.")
    reply.refresh_from_db()
    assert reply.status == Message.Status.SENT, reply.failure_reason
    sent = outbox.sent()[0].message()
    assert sent["Message-ID"] == f"<{reply.provider_message_id}>"
    assert sent["In-Reply-To"] == f"<{CUSTOMER_MESSAGE_ID}>"
    assert sent["References"] == f"<{CUSTOMER_MESSAGE_ID}>"
    reply_to = sent["Reply-To"].addresses[0].addr_spec
    assert reply_to == tokens.reply_address(account_info(support).signing_key, conversation.pk, "acme.test")
    assert sent["From"].addresses[0].display_name == "Support"

    # The customer answers the reply: In-Reply-To names our Message-ID.
    answer = mail(message_id="answer-1@customer.test", subject="Re: Order 1042 has not arrived",
                  text="Great, thanks!", In_Reply_To=sent["Message-ID"],
                  References=f"<{CUSTOMER_MESSAGE_ID}> {sent['Message-ID']}")
    send(listener, answer, to=[reply_to])
    assert Message.objects.get(provider_message_id="answer-1@customer.test").conversation_id == conversation.pk
    assert Conversation.objects.count() == 1


def _two_conversations(listener: SmtpListener, support: ChannelAccount) -> tuple[Conversation, Conversation]:
    """The customer's first conversation waits on them (pending); a newer one is open, which is where a mail
    without any reference would go."""
    send(listener, fixture("transport-customer.eml"))
    first = Message.objects.get().conversation
    Conversation.objects.filter(pk=first.pk).update(status=Conversation.Status.RESOLVED,
                                                    resolved_at=timezone.now() - timedelta(days=60))
    send(listener, mail(message_id="new-topic@customer.test", subject="Another question"))
    second = Conversation.objects.exclude(pk=first.pk).get()
    Conversation.objects.filter(pk=first.pk).update(status=Conversation.Status.PENDING)
    return first, second


def test_a_reply_to_the_signed_address_without_headers_finds_its_conversation(listener: SmtpListener,
                                                                             support: ChannelAccount) -> None:
    first, second = _two_conversations(listener, support)
    address = tokens.reply_address(account_info(support).signing_key, first.pk, "acme.test")
    # Some clients drop In-Reply-To and References, and the subject was changed too.
    send(listener, mail(message_id="bare-1@customer.test", subject="my answer", to=address), to=[address])
    assert Message.objects.get(provider_message_id="bare-1@customer.test").conversation_id == first.pk
    # Without the reply address the newest open conversation continues.
    send(listener, mail(message_id="bare-2@customer.test", subject="my answer"))
    assert Message.objects.get(provider_message_id="bare-2@customer.test").conversation_id == second.pk


def test_the_reply_address_in_cc_or_delivered_to_counts_too(listener: SmtpListener,
                                                           support: ChannelAccount) -> None:
    first, _ = _two_conversations(listener, support)
    address = tokens.reply_address(account_info(support).signing_key, first.pk, "acme.test")
    send(listener, mail(message_id="cc-1@customer.test", Cc=address.upper()))
    assert Message.objects.get(provider_message_id="cc-1@customer.test").conversation_id == first.pk


def test_a_forged_token_is_received_but_never_threads(listener: SmtpListener, support: ChannelAccount,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    first, second = _two_conversations(listener, support)
    forged = f"reply+{first.pk}-aaaaaaaaaaaaaaaa@acme.test"
    other_key = tokens.reply_address(b"someone else's key", first.pk, "acme.test")
    send(listener, mail(message_id="forged-1@customer.test", to=forged), to=[forged])
    send(listener, mail(message_id="forged-2@customer.test", to=other_key), to=[other_key])
    for pid in ("forged-1@customer.test", "forged-2@customer.test"):
        assert Message.objects.get(provider_message_id=pid).conversation_id == second.pk
    assert "does not verify" in caplog.text


def test_a_valid_token_never_moves_a_strangers_mail_into_the_conversation(listener: SmtpListener,
                                                                          support: ChannelAccount) -> None:
    send(listener, fixture("transport-customer.eml"))
    conversation = Message.objects.get().conversation
    address = tokens.reply_address(account_info(support).signing_key, conversation.pk, "acme.test")
    # Someone else got hold of the reply address (a forwarded mail): they get a conversation of their own.
    send(listener, mail(sender="mallory@evil.test", message_id="m-1@evil.test", to=address), to=[address],
         sender="mallory@evil.test")
    assert Message.objects.get(provider_message_id="m-1@evil.test").conversation_id != conversation.pk


def test_unknown_recipients_are_refused_with_550(listener: SmtpListener) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(listener, mail(), to=["someone@elsewhere.test"])
    code, text = refused.value.recipients["someone@elsewhere.test"]
    assert code == 550 and b"no such mailbox" in text
    # A reply address at another domain is not ours either.
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(listener, mail(), to=["reply+1-aaaaaaaaaaaaaaaa@elsewhere.test"])
    assert inbound_count() == 0


def test_one_known_recipient_among_unknown_ones_is_delivered(listener: SmtpListener) -> None:
    refused = send(listener, mail(), to=["nobody@acme.test", ADDRESS])
    assert list(refused) == ["nobody@acme.test"]
    assert inbound_count() == 1


def test_a_mail_for_two_accounts_reaches_both(listener: SmtpListener, support: ChannelAccount) -> None:
    sales = ChannelAccount.objects.create(channel="email", name="Sales", address="sales@acme.test")
    send(listener, mail(to=f"{ADDRESS}, sales@acme.test"), to=[ADDRESS, "SALES@acme.test"])
    assert sorted(Message.objects.values_list("channel_account_id", flat=True)) == sorted([support.pk, sales.pk])


def test_the_size_cap_is_advertised_and_enforced_with_552(listener: SmtpListener) -> None:
    big = mail(text="x" * 400_000)
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as client:
        client.ehlo()
        assert client.has_extn("size") and int(client.esmtp_features["size"]) == 300_000
        # A client that declares the size is refused at MAIL FROM...
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail(CUSTOMER, [ADDRESS], big)
        assert refused.value.smtp_code == 552
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as client:
        # ...and one that does not, at the end of DATA.
        client.ehlo()
        assert client.mail(CUSTOMER)[0] == 250
        assert client.rcpt(ADDRESS)[0] == 250
        assert client.data(big)[0] == 552
    assert inbound_count() == 0


def test_451_when_the_hub_cannot_store_and_the_retry_is_stored_once(listener: SmtpListener,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(self: Any, account: AccountInfo, events: Any) -> None:
        raise OperationalError("the database went away")

    with monkeypatch.context() as m:
        m.setattr(DatabaseHubPort, "deliver", unavailable)
        with pytest.raises(smtplib.SMTPDataError) as deferred:
            send(listener, fixture("transport-customer.eml"))
        assert deferred.value.smtp_code == 451
    assert inbound_count() == 0
    assert send(listener, fixture("transport-customer.eml")) == {}
    assert send(listener, fixture("transport-customer.eml")) == {}  # the sender retried once more
    assert inbound_count() == 1


def test_what_is_not_a_mail_is_refused_permanently(listener: SmtpListener) -> None:
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(listener, b"no headers here, only words\r\n")
    assert refused.value.smtp_code == 554
    assert inbound_count() == 0


def test_our_own_mail_is_acknowledged_and_dropped(listener: SmtpListener) -> None:
    assert send(listener, mail(sender=ADDRESS, message_id="loop@acme.test"), sender=ADDRESS) == {}
    reply_address = "reply+7-abcdefghijklmnop@acme.test"
    assert send(listener, mail(sender=reply_address, message_id="loop2@acme.test"), sender=reply_address) == {}
    assert inbound_count() == 0


def test_a_chinese_gb2312_mail_end_to_end(listener: SmtpListener, outbox: SmtpDouble) -> None:
    send(listener, fixture("transport-gb2312.eml"), sender="wang.fang@customer.cn")
    message = Message.objects.get()
    assert "\ufffd" not in message.text and "\ufffd" not in message.conversation.subject
    assert "订单1042还没有到" in message.text
    assert "镕" in message.text  # a GBK character under a gb2312 label, as Foxmail and Outlook send
    assert message.conversation.subject == "关于订单1042的问题"
    assert message.author_identity is not None and message.author_identity.display_name == "王芳"
    reply = do_send_reply(f.agent(), message.conversation, "您好，我们已经在查了。")
    reply.refresh_from_db()
    assert reply.status == Message.Status.SENT, reply.failure_reason
    sent = outbox.sent()[0].message()
    assert sent["Subject"] == "Re: 关于订单1042的问题"
    body = sent.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "您好，我们已经在查了。"


def test_an_auto_reply_gets_no_automatic_answer(listener: SmtpListener, outbox: SmtpDouble) -> None:
    RoutingQueue.objects.create(name="Office", order=0, hours={"timezone": "UTC", "weekly": {}},
                                out_of_hours_message="We are closed.")
    send(listener, fixture("transport-auto-reply.eml"))
    message = Message.objects.get()
    assert message.metadata["auto_reply"] is True
    assert not Message.objects.filter(direction=Message.Direction.OUT).exists()
    assert outbox.sent() == []


def test_the_out_of_hours_answer_is_marked_auto_submitted(listener: SmtpListener, outbox: SmtpDouble) -> None:
    RoutingQueue.objects.create(name="Office", order=0, hours={"timezone": "UTC", "weekly": {}},
                                out_of_hours_message="We are closed.")
    f.agent("alice")
    send(listener, fixture("transport-customer.eml"))
    auto = Message.objects.get(direction=Message.Direction.OUT)
    assert auto.status == Message.Status.SENT, auto.failure_reason
    assert outbox.sent()[0].message()["Auto-Submitted"] == "auto-replied"


# --- `hub up` starts the listeners connectors ask for ---------------------------------------------------------


def test_the_default_account_configures_the_listener(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("HUB_SMTP_PORT", str(port))
    monkeypatch.setenv("HUB_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("HUB_WEBHOOK_MAX_BYTES", "123456")
    default = f.account("email")
    (found,) = connector().listeners(DatabaseHubPort())
    assert isinstance(found, SmtpListener)
    assert (found.host, found.port, found.max_bytes) == ("127.0.0.1", port, 123456)
    found.start()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail(CUSTOMER, [default.address], mail(to=default.address))
    finally:
        found.stop()
    assert Message.objects.get().channel_account_id == default.pk
    monkeypatch.setenv("HUB_SMTP_PORT", "0")
    assert list(connector().listeners(DatabaseHubPort())) == []


def test_the_listener_binds_to_hub_host_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUB_SMTP_HOST", raising=False)
    monkeypatch.setenv("HUB_HOST", "0.0.0.0")
    f.account("email")
    (found,) = connector().listeners(DatabaseHubPort())
    assert isinstance(found, SmtpListener) and found.host == "0.0.0.0"


class _Recorder:
    def __init__(self, name: str, events: list[str], fail: bool = False) -> None:
        self.name, self.events, self.fail = name, events, fail

    def __str__(self) -> str:
        return self.name

    def start(self) -> None:
        if self.fail:
            raise OSError("cannot listen on 127.0.0.1:2525: Address already in use")
        self.events.append(f"start {self.name}")

    def stop(self) -> None:
        self.events.append(f"stop {self.name}")


def test_hub_up_starts_every_connectors_listeners_and_stops_them(monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    events: list[str] = []

    class Plugin(Connector):
        id = "plugin"
        name = "Plugin"
        identity_kind = "social"

        def listeners(self, hub: Any) -> list[_Recorder]:
            assert isinstance(hub, DatabaseHubPort)
            return [_Recorder("one", events), _Recorder("busy", events, fail=True), _Recorder("two", events)]

        def send(self, account: AccountInfo, message: OutboundMessage) -> SendResult:
            raise NotImplementedError

    monkeypatch.setenv("HUB_SMTP_PORT", "0")
    monkeypatch.setattr(registry, "connectors", lambda: {"plugin": Plugin()})
    started = start_listeners()
    assert events == ["start one", "start two"]
    assert "busy not started: cannot listen" in capsys.readouterr().err
    stop_listeners(started)
    assert events[2:] == ["stop two", "stop one"]


def test_a_busy_smtp_port_is_a_clear_message(listener: SmtpListener) -> None:
    second = SmtpListener(DatabaseHubPort(), connector().read_mail, host="127.0.0.1", port=listener.port,
                          max_bytes=1000)
    with pytest.raises(OSError, match="HUB_SMTP_PORT"):
        second.start()
