"""Invariant 2 under real concurrency: several processes delivering at once on PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest
from django.db import connection

from hub.models import Change, Conversation, Customer, EventDelivery, Identity, Message
from tests import factories as f


def _db_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def run_workers(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    env = {**os.environ, "HUB_DATABASE_URL": _db_url(), "HUB_TASK_MODE": "sync", "HUB_REDIS_URL": ""}
    start = time.time() + 2.5  # every process is imported and connected before the start
    procs = [subprocess.Popen([sys.executable, "-m", "tests.concurrent_worker", str(start), json.dumps(spec)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
             for spec in specs]
    results: list[dict[str, Any]] = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        results.extend(json.loads(out.strip().splitlines()[-1]))
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_same_message_from_ten_processes_is_stored_once() -> None:
    f.agent("watcher")
    acc = f.account("sms")
    spec = {"account": acc.pk, "pids": ["SMdup"], "kind": "phone", "address": "+14155550111", "text": "hi"}
    results = run_workers([spec] * 10)
    assert sum(r["created"] for r in results) == 1
    assert len({r["message"] for r in results}) == 1
    assert Message.objects.count() == 1 and Conversation.objects.count() == 1
    assert Customer.objects.count() == 1 and Identity.objects.count() == 1
    # One change per event and gap-free per-recipient sequences.
    assert Change.objects.filter(type="message.created").count() == 1
    seqs = list(EventDelivery.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == [1, 2]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_new_customers_burst_lands_in_one_conversation() -> None:
    acc = f.account("sms")
    specs = [{"account": acc.pk, "pids": [f"SM{p}-{i}" for i in range(5)], "kind": "phone",
              "address": "+14155550122", "text": "burst"} for p in range(4)]
    results = run_workers(specs)
    assert all(r["created"] for r in results) and len(results) == 20
    assert Message.objects.count() == 20
    assert Customer.objects.count() == 1 and Conversation.objects.count() == 1
    assert Conversation.objects.get().messages_count == 20
    numbers = list(Change.objects.order_by("number").values_list("number", flat=True))
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))


@pytest.mark.django_db(transaction=True)
def test_threads_racing_on_either_database_store_once() -> None:
    """The same check with threads, which also runs on SQLite (IMMEDIATE transactions queue writers)."""
    import threading

    from django.db import connections

    from hub.actions.ingestion import do_ingest_message

    acc = f.account("sms")
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            barrier.wait(10)
            for i in range(5):
                do_ingest_message(acc, f.inbound("dup", pid=f"SMthread-{i}", address="+14155550133"))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert Message.objects.count() == 5 and Conversation.objects.count() == 1
