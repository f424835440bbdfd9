"""`/ws/agent/`: an agent's live stream of events, with resume (docs/protocol.md).

Every frame the server sends is JSON with a `type`:
- `hello`   {seq, resumed}: the connection is ready; `seq` is the newest sequence number delivered.
- `event`   {seq, event}: one event (hub/events/schema.py); `seq` increases by exactly 1 per event.
- `reload`  {seq, resources, reason}: the client missed more than the server keeps; fetch `resources`
            through the API and continue from `seq`.
- `pong`, `error` {reason}.

- `typing`  {conversation_id, who, name, typing}: someone else (a colleague, or the chat visitor) is typing
            in a conversation this agent may see. Not numbered and not replayed: it only matters live.

Frames the client sends: `ping`; `presence` {presence}; `offer.accept` / `offer.decline` {offer_id}
(the outcome arrives as events: on accept `conversation.assigned`, then `offer.closed`); `typing`
{conversation_id, typing}.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import DatabaseSyncToAsync, database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from hub.events import pusher
from hub.events.publish import ALL_AGENTS_GROUP, STAFF_GROUP, agent_group, conversation_group, team_group
from hub.events.resume import RELOAD_RESOURCES, Backlog, backlog, last_seq
from web import presence_lease

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
# A typing permission check is remembered this long per conversation: typing frames come every few seconds,
# and a conversation transferred away stops being relayed within this time.
TYPING_ACCESS_SECONDS = 30.0
# The client sends at most one typing:true per 3 s; a faster stream is dropped rather than fanned out.
TYPING_MIN_INTERVAL = 1.0
# Every process that commits pushes its own events, so a push can overtake an earlier one still in flight.
# An event that arrives ahead of its turn waits this long for the ones before it; only if they do not come
# is the database read. Reading at once cost the routing benchmark three reads per conversation, on the one
# thread every consumer's database work shares.
REORDER_WAIT = 0.1
REORDER_HELD_MAX = 200  # more held than this and the database is read at once


@database_sync_to_async
def _is_agent(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and hasattr(user, "agent"))


@database_sync_to_async
def _groups(user: Any) -> list[str]:
    """The channel-layer groups this agent's connection listens on (hub/events/publish.py), read at
    connect and again when the agent's teams change (AgentConsumer.hub_regroup)."""
    agent = user.agent
    groups = [agent_group(user.pk), ALL_AGENTS_GROUP]
    if agent.sees_everything:
        groups.append(STAFF_GROUP)
    groups += [team_group(team_id) for team_id in agent.teams.values_list("id", flat=True)]
    return groups


@database_sync_to_async
def _backlog(user_id: int, after: int) -> Backlog:
    return backlog(user_id, after)


@database_sync_to_async
def _last_seq(user_id: int) -> int:
    return last_seq(user_id)


@database_sync_to_async
def _set_presence(user: Any, presence: str) -> str:
    from hub.actions import ActionError
    from hub.actions.agents import do_set_presence

    try:
        do_set_presence(user, user.agent, presence)
    except ActionError as exc:
        return str(exc)
    return ""


def _answer_offer_sync(user: Any, offer_id: Any, accept: bool) -> str:
    from hub.actions import ActionError
    from hub.actions.routing import do_accept_offer, do_decline_offer

    if isinstance(offer_id, bool) or not isinstance(offer_id, int):
        return "offer_id must be an integer"
    try:
        (do_accept_offer if accept else do_decline_offer)(user, offer_id)
    except ActionError as exc:
        return str(exc)
    return ""


@database_sync_to_async
def _typing_audience(user: Any, conversation_id: int) -> tuple[str, list[str]] | None:
    """The agent's display name and the groups of the agents who may see the conversation (the groups of
    hub.events.publish.conversation_audience), or None when `user` may not see it."""
    from hub.access import visible_conversations
    from hub.events.payloads import user_display_name

    row = visible_conversations(user).filter(pk=conversation_id).values("team_id", "assignee_id").first()
    if row is None:
        return None
    groups = {STAFF_GROUP}
    groups.add(ALL_AGENTS_GROUP if row["team_id"] is None else team_group(row["team_id"]))
    if row["assignee_id"]:
        groups.add(agent_group(row["assignee_id"]))
    return user_display_name(user), sorted(groups)


# Answering an offer is what the customer waits on: it runs in the thread pool, not on the one thread that
# every consumer's and every synchronous view's database work shares by default (thread_sensitive), where
# it queued behind them. It needs no thread affinity: one transaction, its own connection.
_answer_offer = DatabaseSyncToAsync(_answer_offer_sync, thread_sensitive=False)


class JsonSocket(AsyncJsonWebsocketConsumer):
    """A socket of JSON frames where a frame that is not JSON is answered, not fatal: it decodes to None,
    which the consumer's receive_json turns into an `error` frame."""

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        try:
            return json.loads(text_data)
        except ValueError:
            return None


