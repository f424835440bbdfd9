"""The channel layer the hub runs on Redis (hub/settings.py), shared with the tests that run it for real."""

from __future__ import annotations

from typing import Any


def redis_channel_layer(url: str, prefix: str = "asgi") -> dict[str, Any]:
    """channels-redis's pub/sub layer. An event for a group is one PUBLISH that each web process receives
    once and hands to its own sockets; the list-based layer wrote one Redis entry per socket in the group and
    each socket read its own. With 20 agents seeing every conversation that was 81 Redis deliveries per
    conversation, and the fan-out took most of the web process's CPU (bench/routing.py, docs/PERFORMANCE.md).

    Pub/sub delivers at most once (a web process cut from Redis for a moment misses what was published
    meanwhile). The hub never relied on more: every event is in the database, numbered per recipient, and a
    socket that sees a gap reads the missing events from there (hub/events/resume.py).

    redis-py's default 5 s socket timeout made idle connections of the list-based layer drop now and then
    (code 1011); 30 s is kept here too, with room for a reconnect storm in the pool."""
    return {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [{"address": url, "socket_timeout": 30, "max_connections": 10000}], "prefix": prefix},
    }
