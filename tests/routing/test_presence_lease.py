"""An agent who leaves without saying so (the inbox closed, the network or the machine gone) stops getting
work: their open connections keep a lease on their presence, and once it runs out they are set offline, the
ringing offer goes to someone else and what awaits their answer goes back in line. Signing out sets them
offline at once; routing setting them away after missed offers says why (docs/routing.md, "Presence")."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from hub.actions.agents import do_expire_presence_leases, do_renew_presence_leases, do_set_presence
from hub.actions.ingestion import do_ingest_message
from hub.models import AgentProfile, AuditLog, Conversation, RoutingEntry, RoutingOffer
from routing import adapter
from tests import factories as f
from tests.routing.test_adapter import events_for, last_change
from tests.test_realtime import connect, layer  # noqa: F401 - `layer` is a fixture
from web import presence_lease

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_connections_left_over() -> Any:
    """Connections another test left open count in this process's registry, and user ids are reused."""
    presence_lease._open.clear()
    yield
    presence_lease._open.clear()


def available(name: str) -> User:
    user = f.agent(name)
    do_set_presence(None, user.agent, "available")  # type: ignore[attr-defined]
    return user  # type: ignore[return-value]


def chat(address: str) -> Conversation:
    inbound = f.inbound("hello", kind="webchat", address=address)
    return do_ingest_message(f.account("webchat"), inbound).message.conversation


def profile(user: User) -> AgentProfile:
    return AgentProfile.objects.get(user=user)


def later(seconds: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=seconds)


def test_an_expired_lease_sets_the_agent_offline_and_routing_moves_on(settings: Any) -> None:
    settings.HUB_PRESENCE_LEASE_SECONDS = 60
    alice = available("alice")
    do_renew_presence_leases([alice.pk])
    conv = chat("v1")
    offer = RoutingOffer.objects.get(conversation=conv)
    assert offer.agent == alice
    bob = available("bob")
    before = last_change()

    assert do_expire_presence_leases(later(30)) == 0  # within the lease: nothing changes
    assert profile(alice).presence == "available"

    assert do_expire_presence_leases(later(61)) == 1
    alice_now = profile(alice)
    assert (alice_now.presence, alice_now.presence_reason, alice_now.online_until) == ("offline", "disconnected",
                                                                                         None)
    # The ringing offer is withdrawn and the conversation goes to the agent who is there.
    assert RoutingOffer.objects.get(pk=offer.pk).outcome == "withdrawn"
    assert RoutingOffer.objects.filter(conversation=conv, agent=bob, outcome="pending").exists()
    changed = [e for e in events_for(alice, before) if e["type"] == "presence.changed"]
    assert changed == [{"type": "presence.changed", "agent_id": alice.pk, "presence": "offline",
                        "reason": "disconnected"}]
    assert AuditLog.objects.filter(action="agent.presence", data__reason="disconnected").count() == 1
    # Once offline with no lease, later sweeps leave the agent alone.
    assert do_expire_presence_leases(later(600)) == 0


def test_what_awaits_the_agents_answer_goes_back_in_line(settings: Any) -> None:
    alice = available("alice")
    do_renew_presence_leases([alice.pk])
    conv = chat("v1")
    offer = RoutingOffer.objects.get(conversation=conv)
    from hub.actions.routing import do_accept_offer

    do_accept_offer(alice, offer.pk)
    assert Conversation.objects.get(pk=conv.pk).assignee == alice
    do_expire_presence_leases(later(settings.HUB_PRESENCE_LEASE_SECONDS + 1))
    # The customer's message is unanswered: the conversation is handed back (requeue_on_offline).
    back = Conversation.objects.get(pk=conv.pk)
    assert back.assignee is None and RoutingEntry.objects.filter(pk=conv.pk).exists()


def test_renewing_keeps_the_agent_and_api_only_agents_have_no_lease(settings: Any) -> None:
    settings.HUB_PRESENCE_LEASE_SECONDS = 60
    alice, robot = available("alice"), available("robot")
    start = timezone.now()
    do_renew_presence_leases([alice.pk], now=start)
    do_renew_presence_leases([alice.pk], now=start + dt.timedelta(seconds=50))  # a connection still open
    assert do_expire_presence_leases(start + dt.timedelta(seconds=100)) == 0
    assert do_expire_presence_leases(start + dt.timedelta(seconds=111)) == 1
    assert profile(alice).presence == "offline"
    # An agent who works through the API only never had a lease: their presence is theirs to change.
    assert profile(robot).online_until is None and profile(robot).presence == "available"


