"""What routing costs per conversation, one process, nothing else running (issue: routing). Prints figures;
not a pass/fail test.

A web chat conversation arrives (ingestion), its routing task runs, the offered agent accepts, the
conversation is resolved, and each routing task that caused runs: every step inline, timed, on a fresh
PostgreSQL database. With --hold, also how long each publishing path holds the change counter (from its
publish to its commit), the lock every writer of events waits for (hub/events/publish.py).

    .venv/bin/python bench/routing_tasks.py                 # 300 conversations, 20 agents
    .venv/bin/python bench/routing_tasks.py --hold
    .venv/bin/python bench/routing_tasks.py --sql routing_needs_agent   # also its statements, once
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import traceback
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "postgres://postgres@127.0.0.1:5432/hub_bench_tasks"


def _setup() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS hub_bench_tasks WITH (FORCE)")
        conn.execute("CREATE DATABASE hub_bench_tasks")
    os.environ.update({"HUB_DATABASE_URL": PG_BENCH, "HUB_REDIS_URL": "", "HUB_TASK_MODE": "celery",
                       "HUB_DATA_DIR": "/tmp/hub-bench-tasks", "HUB_LOG_LEVEL": "WARNING",
                       "HUB_SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdefghijklmnop",
                       "DJANGO_SETTINGS_MODULE": "hub.settings"})
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.SEARCH_AUTO_INDEX = False  # bench/search.py measures the indexer
    call_command("migrate", verbosity=0)


def _watch_counter_holds() -> dict[str, list[float]]:
    """Time from each transaction's first publish to its commit, by the code path that published."""
    from django.db import connection, transaction

    from hub.events import publish

    holds: dict[str, list[float]] = defaultdict(list)
    record = publish._record_postgres

    def timed(*args: Any, **kwargs: Any) -> Any:
        if getattr(connection, "_bench_hold", None) is None:
            started = time.perf_counter()
            connection._bench_hold = started  # type: ignore[attr-defined]
            path = [f.name for f in traceback.extract_stack(limit=16)[:-2] if str(ROOT) in f.filename
                    and "bench" not in f.filename]
            key = " > ".join(path[-5:])

            def committed() -> None:
                holds[key].append(time.perf_counter() - started)
                connection._bench_hold = None  # type: ignore[attr-defined]

            transaction.on_commit(committed)
        return record(*args, **kwargs)

    publish._record_postgres = timed  # type: ignore[assignment]
    return holds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=300, help="conversations (the first 50 warm up)")
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--hold", action="store_true", help="time the change counter's holds")
    parser.add_argument("--sql", metavar="STEP", help="print the statements of one STEP (after the warm-up)")
    args = parser.parse_args()
    _setup()

    from django.contrib.auth.models import User

    from connectors.base import InboundMessage, Sender
    from hub import taskqueue
    from hub.actions.conversations import do_set_status
    from hub.actions.ingestion import do_ingest_message
    from hub.actions.routing import do_accept_offer
    from hub.channel_accounts import ensure_default_accounts
    from hub.models import AgentProfile, Conversation, RoutingOffer
    from routing import adapter

    account = ensure_default_accounts()["webchat"]
    for i in range(args.agents):
        user = User.objects.create_user(f"bench{i}", password="bench-pass")
        AgentProfile.objects.create(user=user, display_name=f"Bench {i}", presence="available")
    holds = _watch_counter_holds() if args.hold else {}
    # The tasks the signals ask for are collected and run here, one at a time, timed by name.
    queued: list[tuple[Any, tuple[Any, ...]]] = []
    taskqueue.enqueue = lambda task, *a, countdown=0: queued.append((task, a))  # type: ignore[assignment]
    spent: dict[str, list[float]] = defaultdict(list)
    # Statements (round trips) per step, counted at the connection.
    from django.db import connection

    statements: dict[str, list[int]] = defaultdict(list)
    current: list[str] = []
    shown: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if current:
            statements[current[-1]][-1] += 1
            if args.sql == current[-1] and not shown_done:
                shown.append(" ".join(sql.split())[:150])
        return execute(sql, params, many, context)

    shown_done = False
    connection.execute_wrappers.append(count)  # for the whole run

    def step_start(name: str) -> None:
        current.append(name)
        statements[name].append(0)

    def step_end() -> None:
        nonlocal shown_done
        if current.pop() == args.sql and shown:
            shown_done = True  # one step's statements are enough

    def run_routing_tasks() -> None:
        while queued:
            task, task_args = queued.pop(0)
            if not task.name.startswith("hub.tasks.routing"):
                continue
            started = time.perf_counter()
            step_start(task.name.rsplit(".", 1)[1])
            task.run(*task_args)
            step_end()
            spent[task.name.rsplit(".", 1)[1]].append(time.perf_counter() - started)

    def timed(name: str, step: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        step_start(name)
        result = step()
        step_end()
        spent[name].append(time.perf_counter() - started)
        return result

    for i in range(args.count):
        if i == 50:
            spent.clear()
            holds.clear()
            statements.clear()
            shown.clear()
            shown_done = False
        conv = timed("ingest", lambda i=i: do_ingest_message(account, InboundMessage(
            f"bench-{i}", Sender("webchat", f"bench-visitor-{i}"), text="hello")).message.conversation)
        run_routing_tasks()
        offer = RoutingOffer.objects.filter(conversation=conv, outcome="pending").select_related("agent").first()
        if offer is None:
            continue
        timed("accept", lambda offer=offer: do_accept_offer(offer.agent, offer.pk))
        run_routing_tasks()
        timed("resolve", lambda offer=offer, conv=conv: do_set_status(
            offer.agent, Conversation.objects.get(pk=conv.pk), "resolved"))
        run_routing_tasks()

    print(f"# One process, PostgreSQL, {args.agents} agents, {args.count - 50} conversations measured "
          "(each step's wall time)")
    for name, times in spent.items():
        print(f"{name:24s} n={len(times):4d}  mean {statistics.mean(times) * 1000:6.2f} ms  "
              f"p90 {sorted(times)[int(len(times) * 0.9)] * 1000:6.2f} ms  "
              f"{statistics.mean(statements[name]):5.1f} statements")
    if shown:
        print(f"\n# The statements of one {args.sql}")
        for line in shown:
            print("  " + line)
    print(f"kept engine: {adapter.live.applied_events} events applied, {adapter.live.reloads} reloads")
    if holds:
        print("\n# The change counter held, from the first publish to the commit, by publishing path")
        for path, times in sorted(holds.items(), key=lambda kv: -sum(kv[1])):
            print(f"n={len(times):4d}  mean {statistics.mean(times) * 1000:5.2f} ms  {path}")


if __name__ == "__main__":
    main()
