"""The SMS connector (connectors/sms) against the shared contract, with a local server speaking Twilio's
Messages API. The helpers here (the fake Twilio, signed webhook requests) serve tests/connectors/test_sms.py
too."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from connectors.sms import twilio_api
from hub.models import ChannelAccount, Message
from tests.connectors.contract import ConnectorContract, WebhookCall
from tests.connectors.provider import Answer, FakeProvider, Recorded

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sms"
PUBLIC_URL = "https://hub.example.com"
ACCOUNT_SID = "AC3f9c0e5b2d7a41e8b6c4d2a19f0e7b35"  # the fixtures' AccountSid
AUTH_TOKEN = "12345678901234567890123456789012"
NUMBER = "+15017122661"  # the fixtures' To: the hub's Twilio number
CUSTOMER = "+15558675310"  # the fixtures' From
FORM = "application/x-www-form-urlencoded"
MESSAGES_PATH = r"/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages\.json"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def fields(name: str, **changes: str | None) -> dict[str, str]:
    """A fixture's form fields; a change to None removes the field."""
    values = dict(fixture(name)["fields"])
    for key, value in changes.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    return values


def twilio_post(path: str, params: dict[str, str], token: str = AUTH_TOKEN, *, signed_url: str | None = None,
                query: str = "") -> WebhookCall:
    """A webhook request signed the way Twilio signs it: the public URL it was given plus the sorted
    form fields, HMAC-SHA1 with the auth token."""
    url = signed_url or PUBLIC_URL + path + (f"?{query}" if query else "")
    signature = RequestValidator(token).compute_signature(url, params)
    return WebhookCall(path + (f"?{query}" if query else ""), urlencode(params).encode(),
                       {"X-Twilio-Signature": signature}, content_type=FORM)


def inbound(params: dict[str, str], **kw: Any) -> WebhookCall:
    return twilio_post("/webhooks/twilio/sms", params, **kw)


def status_callback(params: dict[str, str], **kw: Any) -> WebhookCall:
    return twilio_post("/webhooks/twilio/sms/status", params, **kw)


def basic_auth(request: Recorded) -> str:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    assert scheme == "Basic"
    return base64.b64decode(encoded).decode()


class FakeTwilio:
    """Twilio's Messages API and media URLs, as documented: form-encoded POSTs with basic auth answered
    with the Message resource (201), errors as {"code", "message", "more_info", "status"}."""

    def __init__(self, server: FakeProvider) -> None:
        self.server = server
        self.url = server.url
        self.media: dict[str, Answer] = {}
        self._sids = itertools.count(1)
        server.route("POST", MESSAGES_PATH, self._create)
        server.route("GET", r"/2010-04-01/Accounts/AC[0-9a-f]{32}/Messages/\w+/Media/\w+", self._media)
        server.route("GET", r"/cdn/.+", self._cdn)

    def _create(self, request: Recorded) -> Answer:
        if basic_auth(request) != f"{ACCOUNT_SID}:{AUTH_TOKEN}":
            return Answer(401, {"code": 20003, "message": "Authenticate",
                                "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401})
        form = {k: v[0] for k, v in request.form().items()}
        resource = dict(fixture("message_created.json")["body"])
        resource.update(sid=f"SM{next(self._sids):032x}", to=form.get("To"), body=form.get("Body"),
                        **{"from": form.get("From"), "messaging_service_sid": form.get("MessagingServiceSid")})
        return Answer(201, resource)

    def _media(self, request: Recorded) -> Answer:
        if basic_auth(request) != f"{ACCOUNT_SID}:{AUTH_TOKEN}":
            return Answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
        media_sid = request.path.rsplit("/", 1)[1]
        # Twilio answers a media URL with a redirect to the file on its media CDN.
        return Answer(307, b"", {"Location": f"/cdn/{media_sid}"})

    def _cdn(self, request: Recorded) -> Answer:
        return self.media.get(request.path.rsplit("/", 1)[1], Answer(404, b"not found"))

    def media_url(self, media_sid: str, message_sid: str = "MM6e4d2c0b9a8f47e6d5c4b3a29f8e7d6c") -> str:
        return f"{self.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message_sid}/Media/{media_sid}"

    def sent(self) -> list[Recorded]:
        return [r for r in self.server.requests if r.method == "POST" and r.path.endswith("/Messages.json")]

    def requests_to(self, prefix: str) -> list[Recorded]:
        return [r for r in self.server.requests if r.path.startswith(prefix)]

    def fail_temporarily(self) -> None:
        self.server.fail_next(Answer(503, {"code": 20503, "message": "Service Unavailable",
                                           "more_info": "https://www.twilio.com/docs/errors/20503", "status": 503}))

    def fail_permanently(self) -> None:
        error = fixture("error_21211.json")
        self.server.fail_next(Answer(error["_status"], error["body"]))


@pytest.fixture(autouse=True)
def public_url(monkeypatch: pytest.MonkeyPatch) -> str:
    # The hub sits behind a TLS-terminating proxy: Twilio signs https://hub.example.com/..., Django sees
    # http://testserver/...
    monkeypatch.setenv("HUB_PUBLIC_URL", PUBLIC_URL)
    return PUBLIC_URL


@pytest.fixture(autouse=True)
def fresh_clients() -> Iterator[None]:
    twilio_api.client.cache_clear()
    yield
    twilio_api.client.cache_clear()


@pytest.fixture(scope="module")
def twilio_server() -> Iterator[FakeProvider]:
    # One server per module, its routes replaced by each test.
    server = FakeProvider()
    yield server
    server.close()


@pytest.fixture
def twilio(twilio_server: FakeProvider) -> FakeTwilio:
    twilio_server.routes.clear()
    twilio_server.reset()  # a failure a test queued but did not use must not leak into the next
    return FakeTwilio(twilio_server)


def sms_account(api_base: str, **config: Any) -> ChannelAccount:
    settings = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "api_base": api_base, **config}
    return ChannelAccount.objects.create(channel="sms", name="Support line", address=NUMBER, config=settings)


class TestSmsContract(ConnectorContract):
    connector_id = "sms"

    @pytest.fixture
    def provider(self, twilio: FakeTwilio) -> FakeTwilio:
        return twilio

    @pytest.fixture
    def account(self, provider: FakeTwilio) -> ChannelAccount:
        return sms_account(provider.url)

    def signed_inbound(self, account: ChannelAccount) -> WebhookCall:
        return inbound(fields("inbound_sms.json"))

    def badly_signed(self, account: ChannelAccount) -> WebhookCall:
        return inbound(fields("inbound_sms.json"), token="another-accounts-token")

    def malformed(self, account: ChannelAccount) -> WebhookCall:
        return inbound(fields("inbound_sms.json", MessageSid=None, SmsSid=None, SmsMessageSid=None))

    def unhandled(self, account: ChannelAccount) -> WebhookCall:
        # A report on a message the hub never sent (sent from the Twilio console, say).
        return status_callback(fields("status_delivered.json"))

    def check_outbound(self, request: Recorded, message: Message, account: ChannelAccount) -> None:
        assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        assert basic_auth(request) == f"{ACCOUNT_SID}:{AUTH_TOKEN}"
        assert request.headers["content-type"].startswith(FORM)
        form = request.form()
        assert form == {"To": [CUSTOMER], "From": [NUMBER], "Body": [message.text],
                        "StatusCallback": [f"{PUBLIC_URL}/webhooks/twilio/sms/status"]}
        assert message.provider_message_id == "SM" + f"{1:032x}"
