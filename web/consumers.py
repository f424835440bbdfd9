"""`/ws/agent/`: an agent's live stream of events, with resume (docs/protocol.md).

Every frame the server sends is JSON with a `type`:
- `hello`   {seq, resumed}: the connection is ready; `seq` is the newest sequence number delivered.
- `event`   {seq, event}: one event (hub/events/schema.py); `seq` increases by exactly 1 per event.
- `reload`  {seq, resources, reason}: the client missed more than the server keeps; fetch `resources`
            through the API and continue from `seq`.
- `pong`, `error` {reason}.

Frames the client sends: `ping`; `presence` {presence}; `offer.accept` / `offer.decline` {offer_id}
(the outcome arrives as events: `offer.closed`, then `conversation.assigned` on accept).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import DatabaseSyncToAsync, database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from hub.events import pusher
from hub.events.publish import ALL_AGENTS_GROUP, STAFF_GROUP, agent_group, team_group
from hub.events.resume import RELOAD_RESOURCES, Backlog, backlog, last_seq

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401


@database_sync_to_async
def _is_agent(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and hasattr(user, "agent"))


@database_sync_to_async
def _groups(user: Any) -> list[str]:
    """The channel-layer groups this agent's connection listens on (hub/events/publish.py). Team
    membership is read at connect: a change takes effect on the next connection, and meanwhile the
    database stream, which is always complete, fills any gap."""
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


# Answering an offer is what the customer waits on: it runs in the thread pool, not on the one thread that
# every consumer's and every synchronous view's database work shares by default (thread_sensitive), where
# it queued behind them. It needs no thread affinity: one transaction, its own connection.
_answer_offer = DatabaseSyncToAsync(_answer_offer_sync, thread_sensitive=False)


class AgentConsumer(AsyncJsonWebsocketConsumer):
    user_id: int
    last_sent: int
    groups_joined: list[str]

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not await _is_agent(user):
            # Accept first so that a browser sees the 4401 code (a refused handshake is only "1006").
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id = user.pk
        pusher.adopt_running_loop()
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

    async def hub_event(self, message: dict[str, Any]) -> None:
        """An event pushed after commit (hub/events/publish.py send_now), to a group this connection is in;
        it carries every recipient's sequence number. It may arrive through several groups: numbers
        already sent are dropped."""
        mine = message["seqs"].get(str(self.user_id))
        if mine is None:
            return  # a group member who is not a recipient of this event
        seq = int(mine)
        if seq <= self.last_sent:
            return  # already sent (during catch-up, or through another group)
        if seq > self.last_sent + 1:
            # An earlier event's push is late or was lost: it is committed, so read it from the database.
            await self._catch_up(self.last_sent)
            if seq <= self.last_sent:
                return
        await self.send_json({"type": "event", "seq": seq, "event": message["event"]})
        self.last_sent = seq

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
        else:
            await self.send_json({"type": "error", "reason": f"unknown message type {kind!r}"})

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        import json

        try:
            return json.loads(text_data)
        except ValueError:
            return None
