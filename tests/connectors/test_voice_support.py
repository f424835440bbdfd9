"""What the voice tests share (no tests here): the Twilio account, the documented request fixtures under
tests/fixtures/voice/, requests signed with twilio's own RequestValidator, and TwiML reading."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from django.test import Client
from twilio.request_validator import RequestValidator

from hub import config
from hub.models import ChannelAccount
from tests import factories as f
from tests.connectors.contract import WebhookCall, call

SID = "AC3f9b2d8e6a1c4b7e9d0f2a5c8e1b4d7f"
TOKEN = "f4c1e7a9b2d5086e3c9a1f7b4d2e8c60"
NUMBER = "+15005550006"  # HUB_VOICE_NUMBER's default: the default voice account's address
CALLER = "+14155550100"
CALL_SID = "CA5f7d8b6a9c2e41f0b3d6e8a1c4f7b2d9"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "voice"
FORM = "application/x-www-form-urlencoded"


def voice_account(**settings: Any) -> ChannelAccount:
    account = f.account("voice")
    account.config = {"account_sid": SID, "auth_token": TOKEN, **settings}
    account.save()
    return account


def payload(name: str, **changes: str | None) -> dict[str, str]:
    """A documented Twilio request from tests/fixtures/voice/, with fields changed (None: left out)."""
    fields: dict[str, str] = json.loads((FIXTURES / f"{name}.json").read_text())
    for key, value in changes.items():
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = value
    return fields


def signed(path: str, fields: dict[str, str], *, query: dict[str, str] | None = None, token: str = TOKEN,
           method: str = "POST") -> WebhookCall:
    """The request as Twilio sends it to HUB_PUBLIC_URL + path: form fields signed with the auth token (a
    number configured for GET gets them in the query string instead)."""
    if method == "GET":
        query = {**(query or {}), **fields}
    return _signed(path + (f"?{urlencode(query)}" if query else ""), fields if method == "POST" else {}, token,
                   method)


def _signed(target: str, fields: dict[str, str], token: str = TOKEN, method: str = "POST") -> WebhookCall:
    signature = RequestValidator(token).compute_signature(config.public_url() + target, fields)
    body = urlencode(fields).encode() if method == "POST" else b""
    return WebhookCall(target, body, {"X-Twilio-Signature": signature}, FORM, method)


def post(client: Client, endpoint: str, fields: dict[str, str], *, account: str | None = NUMBER,
         **kw: Any) -> Any:
    """A request to /webhooks/twilio/voice[/endpoint]; callbacks name the account as the hub's TwiML does."""
    path = "/webhooks/twilio/voice" + (f"/{endpoint}" if endpoint else "")
    query = {"account": account} if endpoint not in ("", "status") and account else None
    return call(client, signed(path, fields, query=kw.pop("query", query), **kw))


def follow(client: Client, url: str, fields: dict[str, str]) -> Any:
    """Twilio requesting a URL the hub's TwiML gave it (an action, the wait URL, a callback), as given."""
    public = config.public_url()
    assert url.startswith(public + "/webhooks/twilio/voice/"), url
    return call(client, _signed(url[len(public):], fields))


def twiml(response: Any) -> ET.Element:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/xml"), response["Content-Type"]
    root = ET.fromstring(response.content)
    assert root.tag == "Response"
    return root


def verbs(root: ET.Element) -> list[str]:
    return [child.tag for child in root]


def incoming(client: Client, **changes: str | None) -> ET.Element:
    return twiml(post(client, "", payload("incoming_call", **changes)))
