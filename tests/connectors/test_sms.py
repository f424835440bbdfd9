"""The SMS connector's own cases beyond the shared contract: Twilio's signature behind a proxy, the
AccountSid check, bad input, MMS media, STOP/START/HELP, status callbacks, and the Messages API's errors."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from django.test import Client

from connectors.sms.connector import DEFAULT_HELP_TEXT, SmsConnector
from hub.actions import ActionError
from hub.actions.outbound import do_send_reply
from hub.connector_port import account_info
from hub.models import Attachment, ChannelAccount, Conversation, Message, OptOut
from hub.taskqueue import runner
from tests import factories as f
from tests.connectors.contract import WebhookCall, call, inbound_count
from tests.connectors.provider import Answer
from tests.connectors.test_sms_contract import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CUSTOMER,
    NUMBER,
    PUBLIC_URL,
    FakeTwilio,
    fields,
    fresh_clients,
    inbound,
    public_url,
    sms_account,
    status_callback,
    twilio,
    twilio_server,
)

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["fresh_clients", "public_url", "twilio", "twilio_server"]  # fixtures shared with the contract module

EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response />'


@pytest.fixture
def account(twilio: FakeTwilio) -> ChannelAccount:
    return sms_account(twilio.url)


def text(body: str, sid: str = "SM00000000000000000000000000000001", **changes: str | None) -> WebhookCall:
    return inbound(fields("inbound_sms.json", Body=body, MessageSid=sid, SmsSid=sid, SmsMessageSid=sid, **changes))


def first_reply(client: Client) -> Message:
    assert call(client, inbound(fields("inbound_sms.json"))).status_code == 200
    reply = do_send_reply(f.agent(), Conversation.objects.get(), "Your parcel left the depot today.")
    reply.refresh_from_db()
    assert reply.status == Message.Status.SENT, reply.failure_reason
    return reply


# --- signatures and accounts ---------------------------------------------------------------------------


def test_the_message_is_stored_as_twilio_described_it(client: Client, account: ChannelAccount) -> None:
    response = call(client, inbound(fields("inbound_sms.json")))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert response.content == EMPTY_TWIML
    message = Message.objects.get()
    assert message.provider_message_id == "SM1b0e9d3c6a2f4e7d8c5b4a3f2e1d0c9b"
    assert message.text == "Hi, my order #4417 has not arrived yet. Can you check?"
    assert message.author_identity is not None
    assert (message.author_identity.kind, message.author_identity.address) == ("phone", CUSTOMER)
    assert message.metadata["from_country"] == "US" and message.metadata["from_city"] == "BOSTON"
    assert message.conversation.customer.language == ""


def test_a_request_signed_for_the_public_https_url_is_the_one_accepted(client: Client,
                                                                       account: ChannelAccount) -> None:
    # What Django saw (http://testserver) is not what Twilio signed: signing that URL must fail.
    seen_by_django = inbound(fields("inbound_sms.json"), signed_url="http://testserver/webhooks/twilio/sms")
    response = call(client, seen_by_django)
    assert response.status_code == 403 and b"does not match" in response.content
    assert call(client, inbound(fields("inbound_sms.json"))).status_code == 200
    assert inbound_count() == 1


def test_a_missing_signature_is_refused(client: Client, account: ChannelAccount) -> None:
    request = inbound(fields("inbound_sms.json"))
    response = call(client, replace(request, headers={}))
    assert response.status_code == 403 and b"X-Twilio-Signature" in response.content
    assert inbound_count() == 0


def test_an_account_without_an_auth_token_refuses_everything(client: Client, twilio: FakeTwilio) -> None:
    sms_account(twilio.url, auth_token="")
    response = call(client, inbound(fields("inbound_sms.json")))
    assert response.status_code == 403 and b"no Twilio auth token" in response.content
    assert inbound_count() == 0


def test_another_twilio_accounts_request_is_refused(client: Client, account: ChannelAccount) -> None:
    # Correctly signed (same token, a sub-account say), but for another AccountSid.
    response = call(client, inbound(fields("inbound_sms.json", AccountSid="AC" + "0" * 32)))
    assert response.status_code == 403 and b"AccountSid" in response.content
    response = call(client, inbound(fields("inbound_sms.json", AccountSid=None)))
    assert response.status_code == 403
    assert inbound_count() == 0


def test_a_number_the_hub_does_not_have_is_404(client: Client, account: ChannelAccount) -> None:
    response = call(client, inbound(fields("inbound_sms.json", To="+15005550001")))
    assert response.status_code == 404
    assert inbound_count() == 0


def test_an_unknown_extra_field_is_fine(client: Client, account: ChannelAccount) -> None:
    response = call(client, inbound(fields("inbound_sms.json", ChannelMetadata='{"type":"sms"}', Foo="bar")))
    assert response.status_code == 200
    assert inbound_count() == 1


def test_a_number_configured_for_http_get_works_too(client: Client, account: ChannelAccount) -> None:
    from urllib.parse import urlencode

    from twilio.request_validator import RequestValidator

    query = urlencode(fields("inbound_sms.json"))
    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"{PUBLIC_URL}/webhooks/twilio/sms?{query}", {})
    response = client.get(f"/webhooks/twilio/sms?{query}", headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200, response.content
    assert inbound_count() == 1


# --- bad input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("changes", "reason"), [
    ({"From": None}, b"'From'"),
    ({"MessageSid": None}, b"'MessageSid'"),
    ({"To": None}, b"'To'"),
    ({"From": "not a number"}, b"is not an E.164 phone number"),
    ({"From": "+1 (555) 867-5310"}, b"is not an E.164 phone number"),
    ({"From": "+1234"}, b"not a possible phone number"),
    ({"NumMedia": "two"}, b"NumMedia 'two' is not a number"),
    ({"NumMedia": "99999999999999999999"}, b"is not a number"),
    ({"NumMedia": "500"}, b"more than a message can carry"),
    ({"NumMedia": "1"}, b"'MediaUrl0'"),
    ({"MessageSid": "SM" + "x" * 300}, b"provider_message_id"),
])
def test_malformed_requests_get_400_with_the_reason(client: Client, account: ChannelAccount,
                                                    changes: dict[str, str | None], reason: bytes) -> None:
    response = call(client, inbound(fields("inbound_sms.json", **changes)))
    assert response.status_code == 400, response.content
    assert reason in response.content
    assert inbound_count() == 0


def test_non_utf8_bodies_never_answer_500(client: Client, account: ChannelAccount) -> None:
    request = inbound(fields("inbound_sms.json"))
    body = request.body.replace(b"Hi%2C", b"\xff\xfe%ZZ")
    response = call(client, replace(request, body=body))
    assert response.status_code in (400, 403)
    assert inbound_count() == 0


def test_a_huge_body_of_unicode_is_stored_whole(client: Client, account: ChannelAccount) -> None:
    body = "订单还没到。" * 200  # 1200 characters, Twilio's concatenated maximum is 1600
    assert call(client, text(body)).status_code == 200
    assert Message.objects.get().text == body


# --- STOP / START / HELP ----------------------------------------------------------------------------------


def test_stop_refuses_replies_until_start_end_to_end(client: Client, account: ChannelAccount,
                                                     twilio: FakeTwilio) -> None:
    assert call(client, inbound(fields("inbound_sms.json"))).status_code == 200
    conversation = Conversation.objects.get()
    response = call(client, text("  stop ", sid="SM00000000000000000000000000000002"))
    assert response.status_code == 200 and response.content == EMPTY_TWIML
    assert response["Content-Type"].startswith("text/xml")
    stop = OptOut.objects.get(channel_account=account, address=CUSTOMER)
    assert stop.keyword == "STOP"
    # The customer's words are still on the timeline.
    assert Message.objects.filter(conversation=conversation, text="  stop ").exists()
    with pytest.raises(ActionError, match="replied STOP"):
        do_send_reply(f.agent(), conversation, "Sorry to see you go")
    assert twilio.sent() == []

    assert call(client, text("Start", sid="SM00000000000000000000000000000003")).status_code == 200
    assert not OptOut.objects.exists()
    reply = do_send_reply(f.agent(), conversation, "Welcome back")
    reply.refresh_from_db()
    assert reply.status == Message.Status.SENT
    assert len(twilio.sent()) == 1


def test_help_is_answered_with_the_accounts_help_text(client: Client, account: ChannelAccount) -> None:
    response = call(client, text("HELP"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert response.content.decode() == ('<?xml version="1.0" encoding="UTF-8"?><Response><Message>'
                                         f"{DEFAULT_HELP_TEXT}</Message></Response>")
    assert inbound_count() == 1 and not OptOut.objects.exists()

    account.config = {**account.config, "help_text": "Acme support: reply with your question. Reply STOP to opt out."}
    account.save()
    response = call(client, text("info", sid="SM00000000000000000000000000000004"))
    assert b"<Message>Acme support: reply with your question. Reply STOP to opt out.</Message>" in response.content
    # Not a keyword: no answer.
    response = call(client, text("help me please", sid="SM00000000000000000000000000000005"))
    assert response.content == EMPTY_TWIML


# --- status callbacks -------------------------------------------------------------------------------------


def status_for(sid: str, name: str, **changes: str | None) -> WebhookCall:
    return status_callback(fields(name, MessageSid=sid, SmsSid=sid, **changes))


def test_delivery_reports_move_the_reply_forward_never_back(client: Client, account: ChannelAccount) -> None:
    reply = first_reply(client)
    sid = reply.provider_message_id
    response = call(client, status_for(sid, "status_delivered.json"))
    assert response.status_code == 200 and response.content == EMPTY_TWIML
    reply.refresh_from_db()
    assert reply.status == Message.Status.DELIVERED
    # A late "sent", and the same "delivered" again, change nothing.
    assert call(client, status_for(sid, "status_sent.json")).status_code == 200
    assert call(client, status_for(sid, "status_delivered.json")).status_code == 200
    reply.refresh_from_db()
    assert reply.status == Message.Status.DELIVERED
    # read (WhatsApp-style receipts, RCS) goes further.
    assert call(client, status_for(sid, "status_sent.json", MessageStatus="read", SmsStatus="read")).status_code \
        == 200
    reply.refresh_from_db()
    assert reply.status == Message.Status.READ


def test_undelivered_fails_the_reply_with_a_readable_reason(client: Client, account: ChannelAccount) -> None:
    reply = first_reply(client)
    assert call(client, status_for(reply.provider_message_id, "status_undelivered.json")).status_code == 200
    reply.refresh_from_db()
    assert reply.status == Message.Status.FAILED
    assert reply.failure_reason == ("The customer's phone is unreachable (switched off or out of coverage) "
                                    "(Twilio error 30003)")


def test_statuses_on_the_way_are_acknowledged_and_ignored(client: Client, account: ChannelAccount) -> None:
    reply = first_reply(client)
    for status in ("queued", "sending", "accepted", "scheduled", "receiving", "received", "partially_delivered",
                   "something-new"):
        response = call(client, status_for(reply.provider_message_id, "status_sent.json", MessageStatus=status,
                                           SmsStatus=status))
        assert response.status_code == 200, status
    reply.refresh_from_db()
    assert reply.status == Message.Status.SENT


def test_a_status_callback_without_a_status_or_sid_is_400(client: Client, account: ChannelAccount) -> None:
    response = call(client, status_callback(fields("status_sent.json", MessageStatus=None, SmsStatus=None)))
    assert response.status_code == 400 and b"SmsStatus" in response.content
    response = call(client, status_callback(fields("status_sent.json", MessageSid=None, SmsSid=None)))
    assert response.status_code == 400 and b"SmsSid" in response.content
    response = call(client, status_callback(fields("status_sent.json", From=None)))
    assert response.status_code == 400 and b"'From'" in response.content


def test_a_status_callback_for_an_unknown_message_stores_nothing(client: Client, account: ChannelAccount) -> None:
    response = call(client, status_callback(fields("status_undelivered.json")))
    assert response.status_code == 200
    assert Message.objects.count() == 0


def test_a_status_callback_is_verified_like_a_message(client: Client, account: ChannelAccount) -> None:
    reply = first_reply(client)
    forged = status_for(reply.provider_message_id, "status_undelivered.json")
    response = call(client, replace(forged, headers={"X-Twilio-Signature": "Zm9yZ2Vk"}))
    assert response.status_code == 403
    reply.refresh_from_db()
    assert reply.status == Message.Status.SENT


def test_a_messaging_service_reply_is_reported_back_to_its_account(client: Client, twilio: FakeTwilio) -> None:
    account = sms_account(twilio.url, messaging_service_sid="MG" + "9" * 32)
    reply = first_reply(client)
    form = twilio.sent()[0].form()
    assert form["MessagingServiceSid"] == ["MG" + "9" * 32] and "From" not in form
    callback = form["StatusCallback"][0]
    assert callback == f"{PUBLIC_URL}/webhooks/twilio/sms/status?account=%2B15017122661"
    # The pool picked another number: the callback still finds the account through ?account=.
    report = status_callback(fields("status_delivered.json", MessageSid=reply.provider_message_id,
                                    SmsSid=reply.provider_message_id, From="+15017120000"),
                             query="account=%2B15017122661")
    assert call(client, report).status_code == 200
    reply.refresh_from_db()
    assert reply.status == Message.Status.DELIVERED and reply.channel_account_id == account.pk


# --- MMS media --------------------------------------------------------------------------------------------


def mms(twilio: FakeTwilio, *media: str, sid: str = "MM6e4d2c0b9a8f47e6d5c4b3a29f8e7d6c") -> WebhookCall:
    params = fields("inbound_mms.json", MessageSid=sid, SmsSid=sid, SmsMessageSid=sid, NumMedia=str(len(media)),
                    MediaUrl0=None, MediaUrl1=None, MediaContentType0=None, MediaContentType1=None)
    for index, media_sid in enumerate(media):
        params[f"MediaUrl{index}"] = twilio.media_url(media_sid, sid)
        params[f"MediaContentType{index}"] = "image/jpeg"
    return inbound(params)


def test_mms_media_is_fetched_through_twilios_redirect_with_the_accounts_credentials(
        client: Client, account: ChannelAccount, twilio: FakeTwilio) -> None:
    jpeg, png = b"\xff\xd8\xff\xe0" + b"j" * 2000, b"\x89PNG\r\n\x1a\n" + b"p" * 500
    twilio.media["ME0a1b2c3d4e5f60718293a4b5c6d7e8f9"] = Answer(200, jpeg, {"Content-Type": "image/jpeg"})
    twilio.media["ME9f8e7d6c5b4a39281706f5e4d3c2b1a0"] = Answer(200, png, {"Content-Type": "image/png"})
    # The documented fixture, with Twilio's API host being the account's API base.
    params = {k: v.replace("https://api.twilio.com", twilio.url) for k, v in fields("inbound_mms.json").items()}
    response = call(client, inbound(params))
    assert response.status_code == 200
    message = Message.objects.get()
    assert message.text == "Here is the damaged box"
    stored = {a.content_type: a for a in Attachment.objects.filter(message=message)}
    assert set(stored) == {"image/jpeg", "image/png"}
    assert stored["image/jpeg"].file.read() == jpeg and stored["image/png"].size == len(png)
    assert stored["image/jpeg"].name.endswith(".jpg")
    assert "attachments_not_stored" not in Message.objects.get().metadata
    api_hops = twilio.requests_to("/2010-04-01/")
    assert len(api_hops) == 2 and all(r.headers.get("authorization") for r in api_hops)
    assert len(twilio.requests_to("/cdn/")) == 2


def settled(message: Message) -> dict[str, str]:
    message.refresh_from_db()
    return {e["url"].rsplit("/", 1)[1]: e["reason"] for e in message.metadata.get("attachments_not_stored", [])}


def test_oversized_and_missing_media_are_recorded_not_stored(client: Client, account: ChannelAccount,
                                                            twilio: FakeTwilio, settings: Any) -> None:
    settings.HUB_MAX_ATTACHMENT_BYTES = 1000
    twilio.media["MEbig"] = Answer(200, b"x" * 50_000, {"Content-Type": "video/mp4"})
    twilio.media["MEok"] = Answer(200, b"y" * 1000, {"Content-Type": "image/gif"})
    assert call(client, mms(twilio, "MEbig", "MEgone", "MEok")).status_code == 200
    message = Message.objects.get()
    assert settled(message) == {"MEbig": "too_large", "MEgone": "fetch_failed"}
    entries = {e["url"].rsplit("/", 1)[1]: e for e in message.metadata["attachments_not_stored"]}
    assert entries["MEbig"]["size"] == 1001
    assert "no longer exists" in entries["MEgone"]["detail"]
    assert Attachment.objects.get(message=message).size == 1000


def test_a_busy_media_server_is_retried(client: Client, account: ChannelAccount, twilio: FakeTwilio) -> None:
    twilio.media["MEflaky"] = Answer(200, b"\xff\xd8ok", {"Content-Type": "image/jpeg"})
    twilio.server.fail_next(Answer(503, {"code": 20503, "message": "Service Unavailable", "status": 503}))
    call(client, mms(twilio, "MEflaky"))
    message = Message.objects.get()
    assert settled(message) == {"MEflaky": "pending_fetch"}
    assert runner.pending() == 1
    runner.drain()
    assert settled(message) == {}
    assert Attachment.objects.get(message=message).file.read() == b"\xff\xd8ok"


# --- configuration ----------------------------------------------------------------------------------------


def test_the_default_account_is_configured_from_the_environment(client: Client, twilio: FakeTwilio,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    default = f.account("sms")
    connector = SmsConnector()
    assert not connector.is_configured(account_info(default))
    monkeypatch.setenv("HUB_TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("HUB_TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("HUB_TWILIO_FROM_NUMBER", NUMBER)
    monkeypatch.setenv("HUB_TWILIO_API_BASE", twilio.url)
    default = f.account("sms")  # HUB_TWILIO_FROM_NUMBER is the default account's address
    assert default.address == NUMBER
    cfg = account_info(default).config
    assert (cfg["account_sid"], cfg["auth_token"], cfg["api_base"]) == (ACCOUNT_SID, AUTH_TOKEN, twilio.url)
    assert connector.is_configured(account_info(default))
    # In and out through the default account.
    assert call(client, inbound(fields("inbound_sms.json"))).status_code == 200
    reply = do_send_reply(f.agent(), Conversation.objects.get(), "Hello from the default number")
    reply.refresh_from_db()
    assert reply.status == Message.Status.SENT, reply.failure_reason
    assert twilio.sent()[0].form()["From"] == [NUMBER]

