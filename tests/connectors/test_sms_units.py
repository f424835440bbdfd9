"""The SMS connector's parts that need no database: keywords, error wording, parsing, the media URL guard
and the Messages API client against a local fake of Twilio (fixtures in test_sms_contract.py)."""

from __future__ import annotations

import re
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from connectors import registry
from connectors.base import (
    AccountInfo,
    IdentityEvent,
    InboundMessage,
    InboundRequest,
    OutboundAttachment,
    OutboundMessage,
    PermanentFailure,
    TemporaryFailure,
)
from connectors.sms import keywords, twilio_api
from connectors.sms.connector import SmsConnector
from connectors.sms.error_codes import describe
from tests.connectors.provider import Answer, Recorded
from tests.connectors.test_sms_contract import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CUSTOMER,
    NUMBER,
    PUBLIC_URL,
    FakeTwilio,
    fields,
    fixture,
    fresh_clients,
    public_url,
    twilio,
    twilio_server,
)

__all__ = ["fresh_clients", "public_url", "twilio", "twilio_server"]  # fixtures shared with the contract module


@pytest.fixture
def connector() -> SmsConnector:
    found = registry.get("sms")
    assert isinstance(found, SmsConnector)
    return found


def info(api_base: str, **config: Any) -> AccountInfo:
    return AccountInfo(id=1, channel="sms", address=NUMBER, public_url=PUBLIC_URL,
                       config={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "api_base": api_base, **config})


def outbound(text: str = "Your parcel left the depot today.", **kw: Any) -> OutboundMessage:
    return OutboundMessage(message_id=7, conversation_id=3, to=CUSTOMER, text=text, **kw)


# --- keywords and wording ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "expected"), [
    ("STOP", ("opt_out", "STOP")), (" stop\n", ("opt_out", "STOP")), ("StopAll", ("opt_out", "STOPALL")),
    ("unsubscribe", ("opt_out", "UNSUBSCRIBE")), ("Cancel", ("opt_out", "CANCEL")), ("end", ("opt_out", "END")),
    ("QUIT", ("opt_out", "QUIT")), ("optout", ("opt_out", "OPTOUT")), ("revoke", ("opt_out", "REVOKE")),
    ("start", ("opt_in", "START")), ("Yes", ("opt_in", "YES")), ("UNSTOP ", ("opt_in", "UNSTOP")),
    ("help", ("help", "HELP")), ("\tInfo", ("help", "INFO")),
    ("please stop", None), ("STOP!", None), ("stop it", None), ("", None), ("S T O P", None),
])
def test_keywords_are_the_whole_message_in_any_case(body: str, expected: tuple[str, str] | None) -> None:
    assert keywords.classify(body) == expected


@pytest.mark.parametrize(("code", "message", "expected"), [
    ("30003", "", "The customer's phone is unreachable (switched off or out of coverage) (Twilio error 30003)"),
    ("30005", "", "The number is unknown to its carrier (it may no longer exist) (Twilio error 30005)"),
    ("30006", "", "The number is a landline or its carrier cannot receive text messages (Twilio error 30006)"),
    ("30007", "", "The carrier filtered the message as spam or a policy violation (Twilio error 30007)"),
    ("21610", "", "The customer has unsubscribed from this number (replied STOP) (Twilio error 21610)"),
    ("39999", "Something new", "Something new (Twilio error 39999)"),
    ("39999", "", "Twilio reported a delivery failure (Twilio error 39999)"),
    ("", "", "Twilio reported a delivery failure"),
])
def test_error_codes_become_readable_reasons(code: str, message: str, expected: str) -> None:
    assert describe(code, message) == expected


def test_parse_returns_the_message_and_the_opt_out() -> None:
    request = InboundRequest(method="POST", url=f"{PUBLIC_URL}/webhooks/twilio/sms", path="/webhooks/twilio/sms",
                             headers={}, body=b"", form=fields("inbound_sms.json", Body=" Stop "),
                             endpoint="message")
    events = SmsConnector().parse(AccountInfo(id=1, channel="sms", address=NUMBER), request)
    assert [type(e) for e in events] == [InboundMessage, IdentityEvent]
    message, consent = events
    assert isinstance(message, InboundMessage)
    assert (message.text, message.language, message.sender.display_name) == (" Stop ", "", "")
    assert message.metadata["keyword"] == "STOP"
    assert isinstance(consent, IdentityEvent)
    assert (consent.change, consent.keyword, consent.sender.address) == ("opt_out", "STOP", CUSTOMER)


