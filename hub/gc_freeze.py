"""Keeping the garbage collector's full passes short in long-running processes.

A web process or worker holds a few hundred thousand objects from its start-up (Django, the URLconf and its
views, DRF, Twisted, Celery) that live as long as the process. CPython's full (generation 2) collection walks
all of them every time: 44-84 ms in a web process under webhook load, during which nothing else runs
(docs/PERFORMANCE.md). Frozen, they are left out of every collection; what requests and tasks create is
collected as before.
"""

from __future__ import annotations

import gc


def freeze_after_startup() -> int:
    """Load what a first request would (the URLconf and every view module), collect what start-up left as
    garbage, and freeze the rest. Returns how many objects are now frozen."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every view module now, not in the first request
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
