"""The Weibo connector against the shared connector contract, with the platform's documented push payloads
and a local server speaking its reply APIs."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from hub.models import ChannelAccount, Message
from tests.connectors.contract import ConnectorContract, WebhookCall
from tests.connectors.provider import Recorded
from tests.connectors.test_weibo_support import (
    CUSTOMER_UID,
    TOKEN,
    WeiboProvider,
    fixture,
    push,
    serve_platform,
    weibo_account,
)


@pytest.fixture(scope="module")
def platform() -> Iterator[WeiboProvider]:
    yield from serve_platform()


class TestWeiboContract(ConnectorContract):
    connector_id = "social"

    @pytest.fixture
    def provider(self, platform: WeiboProvider) -> WeiboProvider:
        platform.reset()
        return platform

    @pytest.fixture
    def account(self, provider: WeiboProvider) -> ChannelAccount:
        return weibo_account(provider.url)

    def signed_inbound(self, account: ChannelAccount) -> WebhookCall:
        return push(fixture("dm_text.json"))

    def badly_signed(self, account: ChannelAccount) -> WebhookCall:
        return push(fixture("dm_text.json"), secret="another-apps-secret")

    def malformed(self, account: ChannelAccount) -> WebhookCall:
        return push(b'{"type": "text", "receiver_id": 1902538057, "sender_id": ')

    def unhandled(self, account: ChannelAccount) -> WebhookCall:
        return push(fixture("event_click.json"))

    def check_outbound(self, request: Recorded, message: Message, account: ChannelAccount) -> None:
        assert request.path == "/2/messages/reply.json"
        form = request.form()
        assert form["access_token"] == [TOKEN]
        assert form["receiver_id"] == [CUSTOMER_UID]
        assert form["type"] == ["text"]
        assert json.loads(form["data"][0]) == {"text": message.text}
        assert "谢谢" in json.loads(form["data"][0])["text"]
