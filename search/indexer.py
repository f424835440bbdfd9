"""The indexer: reads the change log after commit and sends what it names to the search backend.

Its position is a row in the database (SearchIndexState), moved forward only after the backend accepted a
batch. While the engine is down the batch fails, the position stays, and the changes wait in the change log
(the backlog); the next run, from a retry or the periodic tick, drains it. Documents are rebuilt from the
database at indexing time, so replaying a change twice is harmless, and each carries the number of the last
change read (its version) so that a late write never replaces a newer state.

One indexer runs at a time: on PostgreSQL the state row is locked for a batch (others skip it and leave the
work to the holder, which looks again before it stops); in one process a lock does the same.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from hub.models import Change, SearchIndexState
from search import documents
from search.backend import BackendUnavailable, get_backend

logger = logging.getLogger(__name__)

STATE = "search"
BATCH_CHANGES = 1000
_process_lock = threading.Lock()


@dataclass(frozen=True)
class IndexRun:
    changes: int
    documents: int
    backlog: int


def backlog() -> int:
    """Changes not indexed yet."""
    state = SearchIndexState.objects.filter(name=STATE).first()
    last = state.last_change if state else 0
    return Change.objects.filter(number__gt=last).count()


def _state() -> SearchIndexState:
    state, _ = SearchIndexState.objects.get_or_create(name=STATE)
    return state


def _batch(backend_ready: list[bool]) -> tuple[int, int] | None:
    """Index one batch of changes. None when another indexer holds the state; (0, 0) when up to date."""
    if connection.vendor != "postgresql":
        return _batch_unlocked(backend_ready)
    with transaction.atomic():
        # The row lock lets one indexer at a time take a batch, across processes; other writers never
        # wait for it.
        state = SearchIndexState.objects.filter(name=STATE).select_for_update(skip_locked=True).first()
        if state is None:
            return None
        done = _index_after(state.last_change, backend_ready)
        if done is None:
            return 0, 0
        watermark, changes, written = done
        state.last_change = watermark
        state.failing_since = None
        state.last_error = ""
        state.save(update_fields=["last_change", "failing_since", "last_error", "updated_at"])
        return changes, written


def _batch_unlocked(backend_ready: list[bool]) -> tuple[int, int] | None:
    """SQLite: a transaction there holds the whole database's write lock (the hub opens them IMMEDIATE), so
    one around the engine's write made every other writer wait for it, seconds on a slow disk: an agent's
    reply, an inbound message. The batch is read and indexed outside any transaction, and the watermark
    moves only from where this batch began (the embedded hub is one process, and `_process_lock` already
    runs one indexer at a time in it; writing a document twice is harmless)."""
    state = SearchIndexState.objects.filter(name=STATE).first()
    if state is None:
        return None
    done = _index_after(state.last_change, backend_ready)
    if done is None:
        return 0, 0
    moved = SearchIndexState.objects.filter(name=STATE, last_change=state.last_change).update(
        last_change=done[0], failing_since=None, last_error="", updated_at=timezone.now())
    return (done[1], done[2]) if moved else None


def _index_after(last_change: int, backend_ready: list[bool]) -> tuple[int, int, int] | None:
    """Write the documents of the changes after `last_change` (one batch) to the engine: (the batch's last
    change number, changes, documents written), or None when there is nothing to index."""
    changes = list(Change.objects.filter(number__gt=last_change).order_by("number")
                   .values("number", "type", "conversation_id", "customer_id", "payload")[:BATCH_CHANGES])
    if not changes:
        return None
    watermark = int(changes[-1]["number"])
    work = documents.plan(changes)
    written = 0
    if work:
        docs, gone = documents.documents(work, watermark)
        backend = get_backend()
        if not backend_ready:
            backend.ensure_index()
            backend_ready.append(True)
        if work.deleted_customers or gone:
            backend.delete(conversation_ids=gone, customer_ids=work.deleted_customers)
        backend.index(docs)
        written = len(docs)
    return watermark, len(changes), written


def index_pending(max_seconds: float = 30.0) -> IndexRun:
    """Drain the backlog (for at most `max_seconds`). Raises BackendUnavailable when the engine is down;
    what was not indexed stays in the backlog."""
    _state()
    started = time.monotonic()
    total_changes = total_docs = 0
    ready: list[bool] = []
    with _process_lock:
        while time.monotonic() - started < max_seconds:
            try:
                result = _batch(ready)
            except BackendUnavailable as exc:
                _record_failure(str(exc))
                raise
            if result is None or result == (0, 0):
                break
            total_changes += result[0]
            total_docs += result[1]
    if total_changes:
        get_backend().refresh()
    return IndexRun(total_changes, total_docs, backlog() if total_changes else 0)


def _record_failure(error: str) -> None:
    now = timezone.now()
    SearchIndexState.objects.filter(name=STATE, failing_since__isnull=True).update(failing_since=now)
    SearchIndexState.objects.filter(name=STATE).update(last_error=error[:2000])
    logger.warning("search indexing failed, backlog kept: %s", error)


def rewind(to_change: int) -> None:
    """Index again from `to_change` on (after a rebuild: what the live indexer wrote to the old index)."""
    _state()
    SearchIndexState.objects.filter(name=STATE, last_change__gt=to_change).update(last_change=to_change)


def current_change() -> int:
    return int(Change.objects.aggregate(n=Max("number"))["n"] or 0)


def status() -> dict[str, object]:
    state = _state()
    return {"last_change": state.last_change, "backlog": backlog(),
            "failing_since": state.failing_since.isoformat() if state.failing_since else None,
            "last_error": state.last_error}


_kick_lock = threading.Lock()
_last_kick = 0.0
KICK_WINDOW = 0.25  # seconds: changes committed within this window share one indexer run


def kick() -> None:
    """After a commit that recorded changes: have the indexer run soon. Kicks within KICK_WINDOW share one
    run, which starts at the end of the window and so sees every change committed in it."""
    from django.conf import settings

    from hub import tasks
    from hub.taskqueue import enqueue

    global _last_kick
    if not settings.SEARCH_AUTO_INDEX:
        return
    if settings.TASK_MODE == "sync":
        enqueue(tasks.index_search)
        return
    now = time.monotonic()
    with _kick_lock:
        if now - _last_kick < KICK_WINDOW:
            return
        _last_kick = now
    if settings.TASK_MODE == "celery" and not _first_kick_of_window_everywhere():
        return
    enqueue(tasks.index_search, countdown=KICK_WINDOW)


def _first_kick_of_window_everywhere() -> bool:
    """With Celery, every web, webhook and worker process commits and kicks: one run per window for all of
    them, claimed in the shared cache (Redis). A run per process per window kept a routing worker busy
    indexing (bench/routing.py: 199 runs of 51 ms in 8 s at 30 arrivals/s). A missed claim costs nothing:
    the run of that window, or the periodic tick, reads every change committed before it starts."""
    from django.core.cache import cache

    slot = int(time.time() / KICK_WINDOW)
    try:
        return bool(cache.add(f"search-kick-{slot}", 1, timeout=5))
    except Exception:  # the cache is down: kick anyway, as without it
        logger.warning("search kick: the shared cache is unavailable", exc_info=True)
        return True


def rebuild_if_outdated(say: Callable[[str], None]) -> Reindexed | None:
    """`hub up`: an index written by an earlier version of the hub (other fields) cannot be searched or
    written; rebuild it from the database before serving."""
    if not get_backend().outdated():
        return None
    say("The search index was built by an earlier version of the hub: rebuilding it from the database...")
    done = reindex()
    say(f"Search index rebuilt: {done.documents} messages and notes.")
    return done


@dataclass(frozen=True)
class Reindexed:
    documents: int
    replayed_from: int


def reindex(since: datetime | None = None, progress: Callable[[int], None] | None = None,
            batch: int = 2000) -> Reindexed:
    """Rebuild the index from the database.

    Everything: a new index is filled while the current one keeps answering, then swapped in (on
    Elasticsearch an alias swap); the changes committed meanwhile went to the old index, so the indexer is
    rewound to where the rebuild started and replays them into the new one. With `since`: the documents of
    messages and notes created since then are written again into the current index."""
    backend = get_backend()
    backend.ensure_index()
    start = current_change()
    written = 0
    if since is not None:
        for docs in documents.all_documents(start, since=since, batch=batch):
            backend.index(docs)
            written += len(docs)
            if progress:
                progress(len(docs))
        backend.refresh()
        return Reindexed(written, start)
    rebuild = backend.begin_rebuild()
    try:
        for docs in documents.all_documents(start, batch=batch):
            rebuild.index(docs)
            written += len(docs)
            if progress:
                progress(len(docs))
        rebuild.finish()
    except BaseException:
        rebuild.abort()
        raise
    rewind(start)
    return Reindexed(written, start)
