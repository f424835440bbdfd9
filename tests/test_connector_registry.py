"""Connectors are plugins: the built-in list plus the `hub.connectors` entry-point group."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

import pytest

from connectors import registry
from connectors.base import AccountInfo, Connector, OutboundMessage, SendResult


class PigeonConnector(Connector):
    id = "pigeon"
    name = "Carrier pigeon"
    identity_kind = "loft"

    def send(self, account: AccountInfo, message: OutboundMessage) -> SendResult:
        return SendResult(provider_message_id=f"coo-{message.message_id}")


class NotAConnector:
    id = "nope"


def _with_entry_points(monkeypatch: pytest.MonkeyPatch, eps: list[EntryPoint]) -> None:
    def fake(group: str) -> list[EntryPoint]:
        assert group == registry.ENTRY_POINT_GROUP
        return eps

    monkeypatch.setattr(registry, "entry_points", fake)
    registry.connectors.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_cache() -> Any:
    registry.connectors.cache_clear()
    yield
    registry.connectors.cache_clear()


def test_builtin_log_connector_is_always_there() -> None:
    assert registry.get("log") is not None
    assert registry.get("no-such-channel") is None


def test_a_third_party_connector_is_found_by_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    ep = EntryPoint(name="pigeon", value=f"{__name__}:PigeonConnector", group=registry.ENTRY_POINT_GROUP)
    _with_entry_points(monkeypatch, [ep])
    connector = registry.get("pigeon")
    assert isinstance(connector, PigeonConnector)


def test_a_broken_plugin_is_skipped_not_fatal(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    eps = [
        EntryPoint(name="missing", value="no_such_module_xyz:Thing", group=registry.ENTRY_POINT_GROUP),
        EntryPoint(name="nope", value=f"{__name__}:NotAConnector", group=registry.ENTRY_POINT_GROUP),
        EntryPoint(name="pigeon", value=f"{__name__}:PigeonConnector", group=registry.ENTRY_POINT_GROUP),
    ]
    _with_entry_points(monkeypatch, eps)
    found = registry.connectors()
    assert "pigeon" in found and "nope" not in found and "log" in found
    assert "could not be loaded" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_plugin_channel_works_end_to_end_without_hub_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A channel the hub has never heard of: ingest, reply, deliver through the plugin."""
    from connectors.base import InboundMessage, Sender
    from hub.actions.ingestion import do_ingest_message
    from hub.actions.outbound import do_send_reply
    from hub.models import ChannelAccount
    from tests import factories as f

    ep = EntryPoint(name="pigeon", value=f"{__name__}:PigeonConnector", group=registry.ENTRY_POINT_GROUP)
    _with_entry_points(monkeypatch, [ep])
    account = ChannelAccount.objects.create(channel="pigeon", name="Loft", address="loft-1")
    result = do_ingest_message(account, InboundMessage("p1", Sender("loft", "bird-42"), text="coo"))
    reply = do_send_reply(f.agent("ann"), result.message.conversation, "coo coo")
    reply.refresh_from_db()
    assert reply.status == "sent" and reply.provider_message_id == f"coo-{reply.pk}"
    assert reply.metadata["to"] == "bird-42"
