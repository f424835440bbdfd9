"""One Redis connection pool per server for all of a process's cache objects.

Django keeps its cache objects per context (asgiref's Local), and under ASGI every request runs in a context
of its own: each request built a new cache object, with a new connection pool, so the first cache call of
every request (the API's throttle reads and writes on each one) opened a Redis connection and checked it.
Django's Redis cache takes the pool class as an option; this one hands every cache object the same pool.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import redis


class SharedConnectionPool(redis.ConnectionPool):
    _shared: ClassVar[dict[tuple[str, str], SharedConnectionPool]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> SharedConnectionPool:
        key = (url, repr(sorted(kwargs.items())))
        with cls._shared_lock:
            pool = cls._shared.get(key)
            if pool is None:
                # redis-py's pools are thread-safe, and a forked child starts over with fresh connections.
                pool = cls._shared[key] = super().from_url(url, **kwargs)
            return pool
