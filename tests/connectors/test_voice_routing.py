"""A call holds its agent exclusively while it lasts, not after: routing counts an assigned voice
conversation on the voice channel (exclusive) while its call is ringing or in progress, and as after-call
work (ordinary work: chats still come; a new call waits until it is resolved) once the call is over."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from hub.actions.agents import do_set_presence
from hub.actions.calls import AFTER_CALL_CHANNEL
from hub.actions.conversations import do_assign
from hub.actions.ingestion import do_ingest_message
from hub.actions.routing import do_accept_offer
from hub.models import ChannelAccount, Conversation, Message, RoutingEntry, RoutingOffer
from routing import adapter
from routing.core.engine import can_take
from tests import factories as f
from tests.connectors.test_voice_support import CALL_SID, follow, incoming, payload, post, twiml, voice_account

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def account() -> ChannelAccount:
    return voice_account()


def agent(name: str, presence: str = "available") -> User:
    user = f.agent(name)
    do_set_presence(None, user.agent, presence)  # type: ignore[attr-defined]
    return user  # type: ignore[return-value]


def chat(address: str = "visitor-1") -> Conversation:
    inbound = f.inbound("hello", kind="webchat", address=address)
    return do_ingest_message(f.account("webchat"), inbound).message.conversation


def load_of(user: User) -> dict[str, int]:
    record = adapter.load(timezone.now()).agents[user.pk]
    return {channel: n for channel, n in record.load.items() if n}


def answered_call(client: Client, user: User) -> Conversation:
    """A call routed to `user`, accepted, connected and answered on their Twilio Client."""
    enqueue = incoming(client)[0]
    conversation = Message.objects.get(provider_message_id=f"call:{CALL_SID}").conversation
    offer = RoutingOffer.objects.get(conversation=conversation, agent=user, outcome="pending")
    do_accept_offer(user, offer.pk)
    follow(client, enqueue.get("waitUrl", ""), payload("queue_wait"))
    dial = twiml(follow(client, enqueue.get("action", ""), payload("queue_result")))[0]
    twiml(follow(client, dial[0].get("statusCallback", ""), payload("agent_answered", To=f"client:{user.username}")))
    return conversation


def hang_up(client: Client) -> None:
    twiml(post(client, "dial-result", payload("dial_result"), query={"account": "+15005550006", "agent": "x"}))
    twiml(post(client, "status", payload("status_completed")))


def test_a_live_call_holds_its_agent_exclusively(client: Client, account: ChannelAccount) -> None:
    alice = agent("alice")
    call = answered_call(client, alice)
    assert load_of(alice) == {"voice": 1}
    waiting_chat = chat()
    assert not RoutingOffer.objects.filter(conversation=waiting_chat).exists()
    assert RoutingEntry.objects.get(pk=waiting_chat.pk).state == "waiting"
    assert Conversation.objects.get(pk=call.pk).assignee == alice


def test_once_the_call_is_over_it_counts_as_after_call_work(client: Client, account: ChannelAccount) -> None:
    alice = agent("alice")
    answered_call(client, alice)
    waiting_chat = chat()
    assert not RoutingOffer.objects.filter(conversation=waiting_chat).exists()  # while the call lasts
    hang_up(client)
    # The call's end is a routing event: the waiting chat is offered at once, beside the after-call work.
    assert load_of(alice) == {AFTER_CALL_CHANNEL: 1, "webchat": 1}
    assert RoutingOffer.objects.filter(conversation=waiting_chat, agent=alice, outcome="pending").exists()
    engine = adapter.load(timezone.now())
    assert engine.agents[alice.pk].offer == waiting_chat.pk


def test_once_the_call_is_over_the_agent_is_offered_chats_again(client: Client, account: ChannelAccount) -> None:
    alice = agent("alice")
    answered_call(client, alice)
    waiting_chat = chat()
    hang_up(client)
    adapter.route()
    assert RoutingOffer.objects.filter(conversation=waiting_chat, agent=alice, outcome="pending").exists()


def test_after_call_work_keeps_the_next_call_away_until_resolved(client: Client, account: ChannelAccount) -> None:
    alice = agent("alice")
    answered_call(client, alice)
    hang_up(client)
    incoming(client, CallSid="CA22222222222222222222222222222222", From="+14155550177")
    second = Message.objects.get(provider_message_id="call:CA22222222222222222222222222222222").conversation
    assert not RoutingOffer.objects.filter(conversation=second).exists()
    engine = adapter.load(timezone.now())
    assert not can_take(engine.agents[alice.pk], "voice", offer=True)


def test_a_call_that_lost_its_final_report_stops_holding_after_four_hours(client: Client,
                                                                          account: ChannelAccount) -> None:
    alice = agent("alice")
    call = answered_call(client, alice)
    assert load_of(alice) == {"voice": 1}
    Message.objects.filter(conversation=call, kind="call").update(created_at=timezone.now() - dt.timedelta(hours=5))
    assert load_of(alice) == {AFTER_CALL_CHANNEL: 1}


def test_a_voice_conversation_with_no_call_recorded_keeps_the_agent_to_itself(account: ChannelAccount) -> None:
    alice = agent("alice", presence="away")
    conversation = do_ingest_message(account, f.inbound("call", address="+14155550111")).message.conversation
    do_assign(None, conversation, alice)
    assert load_of(alice) == {"voice": 1}


def test_a_callback_task_goes_to_an_agent_free_to_call(client: Client, account: ChannelAccount) -> None:
    busy = agent("busy")
    chat("visitor-9")
    assert Conversation.objects.filter(assignee=busy).count() == 0  # offered, not yet accepted
    offer = RoutingOffer.objects.get(agent=busy, outcome="pending")
    do_accept_offer(busy, offer.pk)
    incoming(client)
    twiml(post(client, "queue-result", payload("queue_result", QueueResult="hangup")))
    task = Message.objects.get(provider_message_id=f"call:{CALL_SID}").conversation
    assert not RoutingOffer.objects.filter(conversation=task).exists()  # busy holds a chat
    free = agent("free")
    offered: Any = RoutingOffer.objects.get(conversation=task, outcome="pending")
    assert offered.agent == free
    do_accept_offer(free, offered.pk)
    # The callback task holds no live call: its agent still takes chats.
    assert load_of(free) == {AFTER_CALL_CHANNEL: 1}
