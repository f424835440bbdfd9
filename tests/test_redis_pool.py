"""The cache's Redis connections are shared by the whole process (hub/redis_pool.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.core.cache.backends.redis import RedisCache

from hub.redis_pool import SharedConnectionPool

ROOT = Path(__file__).resolve().parent.parent


def test_every_cache_object_uses_one_pool() -> None:
    """Django builds a cache object per request context under ASGI: with a pool each, every request opened a
    Redis connection."""
    options = {"pool_class": "hub.redis_pool.SharedConnectionPool"}
    first = RedisCache("redis://127.0.0.1:6379/3", {"OPTIONS": options})
    second = RedisCache("redis://127.0.0.1:6379/3", {"OPTIONS": options})
    other_server = RedisCache("redis://127.0.0.1:6379/4", {"OPTIONS": options})
    pool = first._cache._get_connection_pool(write=True)
    assert isinstance(pool, SharedConnectionPool)
    assert second._cache._get_connection_pool(write=True) is pool
    assert other_server._cache._get_connection_pool(write=True) is not pool


def test_with_redis_the_hub_cache_uses_the_shared_pool() -> None:
    code = ("from django.conf import settings; import django; django.setup(); "
            "print(settings.CACHES['default']['OPTIONS']['pool_class'])")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "hub.settings", "HUB_REDIS_URL": "redis://127.0.0.1:6379/3"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "hub.redis_pool.SharedConnectionPool"