def test_an_agent_already_away_keeps_away_and_loses_the_lease(settings: Any) -> None:
    alice = f.agent("alice")
    do_set_presence(None, alice.agent, "away")  # type: ignore[attr-defined]
    do_renew_presence_leases([alice.pk])
    do_expire_presence_leases(later(settings.HUB_PRESENCE_LEASE_SECONDS + 1))
    assert profile(alice).presence == "offline"  # away is still signed in: the shift ended without a word


def test_an_agent_on_a_call_keeps_busy_until_the_call_ends(settings: Any) -> None:
    alice = f.agent("alice")
    do_set_presence(None, alice.agent, "busy")  # type: ignore[attr-defined]
    do_renew_presence_leases([alice.pk])
    gone = later(settings.HUB_PRESENCE_LEASE_SECONDS + 1)
    assert do_expire_presence_leases(gone) == 0
    assert profile(alice).presence == "busy"
    do_set_presence(None, alice.agent, "available")  # type: ignore[attr-defined]  # the call ended
    assert do_expire_presence_leases(gone) == 1
    assert (profile(alice).presence, profile(alice).presence_reason) == ("offline", "disconnected")


def test_choosing_a_presence_clears_the_reason() -> None:
    alice = available("alice")
    do_set_presence(None, alice.agent, "away", reason="missed_offers")  # type: ignore[attr-defined]
    assert profile(alice).presence_reason == "missed_offers"
    do_set_presence(alice, alice.agent, "available")  # type: ignore[attr-defined]
    assert profile(alice).presence_reason == ""


def test_missed_offers_say_why_the_agent_is_away() -> None:
    alice = available("alice")
    before = last_change()
    for n, address in ((1, "v1"), (2, "v2"), (3, "v3")):
        chat(address)
        adapter.route(later(31 * n))
    assert (profile(alice).presence, profile(alice).presence_reason) == ("away", "missed_offers")
    changed = [e for e in events_for(alice, before) if e["type"] == "presence.changed"]
    assert changed[-1]["reason"] == "missed_offers"


def test_signing_out_sets_the_agent_offline_at_once() -> None:
    alice = available("alice")
    do_renew_presence_leases([alice.pk])
    client = Client()
    client.force_login(alice)
    response = client.post("/logout/")
    assert response.status_code == 302
    signed_out = profile(alice)
    assert (signed_out.presence, signed_out.presence_reason, signed_out.online_until) == ("offline", "signed_out",
                                                                                            None)


def test_the_inbox_page_carries_the_reason(settings: Any) -> None:
    alice = available("alice")
    do_set_presence(None, alice.agent, "away", reason="missed_offers")  # type: ignore[attr-defined]
    client = Client()
    client.force_login(alice)
    page = client.get("/inbox/").content.decode()
    assert '"presence_reason": "missed_offers"' in page
    assert "offers in a row went unanswered" in page


@pytest.mark.asyncio
@pytest.mark.usefixtures("layer")
async def test_an_open_connection_renews_the_lease_and_closing_lets_it_run_out(settings: Any) -> None:
    settings.HUB_PRESENCE_LEASE_SECONDS = 3  # renewed every second
    alice = await database_sync_to_async(available)("alice")
    comm, hello = await connect(alice)
    assert hello["type"] == "hello"
    first = (await database_sync_to_async(profile)(alice)).online_until
    assert first is not None  # leased at connect
    renewed = first
    for _ in range(50):  # renewed within about a second; a slow machine gets five
        await asyncio.sleep(0.1)
        renewed = (await database_sync_to_async(profile)(alice)).online_until
        if renewed is not None and renewed > first:
            break
    assert renewed is not None and renewed > first
    assert alice.pk in presence_lease.open_here()
    await comm.disconnect()
    assert alice.pk not in presence_lease.open_here()
    await asyncio.sleep(0.3)  # a renewal already under way when the connection closed lands
    settled = (await database_sync_to_async(profile)(alice)).online_until
    await asyncio.sleep(1.5)  # more than a renewal interval
    assert (await database_sync_to_async(profile)(alice)).online_until == settled  # nobody renews it now
    assert await database_sync_to_async(do_expire_presence_leases)(later(3.5)) == 1
    assert (await database_sync_to_async(profile)(alice)).presence == "offline"


@pytest.mark.asyncio
@pytest.mark.usefixtures("layer")
async def test_two_connections_keep_the_lease_until_the_last_closes(settings: Any) -> None:
    settings.HUB_PRESENCE_LEASE_SECONDS = 3
    alice = await database_sync_to_async(available)("alice")
    one, _ = await connect(alice)
    two, _ = await connect(alice)
    await one.disconnect()
    assert alice.pk in presence_lease.open_here()
    await two.disconnect()
    assert alice.pk not in presence_lease.open_here()
