"""/ws/agent/: live events, sequence numbers and resume, on the in-memory layer and on channels-redis (the
pub/sub layer the hub runs on Redis)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import transaction
from django.test import Client

from hub.actions.agents import do_set_presence
from hub.actions.ingestion import do_ingest_message
from hub.asgi import application
from hub.events import publish as publish_module
from hub.events.layer_config import redis_channel_layer
from hub.events.schema import parse_event
from tests import factories as f
from tests.conftest import needs_service

pytestmark = [pytest.mark.django_db(transaction=True)]

REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_available() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:
        return str(exc)
    return None


@pytest.fixture(params=["memory", "redis"])
def layer(request: pytest.FixtureRequest, settings: Any) -> Iterator[str]:
    if request.param == "redis":
        problem = _redis_available()
        if problem:
            needs_service("Redis", problem)
        settings.CHANNEL_LAYERS = {"default": redis_channel_layer(REDIS_URL, prefix=f"hubtest-{uuid.uuid4().hex[:8]}")}
    else:
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "hub.events.memory_layer.HubInMemoryChannelLayer"}}
    yield request.param


def _session_cookie(user: Any) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def connect(user: Any, last_seq: int | None = None, origin: bytes = b"http://127.0.0.1:8000"
                  ) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    cookie = await database_sync_to_async(_session_cookie)(user)
    path = "/ws/agent/" + (f"?last_seq={last_seq}" if last_seq is not None else "")
    comm = WebsocketCommunicator(application, path, headers=[(b"origin", origin), (b"cookie", cookie),
                                                             (b"host", b"127.0.0.1:8000")])
    connected, code = await comm.connect(timeout=5)
    assert connected, code
    return comm, await comm.receive_json_from(timeout=5)


async def receive_events(comm: WebsocketCommunicator, n: int) -> list[dict[str, Any]]:
    frames = [await comm.receive_json_from(timeout=5) for _ in range(n)]
    for frame in frames:
        assert frame["type"] == "event", frame
        parse_event(frame["event"])  # every frame matches its typed schema
    return frames


ingest = database_sync_to_async(lambda text, **kw: do_ingest_message(f.account("sms"), f.inbound(text, **kw)))
make_agent = database_sync_to_async(f.agent)


async def test_live_events_carry_consecutive_sequence_numbers(layer: str) -> None:
    agent = await make_agent("ann")
    comm, hello = await connect(agent)
    assert hello == {"type": "hello", "seq": 0, "resumed": False}
    await ingest("first")
    await ingest("second")
    frames = await receive_events(comm, 3)
    assert [fr["seq"] for fr in frames] == [1, 2, 3]
    assert [fr["event"]["type"] for fr in frames] == ["conversation.created", "message.created", "message.created"]
    assert [fr["event"]["message"]["text"] for fr in frames[1:]] == ["first", "second"]
    assert await comm.receive_nothing(timeout=0.2)
    await comm.disconnect()


async def test_reconnect_gets_exactly_the_missed_events_in_order(layer: str) -> None:
    agent = await make_agent("bob")
    await ingest("before")
    comm, hello = await connect(agent)
    last = hello["seq"]
    assert last == 2
    await comm.disconnect()
    for i in range(5):
        await ingest(f"missed {i}")
    comm, first = await connect(agent, last_seq=last)
    frames = [first, *await receive_events(comm, 4)]
    assert [fr["seq"] for fr in frames] == [3, 4, 5, 6, 7]
    assert [fr["event"]["message"]["text"] for fr in frames] == [f"missed {i}" for i in range(5)]
    hello = await comm.receive_json_from(timeout=5)
    assert hello == {"type": "hello", "seq": 7, "resumed": True}
    assert first["type"] == "event"
    # Live events continue the sequence, and nothing is sent twice.
    await ingest("live")
    (frame,) = await receive_events(comm, 1)
    assert frame["seq"] == 8
    assert await comm.receive_nothing(timeout=0.2)
    await comm.disconnect()


async def test_resume_while_events_keep_arriving_has_no_gap_or_duplicate(layer: str) -> None:
    agent = await make_agent("cat")
    await ingest("zero")
    comm, hello = await connect(agent)
    await comm.disconnect()
    await ingest("one")
    comm, _first = await connect(agent, last_seq=hello["seq"])
    await ingest("two")  # pushed live while the backlog was being sent
    seen: list[int] = [_first["seq"]]
    while True:
        frame = await comm.receive_json_from(timeout=5)
        if frame["type"] == "event":
            seen.append(frame["seq"])
        if frame["type"] == "event" and frame["event"]["message"]["text"] == "two":
            break
    assert seen == list(range(hello["seq"] + 1, hello["seq"] + 1 + len(seen)))
    assert await comm.receive_nothing(timeout=0.2)
    await comm.disconnect()


async def test_a_lost_push_is_filled_from_the_database(layer: str) -> None:
    agent = await make_agent("dan")
    await ingest("setup")
    comm, hello = await connect(agent)
    real_send = publish_module.send_now
    with mock.patch.object(publish_module, "send_now", lambda seqs, payloads, groups, **kw: None):
        await ingest("push lost")
    assert await comm.receive_nothing(timeout=0.2)
    assert publish_module.send_now is real_send
    await ingest("next")
    frames = await receive_events(comm, 2)
    assert [fr["seq"] for fr in frames] == [hello["seq"] + 1, hello["seq"] + 2]
    assert [fr["event"]["message"]["text"] for fr in frames] == ["push lost", "next"]
    await comm.disconnect()


async def test_a_push_that_overtakes_an_earlier_one_waits_for_it_without_reading_the_database(
        layer: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import web.consumers

    agent = await make_agent("dora")
    await ingest("setup")
    comm, hello = await connect(agent)
    reads: list[int] = []
    real_backlog = web.consumers._backlog

    async def counted(user_id: int, after: int) -> Any:
        reads.append(after)
        return await real_backlog(user_id, after)

    monkeypatch.setattr(web.consumers, "_backlog", counted)
    held: list[tuple[Any, ...]] = []
    with mock.patch.object(publish_module, "send_now", lambda *args, **kw: held.append((args, kw))):
        await ingest("earlier")
        await ingest("later")
    assert len(held) == 2
    real_send = publish_module.send_now
    for args, kw in reversed(held):  # the later push arrives first
        await database_sync_to_async(real_send)(*args, **kw)
    frames = await receive_events(comm, 2)
    assert [fr["seq"] for fr in frames] == [hello["seq"] + 1, hello["seq"] + 2]
    assert [fr["event"]["message"]["text"] for fr in frames] == ["earlier", "later"]
    assert reads == []
    assert await comm.receive_nothing(timeout=web.consumers.REORDER_WAIT * 2)
    assert reads == []
    await comm.disconnect()


async def test_a_push_carries_the_event_encoded_once_and_the_earlier_shape_still_arrives(layer: str) -> None:
    """The publisher encodes each event once for all its recipients; every connection frames that text as
    it is. A process of an earlier version pushes the event as a dict: it is delivered the same."""
    from channels.layers import get_channel_layer

    agent = await make_agent("erin")
    comm, hello = await connect(agent)
    layer_ = get_channel_layer()
    sent: list[dict[str, Any]] = []
    real_group_send = layer_.group_send

    async def recorded(group: str, message: dict[str, Any]) -> None:
        sent.append(message)
        await real_group_send(group, message)

    with mock.patch.object(layer_, "group_send", recorded):
        await ingest("hello there")
        frames = await receive_events(comm, 2)
    pushes = [m for m in sent if m["type"] == "hub.event"]
    assert pushes and all(isinstance(m["event_json"], str) and "event" not in m for m in pushes)
    assert [json.loads(m["event_json"]) for m in pushes[:2]] == [fr["event"] for fr in frames]
    seq = hello["seq"] + 3
    event = {**frames[1]["event"], "message": {**frames[1]["event"]["message"], "text": "from an older process"}}
    await real_group_send(f"agent-{agent.pk}", {"type": "hub.event", "seqs": {str(agent.pk): seq}, "event": event})
    frame = await comm.receive_json_from(timeout=5)
    assert frame == {"type": "event", "seq": seq, "event": event}
    await comm.disconnect()


async def test_too_far_behind_is_told_to_reload(layer: str, settings: Any) -> None:
    settings.HUB_EVENT_RETENTION = 3
    agent = await make_agent("eve")
    for i in range(5):
        await ingest(f"m{i}")
    comm, frame = await connect(agent, last_seq=0)
    assert frame["type"] == "reload" and frame["seq"] == 6
    assert "conversations" in frame["resources"]
    hello = await comm.receive_json_from(timeout=5)
    assert hello == {"type": "hello", "seq": 6, "resumed": True}
    await ingest("after reload")
    (ev,) = await receive_events(comm, 1)
    assert ev["seq"] == 7
    await comm.disconnect()


async def test_a_number_beyond_the_newest_is_told_to_reload(layer: str) -> None:
    agent = await make_agent("ezra")
    await ingest("one")
    comm, frame = await connect(agent, last_seq=999)
    assert frame["type"] == "reload" and frame["seq"] == 2
    assert (await comm.receive_json_from(timeout=5))["type"] == "hello"
    await ingest("two")
    (ev,) = await receive_events(comm, 1)
    assert ev["seq"] == 3
    await comm.disconnect()


async def test_an_event_from_a_background_thread_arrives_live(layer: str) -> None:
    """The in-process task runner and Celery publish from plain threads with no event loop (a delivery
    status, for instance); the push must still reach the consumer at once, also on the in-memory layer."""
    import threading

    from django.db import connections

    agent = await make_agent("tess")
    result = await ingest("order?")
    comm, hello = await connect(agent)

    def from_a_thread() -> None:
        try:
            from hub.actions.conversations import do_add_note

            do_add_note(agent, result.message.conversation, "written by a worker thread")
        finally:
            connections.close_all()

    thread = threading.Thread(target=from_a_thread)
    thread.start()
    await database_sync_to_async(thread.join)()
    (frame,) = await receive_events(comm, 1)
    assert frame["seq"] == hello["seq"] + 1
    assert frame["event"]["note"]["text"] == "written by a worker thread"
    await comm.disconnect()


async def test_rolled_back_change_sends_nothing(layer: str) -> None:
    agent = await make_agent("fay")
    await ingest("setup")
    comm, hello = await connect(agent)

    def rolled_back() -> None:
        with pytest.raises(RuntimeError), transaction.atomic():
            do_ingest_message(f.account("sms"), f.inbound("never"))
            raise RuntimeError("abort")

    await database_sync_to_async(rolled_back)()
    assert await comm.receive_nothing(timeout=0.3)
    await ingest("kept")
    (frame,) = await receive_events(comm, 1)
    assert frame["seq"] == hello["seq"] + 1 and frame["event"]["message"]["text"] == "kept"
    await comm.disconnect()


async def test_each_agent_only_receives_what_they_may_see(layer: str) -> None:
    billing = await database_sync_to_async(f.team)("Billing")
    general = await database_sync_to_async(f.team)("General")
    sms = await database_sync_to_async(f.account)("sms")
    sms.team = billing
    await database_sync_to_async(sms.save)()
    in_billing = await database_sync_to_async(f.agent)("gus", teams=[billing])
    in_general = await database_sync_to_async(f.agent)("hal", teams=[general])
    boss = await database_sync_to_async(f.agent)("ivy", role="supervisor")
    a, _ = await connect(in_billing)
    b, _ = await connect(in_general)
    c, _ = await connect(boss)
    await ingest("billing question")
    assert len(await receive_events(a, 2)) == 2
    assert len(await receive_events(c, 2)) == 2
    assert await b.receive_nothing(timeout=0.3)
    for comm in (a, b, c):
        await comm.disconnect()


async def test_an_agent_reached_through_several_groups_gets_each_event_once(layer: str) -> None:
    """A supervisor who is also in the team, and assigned: the event reaches them through the staff group,
    the team group and their own group, and is sent to the socket once."""
    billing = await database_sync_to_async(f.team)("Billing")
    sms = await database_sync_to_async(f.account)("sms")
    sms.team = billing
    await database_sync_to_async(sms.save)()
    boss = await database_sync_to_async(f.agent)("uma", role="supervisor", teams=[billing])
    first = await ingest("first")
    from hub.actions.conversations import do_assign

    await database_sync_to_async(lambda: do_assign(boss, first.message.conversation, boss))()
    comm, hello = await connect(boss)
    await ingest("second")
    frames = await receive_events(comm, 1)
    assert frames[0]["seq"] == hello["seq"] + 1 and frames[0]["event"]["message"]["text"] == "second"
    assert await comm.receive_nothing(timeout=0.3)
    await comm.disconnect()


async def test_presence_over_the_socket_reaches_supervisors(layer: str) -> None:
    agent = await make_agent("jim")
    boss = await database_sync_to_async(f.agent)("kim", role="supervisor")
    a, _ = await connect(agent)
    s, _ = await connect(boss)
    await a.send_json_to({"type": "presence", "presence": "away"})
    (mine,) = await receive_events(a, 1)
    (theirs,) = await receive_events(s, 1)
    assert mine["event"] == theirs["event"] == {"type": "presence.changed", "agent_id": agent.pk, "reason": None,
                                                  "presence": "away"}
    await a.send_json_to({"type": "presence", "presence": "sleeping"})
    err = await a.receive_json_from(timeout=5)
    assert err["type"] == "error" and "presence must be one of" in err["reason"]
    await a.send_json_to({"type": "ping"})
    assert (await a.receive_json_from(timeout=5))["type"] == "pong"
    await a.disconnect()
    await s.disconnect()


async def test_unauthenticated_socket_is_refused() -> None:
    comm = WebsocketCommunicator(application, "/ws/agent/",
                                 headers=[(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")])
    connected, _ = await comm.connect(timeout=5)
    assert connected  # accepted so that the browser sees the code, then closed at once
    assert (await comm.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4401}


async def test_foreign_origin_is_refused() -> None:
    agent = await make_agent("len")
    cookie = await database_sync_to_async(_session_cookie)(agent)
    comm = WebsocketCommunicator(application, "/ws/agent/",
                                 headers=[(b"origin", b"https://evil.example"), (b"cookie", cookie)])
    connected, _ = await comm.connect(timeout=5)
    assert not connected


async def test_bad_last_seq_is_a_clear_error() -> None:
    agent = await make_agent("max")
    cookie = await database_sync_to_async(_session_cookie)(agent)
    comm = WebsocketCommunicator(application, "/ws/agent/?last_seq=abc",
                                 headers=[(b"origin", b"http://127.0.0.1:8000"), (b"cookie", cookie)])
    connected, _ = await comm.connect(timeout=5)
    assert connected
    frame = await comm.receive_json_from(timeout=5)
    assert frame == {"type": "error", "reason": "last_seq must be an integer"}
    assert (await comm.receive_output(timeout=5))["type"] == "websocket.close"


async def test_presence_action_publishes_to_staff_and_self_only(layer: str) -> None:
    agent = await make_agent("ned")
    other = await make_agent("oli")
    o, _ = await connect(other)
    await database_sync_to_async(lambda: do_set_presence(agent, agent.agent, "away"))()
    assert await o.receive_nothing(timeout=0.3)
    await o.disconnect()
    assert get_channel_layer() is not None


# --- typing -----------------------------------------------------------------------------------------------

async def _typing_setup() -> tuple[Any, Any, Any, Any, int]:
    """A Billing conversation; gus and a supervisor may see it, hal (General) may not."""
    billing = await database_sync_to_async(f.team)("Billing")
    general = await database_sync_to_async(f.team)("General")
    sms = await database_sync_to_async(f.account)("sms")
    sms.team = billing
    await database_sync_to_async(sms.save)()
    gus = await database_sync_to_async(f.agent)("gus", teams=[billing])
    hal = await database_sync_to_async(f.agent)("hal", teams=[general])
    boss = await database_sync_to_async(f.agent)("ivy", role="supervisor", teams=[billing])
    result = await ingest("billing question")
    return gus, hal, boss, result, result.message.conversation_id


async def test_typing_reaches_colleagues_and_the_visitor_not_oneself(layer: str) -> None:
    gus, hal, boss, _result, conv_id = await _typing_setup()
    from hub.events.publish import conversation_group

    layer_ = get_channel_layer()
    visitor = await layer_.new_channel()
    await layer_.group_add(conversation_group(conv_id), visitor)
    a, _ = await connect(gus)
    b, _ = await connect(hal)
    c, _ = await connect(boss)
    await a.send_json_to({"type": "typing", "conversation_id": conv_id, "typing": True})
    # The supervisor is in the staff group and the team group: the frame still arrives once.
    assert await c.receive_json_from(timeout=5) == {"type": "typing", "conversation_id": conv_id, "who": "agent",
                                                    "name": "Gus", "typing": True}
    assert await c.receive_nothing(timeout=0.3)
    assert await a.receive_nothing(timeout=0.2)  # not echoed to the typist
    assert await b.receive_nothing(timeout=0.2)  # another team's agent may not see the conversation
    assert await layer_.receive(visitor) == {"type": "chat.typing", "name": "Gus", "typing": True}
    # A repeat within a second is dropped; stopping always goes through.
    await a.send_json_to({"type": "typing", "conversation_id": conv_id, "typing": True})
    await a.send_json_to({"type": "typing", "conversation_id": conv_id, "typing": False})
    assert (await c.receive_json_from(timeout=5))["typing"] is False
    assert await c.receive_nothing(timeout=0.3)
    for comm in (a, b, c):
        await comm.disconnect()


async def test_typing_in_a_conversation_one_may_not_see_is_refused(layer: str) -> None:
    _gus, hal, boss, _result, conv_id = await _typing_setup()
    b, _ = await connect(hal)
    c, _ = await connect(boss)
    await b.send_json_to({"type": "typing", "conversation_id": conv_id, "typing": True})
    assert await b.receive_json_from(timeout=5) == {"type": "error", "reason": "no such conversation"}
    assert await c.receive_nothing(timeout=0.3)
    for frame, reason in (({"type": "typing", "conversation_id": "x", "typing": True},
                           "conversation_id must be an integer"),
                          ({"type": "typing", "conversation_id": conv_id, "typing": "yes"},
                           "typing must be true or false")):
        await b.send_json_to(frame)
        assert await b.receive_json_from(timeout=5) == {"type": "error", "reason": reason}
    for comm in (b, c):
        await comm.disconnect()


async def test_a_visitors_typing_is_forwarded_to_agents(layer: str) -> None:
    gus, _hal, _boss, _result, conv_id = await _typing_setup()
    from hub.events.publish import team_group

    a, _ = await connect(gus)
    billing_id = await database_sync_to_async(lambda: gus.agent.teams.get().pk)()
    await get_channel_layer().group_send(team_group(billing_id), {
        "type": "hub.typing", "conversation_id": conv_id, "who": "visitor", "name": "Li Wei", "typing": True})
    assert await a.receive_json_from(timeout=5) == {"type": "typing", "conversation_id": conv_id,
                                                    "who": "visitor", "name": "Li Wei", "typing": True}
    await a.disconnect()


async def test_pushes_skip_the_database_thread_other_messages_do_not(monkeypatch: pytest.MonkeyPatch) -> None:
    """Channels closes stale connections (a hop to the database thread) before each message it dispatches;
    the agent socket's pushes, which need no database, go straight to their handler."""
    from web.consumers import AgentConsumer

    hops: list[str] = []

    async def close_old_connections() -> None:
        hops.append("db")

    monkeypatch.setattr("channels.consumer.aclose_old_connections", close_old_connections)
    consumer = AgentConsumer()
    handled: list[str] = []

    async def handler(message: dict[str, Any]) -> None:
        handled.append(message["type"])

    consumer.hub_event = handler  # type: ignore[method-assign]
    consumer.hub_typing = handler  # type: ignore[method-assign]
    consumer.websocket_receive = handler  # type: ignore[method-assign]
    await consumer.dispatch({"type": "hub.event"})
    await consumer.dispatch({"type": "hub.typing"})
    assert hops == [] and handled == ["hub.event", "hub.typing"]
    await consumer.dispatch({"type": "websocket.receive"})
    assert hops == ["db"] and handled[-1] == "websocket.receive"


