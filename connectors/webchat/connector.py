"""The web chat connector: delivery is the visitor's own connection reading the reply from the database."""

from __future__ import annotations

from connectors.base import AccountInfo, Capability, Connector, OutboundMessage, SendResult


def provider_id(message_id: int) -> str:
    """The provider id of an agent's reply: derived from the hub's id, so that a retried delivery (a
    broker redelivery after a crash) reports the same id and the widget's receipts find the message."""
    return f"webchat-{message_id}"


class WebchatConnector(Connector):
    id = "webchat"
    name = "Web chat"
    identity_kind = "webchat"
    capabilities = frozenset({Capability.TEXT, Capability.ATTACHMENTS, Capability.DELIVERY_RECEIPTS})

    def send(self, account: AccountInfo, message: OutboundMessage) -> SendResult:
        # No I/O: the message row is what the visitor's connection projects and sends; the widget then
        # reports delivered and read, which the hub applies as delivery statuses.
        return SendResult(provider_message_id=provider_id(message.message_id))