def test_parse_names_mms_attachments_after_their_type() -> None:
    request = InboundRequest(method="POST", url=f"{PUBLIC_URL}/webhooks/twilio/sms", path="/webhooks/twilio/sms",
                             headers={}, body=b"", form=fields("inbound_mms.json"), endpoint="message")
    message = SmsConnector().parse(AccountInfo(id=1, channel="sms", address=NUMBER), request)[0]
    assert isinstance(message, InboundMessage)
    sid = "MM6e4d2c0b9a8f47e6d5c4b3a29f8e7d6c"
    assert [(a.name, a.content_type, a.data) for a in message.attachments] == [
        (f"{sid}-1.jpg", "image/jpeg", b""), (f"{sid}-2.png", "image/png", b"")]
    assert message.attachments[0].url.startswith(f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/")


def test_an_account_needs_a_sid_and_a_token() -> None:
    connector = SmsConnector()
    assert connector.is_configured(info("https://api.twilio.com"))
    assert not connector.is_configured(info("https://api.twilio.com", auth_token=""))
    assert not connector.is_configured(info("https://api.twilio.com", account_sid=""))
    assert connector.webhooks == {"twilio/sms": "message", "twilio/sms/status": "status"}
    assert (connector.id, connector.identity_kind) == ("sms", "phone")


# --- the media URL guard -----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/",
    "https://api.twilio.com.evil.example/2010-04-01/x",
    "http://api.twilio.com/2010-04-01/x",  # Twilio, but not over TLS: the token would travel in clear
    "https://user@api.twilio.com/2010-04-01/x",
    "file:///etc/passwd",
    "https://media.twiliocdn.com/AC/abc",  # the CDN is a redirect target only, never sent credentials
    "not a url",
    "https://api.twilio.com:notaport/x",
])
def test_media_urls_outside_twilio_are_refused_before_any_request(connector: SmsConnector, twilio: FakeTwilio,
                                                                  url: str) -> None:
    with pytest.raises(PermanentFailure):
        connector.fetch_media(info(twilio.url), url, 1000)
    assert twilio.server.requests == []


def test_twilio_hosts_and_the_cdn_are_recognized() -> None:
    api = urlsplit("https://api.twilio.com")
    assert twilio_api._may_carry_credentials(urlsplit("https://api.twilio.com/2010-04-01/x"), api)
    assert twilio_api._may_carry_credentials(urlsplit("https://api.dublin.ie1.twilio.com/x"), api)
    assert not twilio_api._may_carry_credentials(urlsplit("https://mms.twiliocdn.com/x"), api)
    assert twilio_api._may_redirect_to(urlsplit("https://mms.twiliocdn.com/x"), api)
    assert not twilio_api._may_redirect_to(urlsplit("https://s3.amazonaws.com/x"), api)
    assert not twilio_api._may_redirect_to(urlsplit("https://eviltwilio.com/x"), api)


def test_a_redirect_outside_twilio_is_refused(connector: SmsConnector, twilio: FakeTwilio) -> None:
    twilio.server.fail_next(Answer(302, b"", {"Location": "http://10.0.0.1/secrets"}))
    with pytest.raises(PermanentFailure, match="unexpected place"):
        connector.fetch_media(info(twilio.url), twilio.media_url("MEx"), 1000)
    assert len(twilio.server.requests) == 1


def test_a_media_redirect_loop_is_refused(connector: SmsConnector, twilio: FakeTwilio) -> None:
    twilio.server.fail_next(Answer(302, b"", {"Location": "/2010-04-01/loop"}), times=10)
    with pytest.raises(PermanentFailure, match="redirected"):
        connector.fetch_media(info(twilio.url), twilio.media_url("MEx"), 1000)


@pytest.mark.parametrize(("answer", "failure"), [
    (Answer(404, b"gone"), PermanentFailure),
    (Answer(401, b"no"), PermanentFailure),
    (Answer(503, b"busy"), TemporaryFailure),
    (Answer(429, b"slow down"), TemporaryFailure),
])
def test_media_errors_are_classified(connector: SmsConnector, twilio: FakeTwilio, answer: Answer,
                                     failure: type[Exception]) -> None:
    twilio.server.fail_next(answer)
    with pytest.raises(failure):
        connector.fetch_media(info(twilio.url), twilio.media_url("MEx"), 1000)


def test_media_is_cut_one_byte_over_the_cap(connector: SmsConnector, twilio: FakeTwilio) -> None:
    twilio.media["MEbig"] = Answer(200, b"z" * 300_000, {"Content-Type": "video/mp4; codecs=avc1"})
    media = connector.fetch_media(info(twilio.url), twilio.media_url("MEbig"), 100_000)
    assert len(media.data) == 100_001 and media.content_type == "video/mp4"


# --- the Messages API --------------------------------------------------------------------------------------


def test_send_posts_to_the_messages_api(connector: SmsConnector, twilio: FakeTwilio) -> None:
    result = connector.send(info(twilio.url), outbound())
    assert result.provider_message_id == "SM" + f"{1:032x}" and result.status == "sent"
    form = twilio.sent()[0].form()
    assert form == {"To": [CUSTOMER], "From": [NUMBER], "Body": ["Your parcel left the depot today."],
                    "StatusCallback": [f"{PUBLIC_URL}/webhooks/twilio/sms/status"]}


def test_the_twilio_error_is_what_the_agent_reads(connector: SmsConnector, twilio: FakeTwilio) -> None:
    twilio.fail_permanently()
    with pytest.raises(PermanentFailure) as failure:
        connector.send(info(twilio.url), outbound())
    assert str(failure.value) == "21211: The 'To' number +1555867531 is not a valid phone number."


