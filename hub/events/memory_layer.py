"""The embedded channel layer: Channels' in-memory layer without its two costs that grow with the square of
an event's audience (measured in docs/PERFORMANCE.md, "WebSockets").

- The stock layer deep-copies a message for every member of a group. An agent event carries every
  recipient's sequence number, so with N agents each event was copied N times at size N. Here each member
  gets a shallow copy: receivers (web/consumers.py, web/chat_consumer.py) only read what they receive, as
  they would with a layer that deserializes a fresh copy, and nothing in the hub mutates a message after
  sending it.
- The stock layer sweeps every channel and group for expired entries on every receive and group_send; with
  N connections each waiting in receive that is N sweeps of N entries per event. Expiry is measured in tens
  of seconds, so sweeping at most once a second changes nothing but the cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

SWEEP_INTERVAL = 1.0


class HubInMemoryChannelLayer(InMemoryChannelLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._next_sweep = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_INTERVAL
        super()._clean_expired()

    def _put(self, channel: str, message: dict[str, Any], expires: float) -> None:
        queue = self.channels.get(channel)
        if queue is None:  # (setdefault would build a queue on every put, to throw it away)
            queue = self.channels[channel] = asyncio.Queue(maxsize=self.get_capacity(channel))
        try:
            queue.put_nowait((expires, dict(message)))
        except asyncio.QueueFull:
            raise ChannelFull(channel) from None

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        self._put(channel, message, time.time() + self.expiry)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Like the stock layer: every member gets the message, a full channel is skipped. Without one task
        per member: putting into a queue never waits."""
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        expires = time.time() + self.expiry
        for channel in list(self.groups.get(group, {})):
            with contextlib.suppress(ChannelFull):  # as the stock layer: a full channel misses it
                self._put(channel, message, expires)
