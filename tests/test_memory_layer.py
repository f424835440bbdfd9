"""The embedded channel layer (hub/events/memory_layer.py): the stock in-memory layer's behaviour, at a cost
that does not grow with the square of a group's size."""

from __future__ import annotations

import asyncio
import time
from unittest import mock

import pytest
from channels.exceptions import ChannelFull

from hub.events import memory_layer
from hub.events.memory_layer import HubInMemoryChannelLayer


async def test_every_member_of_a_group_gets_its_own_copy_in_order() -> None:
    layer = HubInMemoryChannelLayer()
    a, b = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("g", a)
    await layer.group_add("g", b)
    event = {"type": "hub.event", "seqs": {"1": 5}, "event": {"type": "x"}}
    await layer.group_send("g", event)
    await layer.group_send("g", {"type": "hub.event", "n": 2})
    first_a, first_b = await layer.receive(a), await layer.receive(b)
    assert first_a == first_b == event
    first_a["extra"] = True  # a receiver changing its copy changes nobody else's
    assert "extra" not in first_b and "extra" not in event
    assert (await layer.receive(a))["n"] == 2 and (await layer.receive(b))["n"] == 2


async def test_a_full_channel_misses_group_messages_but_direct_sends_raise() -> None:
    layer = HubInMemoryChannelLayer(capacity=1)
    full, other = await layer.new_channel(), await layer.new_channel()
    for channel in (full, other):
        await layer.group_add("g", channel)
    await layer.send(full, {"type": "first"})
    await layer.group_send("g", {"type": "second"})
    assert (await layer.receive(full))["type"] == "first"
    assert (await layer.receive(other))["type"] == "second"
    await layer.send(full, {"type": "third"})
    with pytest.raises(ChannelFull):
        await layer.send(full, {"type": "fourth"})


async def test_expired_messages_are_dropped_and_their_channel_leaves_its_groups() -> None:
    layer = HubInMemoryChannelLayer(expiry=1)
    gone, alive = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("g", gone)
    await layer.send(gone, {"type": "stale"})
    later = time.time() + 5
    with mock.patch.object(memory_layer.time, "time", return_value=later), \
            mock.patch.object(memory_layer.time, "monotonic", return_value=time.monotonic() + 5):
        await layer.group_add("g", alive)
        await layer.group_send("g", {"type": "fresh"})
    assert gone not in layer.groups.get("g", {})
    assert (await layer.receive(alive))["type"] == "fresh"


async def test_the_expiry_sweep_runs_at_most_once_a_second() -> None:
    layer = HubInMemoryChannelLayer()
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    with mock.patch("channels.layers.InMemoryChannelLayer._clean_expired") as sweep:
        for _ in range(50):
            await layer.group_send("g", {"type": "x"})
    assert sweep.call_count == 1
    await asyncio.sleep(0)