async def test_a_frame_that_is_not_json_is_answered_and_the_socket_stays_open() -> None:
    """Both sockets (agent and chat) share web/consumers.py JsonSocket: garbage is an error frame."""
    from web.chat_consumer import ChatConsumer
    from web.consumers import JsonSocket

    assert issubclass(ChatConsumer, JsonSocket)
    comm, _hello = await connect(await make_agent("gus"))
    await comm.send_to(text_data="{not json")
    assert (await comm.receive_json_from(timeout=5))["type"] == "error"
    await comm.send_json_to({"type": "ping"})
    assert (await comm.receive_json_from(timeout=5))["type"] == "pong"
    await comm.disconnect()


async def test_an_agent_added_to_a_team_hears_its_conversations_live_without_reconnecting(layer: str) -> None:
    """Team membership decides which groups a connection listens on; a change of teams moves the open
    connections to the new groups at once, and what was pushed before they joined is read from the database."""
    from hub.actions.agents import do_update_agent_routing
    from hub.models import Conversation

    billing = await database_sync_to_async(f.team)("Billing")
    tess = await make_agent("tess")  # in no team: a Billing conversation is not hers to see
    first = await ingest("for billing", address="+15550001111")
    await database_sync_to_async(lambda: Conversation.objects.filter(
        pk=first.message.conversation_id).update(team=billing))()
    comm, hello = await connect(tess)
    await ingest("still billing's", address="+15550001111")
    assert await comm.receive_nothing(timeout=0.3)

    await database_sync_to_async(do_update_agent_routing)(None, tess.agent, teams=[billing.pk])
    await ingest("now hers too", address="+15550001111")
    (frame,) = await receive_events(comm, 1)
    assert frame["seq"] == hello["seq"] + 1 and frame["event"]["message"]["text"] == "now hers too"

    await database_sync_to_async(do_update_agent_routing)(None, tess.agent, teams=[])
    await ingest("billing's again", address="+15550001111")
    assert await comm.receive_nothing(timeout=0.3)
    await comm.disconnect()
