"""Offers over /ws/agent/: the offer arrives as an event, the agent answers with a frame, the outcome comes
back as events (docs/protocol.md)."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async

from hub.actions.agents import do_set_presence
from hub.actions.ingestion import do_ingest_message
from hub.models import Conversation, RoutingOffer
from tests import factories as f
from tests.test_realtime import connect, layer, receive_events  # noqa: F401 - `layer` is a fixture

# Both channel layers: the in-memory one and channels-redis (the `layer` fixture of test_realtime).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("layer")]


def _available_agent(name: str) -> Any:
    user = f.agent(name)
    do_set_presence(None, user.agent, "available")  # type: ignore[attr-defined]
    return user


def _chat(address: str) -> Conversation:
    inbound = f.inbound("hi", kind="webchat", address=address)
    return do_ingest_message(f.account("webchat"), inbound).message.conversation


@pytest.mark.asyncio
async def test_offer_event_then_accept_frame_assigns() -> None:
    alice = await database_sync_to_async(_available_agent)("alice")
    comm, hello = await connect(alice)
    assert hello["type"] == "hello"
    conv = await database_sync_to_async(_chat)("visitor-1")
    frames = await receive_events(comm, 3)  # conversation.created, message.created, offer.created
    assert [fr["event"]["type"] for fr in frames] == ["conversation.created", "message.created", "offer.created"]
    offer = frames[2]["event"]
    assert offer["conversation"]["id"] == conv.pk
    await comm.send_json_to({"type": "offer.accept", "offer_id": offer["offer_id"]})
    # The assignment, then the offer it closed: an accept publishes last (hub/actions/routing.py).
    assigned, closed = await receive_events(comm, 2)
    assert closed["event"] == {"type": "offer.closed", "offer_id": offer["offer_id"], "conversation_id": conv.pk,
                               "outcome": "accepted"}
    assert assigned["event"]["type"] == "conversation.assigned" and assigned["event"]["assignee_id"] == alice.pk
    assert assigned["seq"] + 1 == closed["seq"]
    # The same offer again: a clear error, the connection stays open.
    await comm.send_json_to({"type": "offer.accept", "offer_id": offer["offer_id"]})
    error = await comm.receive_json_from(timeout=5)
    assert error == {"type": "error", "reason": "this offer is no longer open (accepted)",
                     "offer_id": offer["offer_id"]}
    await comm.send_json_to({"type": "ping"})
    assert (await comm.receive_json_from(timeout=5))["type"] == "pong"
    await comm.disconnect()


@pytest.mark.asyncio
async def test_decline_frame_and_bad_offer_ids() -> None:
    alice = await database_sync_to_async(_available_agent)("alice")
    comm, _ = await connect(alice)
    await database_sync_to_async(_chat)("visitor-2")
    offer = (await receive_events(comm, 3))[2]["event"]
    for bad, reason in (("12", "offer_id must be an integer"), (True, "offer_id must be an integer"),
                        (offer["offer_id"] + 999, "no such offer")):
        await comm.send_json_to({"type": "offer.decline", "offer_id": bad})
        assert await comm.receive_json_from(timeout=5) == {"type": "error", "reason": reason, "offer_id": bad}
    await comm.send_json_to({"type": "offer.decline", "offer_id": offer["offer_id"]})
    (closed,) = await receive_events(comm, 1)
    assert closed["event"]["outcome"] == "declined"
    outcome = await database_sync_to_async(lambda: RoutingOffer.objects.get(pk=offer["offer_id"]).outcome)()
    assert outcome == "declined"
    await comm.disconnect()
