"""The voice connector passes the shared connector contract: a signed incoming-call webhook (Twilio's
documented parameters) stores one `call` message, again still one; bad signatures, malformed and unhandled
requests get 403, 400 and 200. Voice takes no text replies, so the outbound half is `send` refusing."""

from __future__ import annotations

from typing import Any

import pytest

from hub.models import ChannelAccount, Message
from tests.connectors.contract import ConnectorContract, WebhookCall
from tests.connectors.test_voice_support import CALL_SID, payload, signed, voice_account


class NoProvider:
    """Voice makes no API calls: nothing is ever sent to Twilio's REST API."""

    def sent(self) -> list[Any]:
        return []

    def fail_temporarily(self) -> None:
        pass

    def fail_permanently(self) -> None:
        pass


class TestVoiceContract(ConnectorContract):
    connector_id = "voice"
    text_replies = False

    @pytest.fixture
    def provider(self) -> NoProvider:
        return NoProvider()

    @pytest.fixture
    def account(self, provider: NoProvider) -> ChannelAccount:
        return voice_account()

    def signed_inbound(self, account: ChannelAccount) -> WebhookCall:
        return signed("/webhooks/twilio/voice", payload("incoming_call"))

    def badly_signed(self, account: ChannelAccount) -> WebhookCall:
        return signed("/webhooks/twilio/voice", payload("incoming_call"), token="not-the-auth-token")

    def malformed(self, account: ChannelAccount) -> WebhookCall:
        return signed("/webhooks/twilio/voice", payload("incoming_call", CallSid=None))

    def unhandled(self, account: ChannelAccount) -> WebhookCall:
        # A recording has started: the completed callback follows with the file; nothing to store yet.
        return signed("/webhooks/twilio/voice/recording",
                      payload("recording_completed", RecordingStatus="in-progress", RecordingUrl=None),
                      query={"account": account.address})

    def check_outbound(self, request: Any, message: Message, account: ChannelAccount) -> None:
        raise AssertionError("voice sends nothing")

    def test_the_stored_message_is_the_call(self, client: Any, account: ChannelAccount) -> None:
        message = self._first_message(client, account)
        assert message.kind == Message.Kind.CALL
        assert message.provider_message_id == f"call:{CALL_SID}"
        assert message.conversation.channel == "voice"
        assert message.author_identity is not None and message.author_identity.address == "+14155550100"
