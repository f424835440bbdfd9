"""`hub up`: everything `make run` needs, then serve until stopped.

Embedded (no HUB_REDIS_URL): SQLite, the in-memory channel layer and the in-process task runner, which also
runs the periodic jobs. With HUB_DATABASE_URL / HUB_REDIS_URL the same command serves against PostgreSQL and
Redis, and the background work is left to `hub worker` and `hub beat`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connections

from connectors import registry
from connectors.base import Listener
from hub import config
from hub.channel_accounts import ensure_default_accounts
from hub.cli import banner, embedded
from hub.cli.celery_commands import check_broker
from hub.cli.database import ensure_reachable, migrate, startup_lock
from hub.cli.errors import CliError
from hub.cli.server import check_port_free, serve
from hub.connector_port import DatabaseHubPort
from search import indexer as search_indexer

logger = logging.getLogger(__name__)


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "::", "[::]") else host  # noqa: S104 - display only
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def start_listeners() -> list[Listener]:
    """Start the inbound servers every connector asks for (an SMTP listener...). One that cannot start
    (its port is taken) is reported and skipped: the hub serves without it."""
    hub = DatabaseHubPort()
    started: list[Listener] = []
    for connector in registry.connectors().values():
        try:
            wanted: Sequence[Listener] = connector.listeners(hub)
        except Exception:
            logger.exception("connector %s: could not prepare its listeners", connector.id)
            continue
        for listener in wanted:
            try:
                listener.start()
            except Exception as exc:
                print(f"warning: {connector.name}: {listener} not started: {exc}", file=sys.stderr, flush=True)
                continue
            print(f"{connector.name}: {listener}", flush=True)
            started.append(listener)
    return started


def stop_listeners(listeners: Sequence[Listener]) -> None:
    for listener in reversed(listeners):
        try:
            listener.stop()
        except Exception:
            logger.exception("stopping %s failed", listener)


def check_processes(processes: int) -> None:
    """Several web processes share work only through Redis (realtime) and Celery (background tasks): the
    embedded in-memory layer and task runner live inside one process."""
    if processes < 1:
        raise CliError(f"the number of web processes must be at least 1, got {processes}")
    if processes > 1 and (not settings.REDIS_URL or settings.TASK_MODE != "celery"):
        raise CliError(f"{processes} web processes need HUB_REDIS_URL (realtime between processes) and Celery "
                       "for background work (HUB_TASK_MODE empty or celery); the embedded mode runs one process")


def _first_run() -> bool:
    return not User.objects.exists()


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    host, port = config.env("HUB_HOST"), config.env_int("HUB_PORT")
    in_process = settings.TASK_MODE == "inprocess"
    processes = args.processes if args.processes is not None else config.env_int("HUB_WEB_PROCESSES")
    check_processes(processes)
    if settings.HUB_WEB_THREADS < 1:
        raise CliError(f"HUB_WEB_THREADS must be at least 1, got {settings.HUB_WEB_THREADS}")
    check_port_free(host, port)
    if settings.TASK_MODE == "celery":
        check_broker()
    print("Preparing the database...", flush=True)
    ensure_reachable()
    demo_loaded_now = False
    with startup_lock():
        migrate(verbosity=0)
        ensure_default_accounts()
        search_indexer.rebuild_if_outdated(lambda line: print(line, flush=True))
        requeued = embedded.requeue_outbound() if in_process else 0
        if not args.no_demo and _first_run():
            from hub.demo import seed_demo

            print("First run: loading the demo data...", flush=True)
            demo_loaded_now = seed_demo().loaded
    if in_process:
        if demo_loaded_now:
            # Let the demo's replies go out first, so their log lines come before the banner.
            embedded.wait_for_outbox(timeout=15)
        embedded.start_periodic_jobs()
    listeners = start_listeners()
    # The main thread's connection is not used while serving; requests and tasks open their own.
    connections.close_all()

    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(line_buffering=True)  # access log lines appear at once, also when piped

    def ready() -> None:
        banner.print_running(_url(host, port), demo_loaded_now=demo_loaded_now, requeued=requeued,
                             processes=processes)
        print(f"Ready in {time.monotonic() - started:.1f} s.", flush=True)

    try:
        serve(host, port, on_ready=ready, access_log=not args.no_access_log, processes=processes)
    finally:
        stop_listeners(listeners)
    return 0