class AgentConsumer(JsonSocket):
    user_id: int
    last_sent: int
    groups_joined: list[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Events that arrived ahead of their turn, by sequence number, and the timer that gives up on the
        # missing ones (REORDER_WAIT).
        self.held: dict[int, str] = {}  # the event's JSON text, by sequence number
        self.gap_timer: asyncio.Task[None] | None = None
        # Typing: per conversation, when its permission was checked (and the answer), and the last
        # typing:true relayed; the ids of typing messages already forwarded (one arrives through each
        # group this connection shares with the audience).
        self.typing_access: dict[int, tuple[float, tuple[str, list[str]] | None]] = {}
        self.typing_last_true: dict[int, float] = {}
        self.typing_seen: deque[str] = deque(maxlen=64)
        self.typing_count = 0
        self.leased = False  # counted in web/presence_lease.py

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not await _is_agent(user):
            # Accept first so that a browser sees the 4401 code (a refused handshake is only "1006").
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id = user.pk
        pusher.adopt_running_loop()
        self.leased = True  # before the await: a failed renewal still leaves the count for disconnect to undo
        await presence_lease.opened(self.user_id)
        # Join the group before reading the backlog: an event committed in between arrives both ways and
        # the sequence check drops the second copy, so nothing falls in the gap.
        self.groups_joined = await _groups(user)
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        query = parse_qs(self.scope.get("query_string", b"").decode())
        raw = (query.get("last_seq") or [""])[0]
        if raw:
            try:
                after = int(raw)
            except ValueError:
                await self.send_json({"type": "error", "reason": "last_seq must be an integer"})
                await self.close(code=4400)
                return
            await self._catch_up(after)
            await self.send_json({"type": "hello", "seq": self.last_sent, "resumed": True})
        else:
            self.last_sent = await _last_seq(self.user_id)
            await self.send_json({"type": "hello", "seq": self.last_sent, "resumed": False})

    async def disconnect(self, code: int) -> None:
        if self.leased:
            presence_lease.closed(self.user_id)
            self.leased = False
        self._stop_gap_timer()
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _catch_up(self, after: int) -> None:
        result = await _backlog(self.user_id, after)
        if result.reload or after > result.last_seq:
            # Too far behind, or a number this stream never reached (a client that kept state across a
            # database restore): only a reload puts it back on solid ground.
            await self.send_json({"type": "reload", "seq": result.last_seq, "resources": RELOAD_RESOURCES,
                                  "reason": "too_far_behind"})
            self.last_sent = result.last_seq
            return
        for seq, event in result.events:
            await self.send_json({"type": "event", "seq": seq, "event": event})
        self.last_sent = max(after, result.last_seq) if result.events else after

    # Channels closes stale database connections before every message it dispatches: a hop to the one
    # database thread, per event and per connection. Pushes need no database (a catch-up goes through
    # database_sync_to_async, which does its own), so they skip it (docs/PERFORMANCE.md, "WebSockets").
    _NO_DATABASE = frozenset({"hub.event", "hub.typing", "hub.gap"})

    async def dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") in self._NO_DATABASE:
            await getattr(self, get_handler_name(message))(message)
            return
        await super().dispatch(message)

    async def hub_event(self, message: dict[str, Any]) -> None:
        """An event pushed after commit (hub/events/publish.py send_now), to a group this connection is in;
        it carries every recipient's sequence number. It may arrive through several groups: numbers
        already sent are dropped."""
        mine = message["seqs"].get(str(self.user_id))
        if mine is None:
            return  # a group member who is not a recipient of this event
        seq = int(mine)
        if seq <= self.last_sent or seq in self.held:
            return  # already sent (during catch-up, or through another group), or already waiting
        # Encoded once by the publisher for every recipient (a process of an earlier version sends the dict).
        event_json = message.get("event_json") or json.dumps(message["event"])
        if seq > self.last_sent + 1:
            # An earlier event's push is late or was lost. It is committed: wait a moment for its push, and
            # read it from the database if it does not come (hub_gap).
            self.held[seq] = event_json
            if len(self.held) > REORDER_HELD_MAX:
                await self.hub_gap({})
            elif self.gap_timer is None:
                self.gap_timer = asyncio.create_task(self._gap_after_wait())
            return
        await self._send_event(seq, event_json)
        await self._send_held()

    async def _send_event(self, seq: int, event_json: str) -> None:
        # The frame around the event's text as send_json would write it, without decoding and encoding the
        # event again for each of its recipients.
        await self.send(text_data=f'{{"type": "event", "seq": {seq}, "event": {event_json}}}')
        self.last_sent = seq

    async def _send_held(self) -> None:
        while self.last_sent + 1 in self.held:
            seq = self.last_sent + 1
            await self._send_event(seq, self.held.pop(seq))
        if not self.held:
            self._stop_gap_timer()

    async def _gap_after_wait(self) -> None:
        await asyncio.sleep(REORDER_WAIT)
        # Through the consumer's own channel, so that the reading runs between two messages, like every
        # other handler, and never beside one.
        await self.channel_layer.send(self.channel_name, {"type": "hub.gap"})

    def _stop_gap_timer(self) -> None:
        if self.gap_timer is not None:
            self.gap_timer.cancel()
            self.gap_timer = None

    async def hub_gap(self, message: dict[str, Any]) -> None:
        """The missing pushes did not come within REORDER_WAIT (or too many events are held): read what
        this connection has not sent from the database, then send what is still held in order."""
        self._stop_gap_timer()
        if not self.held:
            return
        await self._read_missing()
        if self.held and self.gap_timer is None:
            self.gap_timer = asyncio.create_task(self._gap_after_wait())  # committed after the reading

    async def hub_regroup(self, message: dict[str, Any]) -> None:
        """The agent's teams changed (hub/events/publish.py regroup_after_commit): join the groups they now
        belong in, leave the others, then read from the database what was pushed to the new groups before
        this connection joined them."""
        wanted = await _groups(self.scope["user"])
        for group in [g for g in wanted if g not in self.groups_joined]:
            await self.channel_layer.group_add(group, self.channel_name)
        for group in [g for g in self.groups_joined if g not in wanted]:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined = wanted
        await self._read_missing()

    async def _read_missing(self) -> None:
        """Send from the database what this connection has not sent, then what is still held in order."""
        await self._catch_up(self.last_sent)
        for seq in [s for s in self.held if s <= self.last_sent]:
            del self.held[seq]
        await self._send_held()

    async def hub_typing(self, message: dict[str, Any]) -> None:
        """Someone is typing in a conversation (a colleague through this consumer, a visitor through the
        chat consumer). An agent's own typing is not echoed to them."""
        if message.get("who") == "agent" and message.get("agent_id") == self.user_id:
            return
        nonce = message.get("nonce")
        if nonce is not None:
            if nonce in self.typing_seen:
                return
            self.typing_seen.append(nonce)
        await self.send_json({"type": "typing", "conversation_id": message["conversation_id"],
                              "who": message.get("who", "agent"), "name": message.get("name", ""),
                              "typing": bool(message.get("typing"))})

    async def _typing(self, content: dict[str, Any]) -> None:
        conversation_id, typing = content.get("conversation_id"), content.get("typing")
        if isinstance(conversation_id, bool) or not isinstance(conversation_id, int):
            await self.send_json({"type": "error", "reason": "conversation_id must be an integer"})
            return
        if not isinstance(typing, bool):
            await self.send_json({"type": "error", "reason": "typing must be true or false"})
            return
        now = time.monotonic()
        cache, last_true = self.typing_access, self.typing_last_true
        if typing and conversation_id in last_true and now - last_true[conversation_id] < TYPING_MIN_INTERVAL:
            return
        cached = cache.get(conversation_id)
        if cached is None or now - cached[0] > TYPING_ACCESS_SECONDS:
            cached = (now, await _typing_audience(self.scope["user"], conversation_id))
            if len(cache) > 200:  # an agent types in a few conversations; keep the memory bounded anyway
                cache.clear()
            cache[conversation_id] = cached
        audience = cached[1]
        if audience is None:
            await self.send_json({"type": "error", "reason": "no such conversation"})
            return
        if typing:
            last_true[conversation_id] = now
        name, groups = audience
        await self.channel_layer.group_send(conversation_group(conversation_id),
                                            {"type": "chat.typing", "name": name, "typing": typing})
        self.typing_count += 1
        message = {"type": "hub.typing", "conversation_id": conversation_id, "who": "agent", "name": name,
                   "agent_id": self.user_id, "typing": typing, "nonce": f"{self.channel_name}/{self.typing_count}"}
        for group in groups:
            await self.channel_layer.group_send(group, message)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            await self.send_json({"type": "pong", "seq": self.last_sent})
        elif kind == "presence":
            error = await _set_presence(self.scope["user"], str(content.get("presence", "")))
            if error:
                await self.send_json({"type": "error", "reason": error})
        elif kind in ("offer.accept", "offer.decline"):
            offer_id = content.get("offer_id")
            error = await _answer_offer(self.scope["user"], offer_id, kind == "offer.accept")
            if error:
                await self.send_json({"type": "error", "reason": error, "offer_id": offer_id})
        elif kind == "typing":
            await self._typing(content)
        else:
            await self.send_json({"type": "error", "reason": f"unknown message type {kind!r}"})
