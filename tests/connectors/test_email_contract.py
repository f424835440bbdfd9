"""The email connector through the shared contract, over its webhook (POST /webhooks/email/<account> with the
raw mail and a bearer token), with a local SMTP server (aiosmtpd) as the provider double for replies; and the
webhook's own bad-input and threading cases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from hub.models import ChannelAccount, Conversation, Message
from tests import factories as f
from tests.connectors.contract import ConnectorContract, WebhookCall, call, inbound_count
from tests.connectors.test_email_support import (
    ADDRESS,
    CUSTOMER,
    CUSTOMER_MESSAGE_ID,
    TOKEN,
    ReceivedMail,
    SmtpDouble,
    bearer,
    fixture,
    mail,
    post_mail,
)


class TestEmailContract(ConnectorContract):
    connector_id = "email"

    @pytest.fixture
    def provider(self) -> Iterator[SmtpDouble]:
        double = SmtpDouble()
        yield double
        double.close()

    @pytest.fixture
    def account(self, provider: SmtpDouble) -> ChannelAccount:
        return ChannelAccount.objects.create(channel="email", name="Support", address=ADDRESS,
                                             config={"webhook_token": TOKEN, "smtp_url": provider.url,
                                                     "from_name": "Acme Support"})

    def signed_inbound(self, account: ChannelAccount) -> WebhookCall:
        return WebhookCall(f"/webhooks/email/{ADDRESS}", fixture("transport-customer.eml"), bearer(),
                           "message/rfc822")

    def badly_signed(self, account: ChannelAccount) -> WebhookCall:
        return WebhookCall(f"/webhooks/email/{ADDRESS}", fixture("transport-customer.eml"),
                           bearer("not-the-token"), "message/rfc822")

    def malformed(self, account: ChannelAccount) -> WebhookCall:
        return WebhookCall(f"/webhooks/email/{ADDRESS}", b"this is not a mail at all, just words\n", bearer(),
                           "message/rfc822")

    def unhandled(self, account: ChannelAccount) -> WebhookCall:
        # Our own mail coming back (a forwarding loop): acknowledged, nothing stored.
        return WebhookCall(f"/webhooks/email/{ADDRESS}", mail(sender=ADDRESS, name="Acme Support"), bearer(),
                           "message/rfc822")

    def check_outbound(self, request: ReceivedMail, message: Message, account: ChannelAccount) -> None:
        sent = request.message()
        assert request.mail_from == ADDRESS and request.rcpt_tos == [CUSTOMER]
        assert sent["To"] == CUSTOMER
        assert sent["From"].addresses[0].addr_spec == ADDRESS
        assert sent["From"].addresses[0].display_name == "Acme Support"
        assert sent["Subject"] == "Re: Order 1042 has not arrived"
        assert sent["Message-ID"] == f"<{message.provider_message_id}>"
        assert sent["In-Reply-To"] == f"<{CUSTOMER_MESSAGE_ID}>"
        assert f"<{CUSTOMER_MESSAGE_ID}>" in sent["References"]
        assert sent["Reply-To"].addresses[0].addr_spec.startswith("reply+")
        assert "Auto-Submitted" not in sent
        body = sent.get_body(("plain",))
        assert body is not None and body.get_content().strip() == message.text


# --- the webhook's own cases ------------------------------------------------------------------------------

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def support() -> ChannelAccount:
    return ChannelAccount.objects.create(channel="email", name="Support", address=ADDRESS,
                                         config={"webhook_token": TOKEN})


def test_the_fixture_becomes_a_customer_message_with_everything_kept(client: Client,
                                                                      support: ChannelAccount) -> None:
    assert post_mail(client, fixture("transport-customer.eml")).status_code == 200
    message = Message.objects.get()
    assert message.provider_message_id == CUSTOMER_MESSAGE_ID
    assert message.author_kind == Message.Author.CUSTOMER
    assert message.author_identity is not None and message.author_identity.address == CUSTOMER
    assert message.author_identity.display_name == "Li Wei"
    assert "has still not arrived" in message.text
    assert message.conversation.subject == "Order 1042 has not arrived"
    assert message.metadata["provider_sent_at"].startswith("2024-05-14T09:21:07")
    assert "full_text" in message.metadata


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer "}, {"Authorization": TOKEN},
                                     {"Authorization": "Basic " + TOKEN}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": "Bearer 令牌"}])
def test_a_missing_or_wrong_bearer_token_is_403(client: Client, support: ChannelAccount,
                                                headers: dict[str, str]) -> None:
    response = call(client, WebhookCall(f"/webhooks/email/{ADDRESS}", fixture("transport-customer.eml"), headers,
                                        "message/rfc822"))
    assert response.status_code == 403
    assert inbound_count() == 0


def test_an_account_without_a_token_refuses_everything(client: Client, support: ChannelAccount,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    support.config = {}
    support.save()
    assert post_mail(client, fixture("transport-customer.eml"), token="").status_code == 403
    assert post_mail(client, fixture("transport-customer.eml"), token="anything").status_code == 403
    assert "no webhook token" in caplog.text
    assert inbound_count() == 0


def test_an_unknown_account_is_404(client: Client, support: ChannelAccount) -> None:
    assert post_mail(client, fixture("transport-customer.eml"), account="sales@acme.test").status_code == 404
    assert inbound_count() == 0


def test_the_default_account_takes_its_token_from_the_environment(client: Client,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_EMAIL_WEBHOOK_TOKEN", "from-the-env")
    default = f.account("email")
    assert post_mail(client, fixture("transport-customer.eml"), account=default.address).status_code == 403
    assert post_mail(client, fixture("transport-customer.eml"), account=default.address,
                     token="from-the-env").status_code == 200
    assert Message.objects.get().channel_account_id == default.pk


@pytest.mark.parametrize(("body", "reason"), [
    (b"", b"empty body"),
    (b"   \r\n", b"empty body"),
    (b"just some words, no headers at all", b"malformed"),
    (b"\x00\xff\xfe\x80 binary \x00 junk", b"malformed"),
    (b"Subject: no sender\r\n\r\nhello\r\n", b"malformed"),
    (b"From: not an address\r\nSubject: x\r\n\r\nhello\r\n", b"malformed"),
])
def test_what_is_not_a_mail_gets_400_with_the_reason(client: Client, support: ChannelAccount, body: bytes,
                                                     reason: bytes) -> None:
    response = post_mail(client, body)
    assert response.status_code == 400, response.content
    assert reason in response.content
    assert inbound_count() == 0


def test_a_json_or_form_body_is_refused_with_what_to_send(client: Client, support: ChannelAccount) -> None:
    response = post_mail(client, b'{"from": "a@b.c"}', content_type="application/json")
    assert response.status_code == 400 and b"message/rfc822" in response.content


@pytest.mark.parametrize("body", [
    b"From: a@customer.test\r\n\r\n",  # no body, no subject, no Message-ID
    b"From: a@customer.test\r\nSubject: " + b"x" * 20000 + b"\r\n\r\nlong subject\r\n",
    b"From: a@customer.test\r\nContent-Type: text/plain; charset=no-such-charset\r\n\r\n\xff\xfe text\r\n",
    b"From: a@customer.test\r\nMessage-ID: <" + b"m" * 400 + b"@x>\r\n\r\nlong id\r\n",
    b"From: a@customer.test\r\nDate: 31 Feb 99999 99:99 +9999\r\nIn-Reply-To: <<<>>>\r\n\r\nodd headers\r\n",
    b"From: a@customer.test\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nbroken",
])
def test_odd_but_readable_mail_is_stored_never_500(client: Client, support: ChannelAccount, body: bytes) -> None:
    response = post_mail(client, body)
    assert response.status_code in (200, 400), response.content
    if response.status_code == 200:
        message = Message.objects.get()
        assert len(message.provider_message_id) <= 255
        assert message.author_kind == Message.Author.CUSTOMER


def test_a_mail_without_message_id_is_stored_once_when_delivered_again(client: Client,
                                                                       support: ChannelAccount) -> None:
    body = mail(message_id=None, text="no id here")
    assert post_mail(client, body).status_code == 200
    assert post_mail(client, body).status_code == 200
    message = Message.objects.get()
    assert message.provider_message_id.startswith("sha256:")
    assert message.metadata["message_id_missing"] is True


def test_our_own_mail_coming_back_is_acknowledged_and_dropped(client: Client, support: ChannelAccount,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    assert post_mail(client, mail(sender=ADDRESS, message_id="loop-1@acme.test")).status_code == 200
    assert post_mail(client, mail(sender="reply+12-abcdefghijklmnop@acme.test", message_id="loop-2@x")
                     ).status_code == 200
    assert post_mail(client, mail(sender="SUPPORT@ACME.TEST", message_id="loop-3@x")).status_code == 200
    assert inbound_count() == 0 and Conversation.objects.count() == 0
    assert "mail loop" in caplog.text


def test_a_separate_reply_domain_is_ours_entirely(client: Client, support: ChannelAccount) -> None:
    support.config = {**support.config, "reply_domain": "reply.acme.test"}
    support.save()
    assert post_mail(client, mail(sender="bounces@reply.acme.test", message_id="l-1@x")).status_code == 200
    assert inbound_count() == 0
    # A colleague at the company's own domain writing to support is a customer like any other.
    assert post_mail(client, mail(sender="colleague@acme.test", message_id="c-1@x")).status_code == 200
    assert inbound_count() == 1


def test_a_mail_from_an_agents_address_is_still_a_customer_message(client: Client,
                                                                   support: ChannelAccount) -> None:
    alice = f.agent("alice")
    alice.email = "alice@acme.test"  # type: ignore[attr-defined]
    alice.save()
    assert post_mail(client, mail(sender="alice@acme.test", name="Alice", text="I am an agent, trust me")
                     ).status_code == 200
    message = Message.objects.get()
    assert message.author_kind == Message.Author.CUSTOMER and message.author_user is None
    assert message.direction == Message.Direction.IN


def test_auto_replies_are_recorded_as_such(client: Client, support: ChannelAccount) -> None:
    assert post_mail(client, fixture("transport-auto-reply.eml")).status_code == 200
    message = Message.objects.get()
    assert message.metadata["auto_reply"] is True
    assert message.metadata["auto_reply_reason"]


def test_a_reply_threads_by_in_reply_to(client: Client, support: ChannelAccount) -> None:
    post_mail(client, fixture("transport-customer.eml"))
    first = Message.objects.get().conversation
    # A second, unrelated open conversation of the same customer (newer, so the default choice).
    second = Conversation.objects.create(customer=first.customer, channel="email", channel_account=support,
                                         subject="Other", status=Conversation.Status.OPEN)
    post_mail(client, mail(message_id="r-1@customer.test", subject="Re: Order 1042 has not arrived",
                           In_Reply_To=f"<{CUSTOMER_MESSAGE_ID}>", References=f"<{CUSTOMER_MESSAGE_ID}>"))
    assert Message.objects.get(provider_message_id="r-1@customer.test").conversation_id == first.pk
    assert second.pk != first.pk


def test_html_attachments_quote_and_references_are_kept(client: Client, support: ChannelAccount) -> None:
    assert post_mail(client, fixture("transport-attachments.eml")).status_code == 200
    message = Message.objects.get()
    assert message.provider_message_id == "CAH7x3Kq9f2=Yb1T+uQe@mail.customer.test"
    assert message.author_identity is not None and message.author_identity.display_name == "René Müller"
    assert message.text.startswith("The parcel arrived damaged")
    assert "We have sent a replacement" not in message.text
    assert "We have sent a replacement" in message.metadata["quoted_text"]
    assert "We have sent a replacement" in message.metadata["full_text"]
    assert "The parcel arrived damaged" in message.html
    attachments = {a.name: (a.content_type, a.size) for a in message.attachments.all()}
    assert set(attachments) == {"photo.png", "delivery-note.pdf"}
    assert attachments["delivery-note.pdf"][0] == "application/pdf"
    assert message.metadata["inline_images"] == {"photo1@customer.test": "photo.png"}
    # Its References became thread keys: a later mail naming only the first one finds this conversation,
    # not the customer's newer one.
    Conversation.objects.create(customer=message.conversation.customer, channel="email", channel_account=support,
                                subject="Newer", status=Conversation.Status.OPEN)
    post_mail(client, mail(sender="rene.mueller@customer.test", message_id="later@customer.test",
                           References="<order-1042@customer.test>"))
    assert Message.objects.get(provider_message_id="later@customer.test").conversation_id == message.conversation_id


def test_a_bounce_without_a_sender_is_acknowledged_and_not_stored(client: Client, support: ChannelAccount) -> None:
    bounce = (b"To: support@acme.test\r\nSubject: Undelivered Mail Returned to Sender\r\n"
              b"Auto-Submitted: auto-replied\r\nMessage-ID: <b-1@mx.test>\r\n\r\n"
              b"Your message could not be delivered.\r\n")
    assert post_mail(client, bounce).status_code == 200
    assert inbound_count() == 0
