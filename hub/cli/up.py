"""`hub up`: everything `make run` needs, then serve until stopped.

Embedded (no HUB_REDIS_URL): SQLite, the in-memory channel layer and the in-process task runner, which also
runs the periodic jobs. With HUB_DATABASE_URL / HUB_REDIS_URL the same command serves against PostgreSQL and
Redis, and the background work is left to `hub worker` and `hub beat`.
"""

from __future__ import annotations

import argparse
import sys
import time

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connections

from hub import config
from hub.channel_accounts import ensure_default_accounts
from hub.cli import banner, embedded
from hub.cli.celery_commands import check_broker
from hub.cli.database import ensure_reachable, migrate, startup_lock
from hub.cli.server import check_port_free, serve


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "::", "[::]") else host  # noqa: S104 - display only
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def _first_run() -> bool:
    return not User.objects.exists()


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    host, port = config.env("HUB_HOST"), config.env_int("HUB_PORT")
    in_process = settings.TASK_MODE == "inprocess"
    check_port_free(host, port)
    if settings.TASK_MODE == "celery":
        check_broker()
    print("Preparing the database...", flush=True)
    ensure_reachable()
    demo_loaded_now = False
    with startup_lock():
        migrate(verbosity=0)
        ensure_default_accounts()
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
    # The main thread's connection is not used while serving; requests and tasks open their own.
    connections.close_all()

    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(line_buffering=True)  # access log lines appear at once, also when piped

    def ready() -> None:
        banner.print_running(_url(host, port), demo_loaded_now=demo_loaded_now, requeued=requeued)
        print(f"Ready in {time.monotonic() - started:.1f} s.", flush=True)

    serve(host, port, on_ready=ready, access_log=not args.no_access_log)
    return 0
