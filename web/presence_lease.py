"""Keeping the presence of agents whose inbox is open: every web process renews, in one UPDATE every third
of HUB_PRESENCE_LEASE_SECONDS, the lease of each agent with a /ws/agent/ connection open here
(`do_renew_presence_leases`). When an agent's last connection anywhere closes, or its process dies, nothing
renews it and the periodic `expire_presence` task sets the agent offline once it has run out. A lease, not a
count of connections: a process that crashes leaves nothing behind to clean up, and a page reload or a
short network loss, which reconnects within the lease, changes nothing."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from channels.db import database_sync_to_async
from django.conf import settings

from hub.actions.agents import do_renew_presence_leases

logger = logging.getLogger(__name__)

_open: Counter[int] = Counter()  # user id -> connections open in this process
_renewers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}


def interval() -> float:
    return max(0.5, settings.HUB_PRESENCE_LEASE_SECONDS / 3)


async def opened(user_id: int) -> None:
    """A connection of the agent's opened in this process: their lease is renewed now, then kept."""
    _open[user_id] += 1
    loop = asyncio.get_running_loop()
    for gone in [other for other in _renewers if other.is_closed()]:
        del _renewers[gone]
    task = _renewers.get(loop)
    if task is None or task.done():
        _renewers[loop] = loop.create_task(_renew_forever())
    await database_sync_to_async(do_renew_presence_leases)([user_id])


def closed(user_id: int) -> None:
    _open[user_id] -= 1
    if _open[user_id] <= 0:
        del _open[user_id]


def open_here() -> list[int]:
    return list(_open)


async def _renew_forever() -> None:
    while True:
        await asyncio.sleep(interval())
        users = open_here()
        if not users:
            continue
        try:
            await database_sync_to_async(do_renew_presence_leases)(users)
        except Exception:  # the database is away: try again next time, before the lease runs out
            logger.exception("could not renew the presence of %d agents", len(users))
