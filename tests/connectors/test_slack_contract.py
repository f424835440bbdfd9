"""The Slack connector against the shared contract, with a local server speaking Slack's Web API, and the
helpers the other Slack tests share (documented payloads from tests/fixtures/slack/, signed with slack_sdk's
SignatureVerifier algorithm)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_sdk.signature import SignatureVerifier

from connectors.slack import mrkdwn
from hub.models import ChannelAccount, Message
from tests.connectors.contract import ConnectorContract, WebhookCall
from tests.connectors.provider import Answer, FakeProvider, Recorded

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "slack"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"
TEAM = "T123ABC456"
EVENTS_PATH = "/webhooks/slack/events"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


_event_ids = itertools.count(1)


def event_payload(name: str = "message_channels", *, event_id: str | None = None, **event: Any) -> dict[str, Any]:
    """A documented payload with a fresh event_id (Slack's examples all say Ev123ABC456) and event fields
    changed or removed (None)."""
    payload = copy.deepcopy(fixture(name))
    payload["event_id"] = event_id or f"EvTEST{next(_event_ids):06d}"
    for key, value in event.items():
        if value is None:
            payload["event"].pop(key, None)
        else:
            payload["event"][key] = value
    return payload


def sign(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    try:
        signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    except UnicodeDecodeError:  # slack_sdk signs text only; the same HMAC over bytes Slack would never send
        signature = "v0=" + hmac.new(secret.encode(), b"v0:%s:%s" % (stamp.encode(), body), hashlib.sha256).hexdigest()
    assert signature is not None
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


def signed(payload: Any, *, secret: str = SECRET, timestamp: int | None = None, **headers: str) -> WebhookCall:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return WebhookCall(EVENTS_PATH, body, {**sign(body, secret, timestamp), **headers})


class SlackProvider:
    """Slack's Web API as documented: chat.postMessage (JSON or form body, bot token as a Bearer header)
    answers {"ok": true, "channel", "ts", "message"} or {"ok": false, "error"}; rate limits are HTTP 429
    with Retry-After. Files are served under /files-pri/ like files.slack.com's url_private."""

    def __init__(self, server: FakeProvider) -> None:
        self.server = server
        self.url = server.url
        self.api_base = server.url + "/api/"
        self._ts = itertools.count(1)
        server.route("POST", "/api/chat.postMessage", self._post_message)
        server.route("GET", "/files-pri/.*", self._file)

    def _post_message(self, request: Recorded) -> Answer:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return Answer(200, {"ok": False, "error": "invalid_auth"})
        args = posted_args(request)
        channel = str(args.get("channel", ""))
        if not channel:
            return Answer(200, {"ok": False, "error": "channel_not_found"})
        if channel.startswith("U"):
            channel = "D" + channel[1:]  # a user id posts to the app's direct messages with that user
        ts = f"{1700000000 + next(self._ts)}.000200"
        message = {"type": "message", "subtype": "bot_message", "text": args.get("text", ""), "ts": ts,
                   "bot_id": "B0HUBBOT01"}
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        return Answer(200, {"ok": True, "channel": channel, "ts": ts, "message": message})

    def _file(self, request: Recorded) -> Answer:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return Answer(200, b"<html>sign in</html>", {"Content-Type": "text/html"})
        if "missing" in request.path:
            return Answer(404, b"not found")
        if "busy" in request.path:
            return Answer(503, b"busy")
        return Answer(200, PNG, {"Content-Type": "image/png"})

    def sent(self) -> list[Recorded]:
        return [r for r in self.server.requests if r.path == "/api/chat.postMessage"]

    def fail_temporarily(self) -> None:
        self.server.fail_next(Answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}))

    def fail_permanently(self) -> None:
        self.server.fail_next(Answer(200, {"ok": False, "error": "channel_not_found"}))


def posted_args(request: Recorded) -> dict[str, Any]:
    if request.headers.get("content-type", "").startswith("application/json"):
        data = request.json()
        return data if isinstance(data, dict) else {}
    return {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}


def slack_account(provider: SlackProvider, address: str = TEAM, **config: Any) -> ChannelAccount:
    return ChannelAccount.objects.create(channel="slack", name="Acme workspace", address=address,
                                         config={"signing_secret": SECRET, "bot_token": TOKEN,
                                                 "api_base": provider.api_base, **config})


def running_slack() -> Iterator[SlackProvider]:
    server = FakeProvider()
    try:
        yield SlackProvider(server)
    finally:
        server.close()


class TestSlackContract(ConnectorContract):
    connector_id = "slack"

    @pytest.fixture
    def provider(self) -> Iterator[SlackProvider]:
        yield from running_slack()

    @pytest.fixture
    def account(self, provider: SlackProvider) -> ChannelAccount:
        return slack_account(provider)

    def signed_inbound(self, account: ChannelAccount) -> WebhookCall:
        return signed(event_payload(event_id="Ev123ABC456"))

    def badly_signed(self, account: ChannelAccount) -> WebhookCall:
        return signed(event_payload(), secret="not-the-signing-secret")

    def malformed(self, account: ChannelAccount) -> WebhookCall:
        payload = event_payload()
        payload["event"] = "Live long and prospect."
        return signed(payload)

    def unhandled(self, account: ChannelAccount) -> WebhookCall:
        return signed(event_payload("reaction_added"))

    def check_outbound(self, request: Recorded, message: Message, account: ChannelAccount) -> None:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        args = posted_args(request)
        assert args["channel"] == "C123ABC456"
        assert args["thread_ts"] == "1355517523.000005"  # the customer's message starts the thread
        assert args["text"] == mrkdwn.escape(message.text)
        # "<channel>:<ts>" of the posted message, the same form as inbound ids (an echo would dedupe).
        assert re.fullmatch(r"C123ABC456:17\d{8}\.000200", message.provider_message_id)
