"""Rate limits of the chat widget, counted in Django's cache so that every process sharing a cache (Redis)
shares the counts. Fixed one-minute windows: simple, and a burst at a window's edge gets at most twice the
limit, which is what these limits are for (stopping floods, not metering)."""

from __future__ import annotations

import time

from django.core.cache import cache

WINDOW_SECONDS = 60


def hit(scope: str, who: str, limit: int) -> int:
    """Count one action of `who` in `scope`; returns 0 when allowed, else the seconds until the window
    ends (the limit was reached)."""
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    key = f"hub:webchat:rl:{scope}:{who}:{window}"
    # add() is atomic on every backend: only one process creates the counter, the others increment it.
    if cache.add(key, 1, timeout=WINDOW_SECONDS + 5):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=WINDOW_SECONDS + 5)
            count = 1
    if count > limit:
        return max(1, int((window + 1) * WINDOW_SECONDS - now) + 1)
    return 0