def test_an_unsubscribed_recipient_is_explained(connector: SmsConnector, twilio: FakeTwilio) -> None:
    twilio.server.fail_next(Answer(400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient",
                                         "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400}))
    with pytest.raises(PermanentFailure, match=r"^21610: Attempt to send to unsubscribed recipient \(the customer"):
        connector.send(info(twilio.url), outbound())


def test_wrong_credentials_are_a_permanent_failure(connector: SmsConnector, twilio: FakeTwilio) -> None:
    with pytest.raises(PermanentFailure, match=r"^20003: Authenticate"):
        connector.send(info(twilio.url, auth_token="wrong"), outbound())


@pytest.mark.parametrize("answer", [
    Answer(429, fixture("error_20429.json")["body"]),
    Answer(500, {"code": 20500, "message": "Internal Server Error", "status": 500}),
    Answer(502, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"}),
])
def test_rate_limits_and_server_errors_are_temporary(connector: SmsConnector, twilio: FakeTwilio,
                                                     answer: Answer) -> None:
    twilio.server.fail_next(answer)
    with pytest.raises(TemporaryFailure, match=f"HTTP {answer.status}"):
        connector.send(info(twilio.url), outbound())


def test_a_4xx_without_a_twilio_body_is_permanent(connector: SmsConnector, twilio: FakeTwilio) -> None:
    twilio.server.fail_next(Answer(404, b"nothing here"))
    with pytest.raises(PermanentFailure, match="HTTP 404"):
        connector.send(info(twilio.url), outbound())


def test_a_timeout_is_temporary(connector: SmsConnector, twilio: FakeTwilio,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(twilio_api, "API_READ_TIMEOUT", 0.2)

    def slow(request: Recorded) -> Answer:
        time.sleep(0.5)
        return Answer(201, {"sid": "SMlate"})

    twilio.server.routes.insert(0, ("POST", re.compile(r".*Messages\.json"), slow))
    with pytest.raises(TemporaryFailure, match="in time"):
        connector.send(info(twilio.url), outbound())


def test_an_unreachable_api_is_temporary(connector: SmsConnector) -> None:
    with pytest.raises(TemporaryFailure, match="could not be reached"):
        connector.send(info("http://127.0.0.1:9"), outbound())


def test_a_success_without_a_sid_is_not_retried(connector: SmsConnector, twilio: FakeTwilio) -> None:
    twilio.server.fail_next(Answer(201, {"status": "queued"}))
    with pytest.raises(PermanentFailure, match="no message sid"):
        connector.send(info(twilio.url), outbound())


def test_replies_without_text_or_with_attachments_are_refused(connector: SmsConnector, twilio: FakeTwilio) -> None:
    with pytest.raises(PermanentFailure, match="needs some text"):
        connector.send(info(twilio.url), outbound("  "))
    attachment = OutboundAttachment("a.pdf", "application/pdf", "/nonexistent/a.pdf", 10)
    with pytest.raises(PermanentFailure, match="text only"):
        connector.send(info(twilio.url), outbound(attachments=[attachment]))
    assert twilio.sent() == []


def test_a_messaging_service_picks_the_sender(connector: SmsConnector, twilio: FakeTwilio) -> None:
    connector.send(info(twilio.url, messaging_service_sid="MG" + "1" * 32), outbound())
    form = twilio.sent()[0].form()
    assert form["MessagingServiceSid"] == ["MG" + "1" * 32] and "From" not in form
    assert form["StatusCallback"] == [f"{PUBLIC_URL}/webhooks/twilio/sms/status?account=%2B15017122661"]


def test_no_public_url_means_no_status_callback(connector: SmsConnector, twilio: FakeTwilio) -> None:
    account = AccountInfo(id=1, channel="sms", address=NUMBER, config=info(twilio.url).config)
    connector.send(account, outbound())
    assert "StatusCallback" not in twilio.sent()[0].form()


def test_clients_are_shared_per_credentials_and_base(twilio: FakeTwilio) -> None:
    one = twilio_api.client(ACCOUNT_SID, AUTH_TOKEN, twilio.url)
    assert twilio_api.client(ACCOUNT_SID, AUTH_TOKEN, twilio.url) is one
    assert twilio_api.client(ACCOUNT_SID, "rotated", twilio.url) is not one
    assert twilio_api.client(ACCOUNT_SID, AUTH_TOKEN, "https://api.twilio.com") is not one
    assert one.api.base_url == twilio.url


def test_concurrent_sends_each_get_their_own_sid(connector: SmsConnector, twilio: FakeTwilio) -> None:
    results: list[str] = []
    errors: list[BaseException] = []

    def send(n: int) -> None:
        try:
            results.append(connector.send(info(twilio.url), outbound(f"message {n}")).provider_message_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not errors
    assert len(set(results)) == 12
    assert {r.form()["Body"][0] for r in twilio.sent()} == {f"message {n}" for n in range(12)}
