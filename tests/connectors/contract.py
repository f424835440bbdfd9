"""The checks every channel connector passes (issue: "one contract test mixin").

A connector's test module subclasses `ConnectorContract` and supplies the provider's side: a `provider`
fixture (a local server speaking the provider's API, wrapped as a `ProviderDouble`), an account configured
to talk to it, and signed requests built from the provider's documented payloads under
tests/fixtures/<connector>/. The mixin then checks, through the real URL routes and the real outbox:
signed fixture in -> exactly one message; the same again -> still one; a bad signature -> 403 and nothing
stored; malformed -> 400 with a reason; an event the hub does not handle -> acknowledged; oversized ->
413; a reply -> the provider's API gets the right request; provider errors -> a retry, or a failure the
agent sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import pytest
from django.test import Client

from hub.actions.outbound import do_send_reply
from hub.models import ChannelAccount, Conversation, Message
from hub.taskqueue import runner
from tests import factories as f


@dataclass(frozen=True)
class WebhookCall:
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    method: str = "POST"


class ProviderDouble(Protocol):
    def sent(self) -> list[Any]:
        """The outbound message requests the provider received, oldest first."""

    def fail_temporarily(self) -> None:
        """Answer the next send as the provider does when a retry may work (429, 5xx, SMTP 4xx)."""

    def fail_permanently(self) -> None:
        """Answer the next send as the provider does when it refuses the message (4xx, SMTP 5xx)."""


def call(client: Client, request: WebhookCall) -> Any:
    headers = {k: v for k, v in request.headers.items()}
    if request.method == "GET":
        return client.get(request.path, headers=headers)
    return client.generic(request.method, request.path, data=request.body, content_type=request.content_type,
                          headers=headers)


def inbound_count() -> int:
    return Message.objects.filter(direction=Message.Direction.IN).count()


@pytest.mark.django_db(transaction=True)
class ConnectorContract:
    connector_id: ClassVar[str]
    # Whether agents answer on this channel with text (a voice line does not: `send` refuses clearly).
    text_replies: ClassVar[bool] = True
    # Status codes a provider accepts as "received" for the connector's answers.
    ok_statuses: ClassVar[tuple[int, ...]] = (200, 201, 202, 204)

    # --- what a connector's tests supply ------------------------------------------------------------

    @pytest.fixture
    def provider(self) -> ProviderDouble:
        raise NotImplementedError

    @pytest.fixture
    def account(self, provider: ProviderDouble) -> ChannelAccount:
        raise NotImplementedError

    def signed_inbound(self, account: ChannelAccount) -> WebhookCall:
        """A provider fixture carrying one customer message, correctly signed."""
        raise NotImplementedError

    def badly_signed(self, account: ChannelAccount) -> WebhookCall:
        """The same fixture with a wrong signature (signed with another secret)."""
        raise NotImplementedError

    def malformed(self, account: ChannelAccount) -> WebhookCall:
        """Correctly signed, but a payload the connector cannot read."""
        raise NotImplementedError

    def unhandled(self, account: ChannelAccount) -> WebhookCall:
        """Correctly signed: an event type the hub has no use for."""
        raise NotImplementedError

    def check_outbound(self, request: Any, message: Message, account: ChannelAccount) -> None:
        """Assert that `request` (one of provider.sent()) is the provider API call for `message`."""
        raise NotImplementedError

    # --- the contract ---------------------------------------------------------------------------------

    def _first_message(self, client: Client, account: ChannelAccount) -> Message:
        response = call(client, self.signed_inbound(account))
        assert response.status_code in self.ok_statuses, response.content
        message = Message.objects.filter(direction=Message.Direction.IN).order_by("-id").first()
        assert message is not None
        return message

    def test_a_signed_fixture_stores_exactly_one_message(self, client: Client, account: ChannelAccount) -> None:
        message = self._first_message(client, account)
        assert inbound_count() == 1
        assert message.channel_account_id == account.pk
        assert message.author_kind == Message.Author.CUSTOMER
        assert message.provider_message_id

    def test_the_same_delivery_again_stores_nothing_more(self, client: Client, account: ChannelAccount) -> None:
        self._first_message(client, account)
        again = call(client, self.signed_inbound(account))
        assert again.status_code in self.ok_statuses, again.content
        assert inbound_count() == 1
        assert Conversation.objects.count() == 1

    def test_a_bad_signature_is_refused_and_nothing_stored(self, client: Client, account: ChannelAccount) -> None:
        response = call(client, self.badly_signed(account))
        assert response.status_code == 403
        assert b"forbidden" in response.content
        assert inbound_count() == 0 and Conversation.objects.count() == 0

    def test_a_malformed_payload_gets_400_with_a_reason(self, client: Client, account: ChannelAccount) -> None:
        response = call(client, self.malformed(account))
        assert response.status_code == 400
        assert len(response.content.strip()) > 10
        assert inbound_count() == 0

    def test_an_event_the_hub_does_not_handle_is_acknowledged(self, client: Client,
                                                              account: ChannelAccount) -> None:
        response = call(client, self.unhandled(account))
        assert response.status_code in self.ok_statuses, response.content
        assert inbound_count() == 0

    def test_an_oversized_body_gets_413(self, client: Client, account: ChannelAccount, settings: Any) -> None:
        settings.HUB_WEBHOOK_MAX_BYTES = 4096
        request = self.signed_inbound(account)
        big = WebhookCall(request.path, request.body + b" " * 5000, request.headers, request.content_type)
        response = call(client, big)
        assert response.status_code == 413
        assert inbound_count() == 0

    def test_a_reply_reaches_the_provider_api(self, client: Client, account: ChannelAccount,
                                              provider: ProviderDouble) -> None:
        conversation = self._first_message(client, account).conversation
        reply = do_send_reply(f.agent(), conversation, "Thanks, we are on it. 谢谢, 我们正在处理。")
        reply.refresh_from_db()
        if not self.text_replies:
            # Refused at once with a reason the agent can act on, never sent to the log connector.
            assert reply.status == Message.Status.FAILED and len(reply.failure_reason) > 20
            assert provider.sent() == []
            return
        assert reply.status in (Message.Status.SENT, Message.Status.DELIVERED), reply.failure_reason
        assert reply.provider_message_id and not reply.provider_message_id.startswith("log-")
        sent = provider.sent()
        assert len(sent) == 1
        self.check_outbound(sent[0], reply, account)

    def test_a_temporary_provider_error_is_retried(self, client: Client, account: ChannelAccount,
                                                   provider: ProviderDouble) -> None:
        if not self.text_replies:
            pytest.skip("this channel takes no text replies")
        conversation = self._first_message(client, account).conversation
        provider.fail_temporarily()
        reply = do_send_reply(f.agent(), conversation, "One moment please")
        reply.refresh_from_db()
        assert reply.status == Message.Status.QUEUED
        assert reply.attempts == 1 and reply.failure_reason
        assert runner.drain() >= 1
        reply.refresh_from_db()
        assert reply.status == Message.Status.SENT, reply.failure_reason
        assert len(provider.sent()) == 2

    def test_a_permanent_provider_error_fails_the_message_visibly(self, client: Client, account: ChannelAccount,
                                                                  provider: ProviderDouble) -> None:
        if not self.text_replies:
            pytest.skip("this channel takes no text replies")
        conversation = self._first_message(client, account).conversation
        provider.fail_permanently()
        reply = do_send_reply(f.agent(), conversation, "Hello?")
        reply.refresh_from_db()
        assert reply.status == Message.Status.FAILED
        assert len(reply.failure_reason) > 10
        assert runner.drain() == 0
