"""The indexer on the real databases: one batch at a time across threads (PostgreSQL row lock), the backlog
kept through an outage, and the live kick after commit."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection

from hub.actions.ingestion import do_ingest_message
from hub.models import SearchIndexState
from search import indexer, service
from search.backend import BackendUnavailable, SearchBackend
from tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)


def _ingest(i: int) -> None:
    do_ingest_message(f.account("sms"), f.inbound(f"parcel {i} is late", address=f"+1415555{i:04d}"))


def test_a_committed_message_is_searchable_through_the_kick(search_backend: SearchBackend) -> None:
    sue = f.agent("sue", role="supervisor")
    _ingest(1)
    assert indexer.backlog() == 0
    assert service.search(sue, service.Params(q="parcel")).total == 1


def test_concurrent_indexers_index_each_change_once(search_backend: SearchBackend, settings: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    settings.SEARCH_AUTO_INDEX = False
    sue = f.agent("sue", role="supervisor")
    for i in range(30):
        _ingest(i)
    batches: list[int] = []
    real_index = search_backend.index

    def slow_index(docs: Any) -> None:
        batches.append(len(docs))
        time.sleep(0.05)  # hold the batch long enough for the other thread to try
        real_index(docs)

    monkeypatch.setattr(search_backend, "index", slow_index)
    monkeypatch.setattr(indexer, "BATCH_CHANGES", 10)
    # In one process the indexer also takes a lock of its own; the database lock is what separates
    # processes, so the test takes it out of the way to race on the row alone.
    monkeypatch.setattr(indexer, "_process_lock", _NoLock())
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            indexer.index_pending()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert indexer.backlog() == 0
    if connection.vendor == "postgresql":
        # Every change's documents written once: the row lock let one indexer at a time take a batch.
        assert sum(batches) == 30
    assert service.search(sue, service.Params(q="parcel", mode="messages")).total == 30


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_the_backlog_survives_an_outage_and_drains(search_backend: SearchBackend,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from hub import tasks

    sue = f.agent("sue", role="supervisor")
    real_index = search_backend.index
    down = {"on": True}

    def index(docs: Any) -> None:
        if down["on"]:
            raise BackendUnavailable("connection refused")
        real_index(docs)

    monkeypatch.setattr(search_backend, "index", index)
    for i in range(4):
        _ingest(i)
    state = SearchIndexState.objects.get(name="search")
    assert state.failing_since is not None and "connection refused" in state.last_error
    assert indexer.backlog() >= 4
    assert tasks.search_tick() == 0  # still down: the periodic drain reports nothing and raises nothing
    down["on"] = False
    assert tasks.search_tick() > 0
    assert indexer.backlog() == 0
    assert service.search(sue, service.Params(q="parcel", mode="messages")).total == 4
    assert SearchIndexState.objects.get(name="search").failing_since is None


def test_with_celery_the_processes_kick_one_run_per_window(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each process kicks after its commits; with several (web, webhooks, workers) one run per window is
    claimed for all of them in the shared cache."""
    from django.core.cache import cache

    from hub import taskqueue

    settings.SEARCH_AUTO_INDEX = True
    settings.TASK_MODE = "celery"
    cache.clear()
    runs: list[Any] = []
    monkeypatch.setattr(taskqueue, "enqueue", lambda task, *args, countdown=0: runs.append(task))
    monkeypatch.setattr(indexer.time, "time", lambda: 1_000_000.0)  # one window for the whole test
    for _process in range(5):
        monkeypatch.setattr(indexer, "_last_kick", 0.0)  # another process: its own window starts
        indexer.kick()
    assert len(runs) == 1
    monkeypatch.setattr(indexer.time, "time", lambda: 1_000_000.0 + indexer.KICK_WINDOW)  # the next window
    monkeypatch.setattr(indexer, "_last_kick", 0.0)
    indexer.kick()
    assert len(runs) == 2


def test_on_sqlite_other_writers_never_wait_for_the_engine(search_backend: SearchBackend, settings: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A transaction on SQLite holds the database's write lock: the indexer must not keep one open while the
    engine writes (an agent's reply waited seconds behind it in the browser tests)."""
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's row lock never blocks other writers")
    import sqlite3

    settings.SEARCH_AUTO_INDEX = False
    sue = f.agent("sue", role="supervisor")
    _ingest(1)
    other_writer: list[str] = []
    real_index = search_backend.index

    def index_while_someone_writes(docs: Any) -> None:
        with sqlite3.connect(connection.settings_dict["NAME"], timeout=0.2) as other:
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
                other_writer.append("wrote")
            except sqlite3.OperationalError as exc:
                other_writer.append(str(exc))
        real_index(docs)

    monkeypatch.setattr(search_backend, "index", index_while_someone_writes)
    indexer.index_pending()
    assert other_writer == ["wrote"]
    assert indexer.backlog() == 0
    assert service.search(sue, service.Params(q="parcel")).total == 1
