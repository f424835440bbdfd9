"""`hub migrate`, `hub seed-demo` and `hub manage` (Django's management commands, for operators)."""

from __future__ import annotations

import argparse

from django.conf import settings
from django.core.management import execute_from_command_line

from hub.channel_accounts import ensure_default_accounts
from hub.cli import banner, embedded
from hub.cli.celery_commands import check_broker
from hub.cli.database import describe, migrate, require_schema


def run_migrate(args: argparse.Namespace) -> int:
    migrate(verbosity=1)
    ensure_default_accounts()
    print(f"Database ready: {describe()}")
    return 0


def run_seed_demo(args: argparse.Namespace) -> int:
    from hub.demo import seed_demo

    require_schema()
    if settings.TASK_MODE == "celery":
        check_broker()  # the demo's replies are handed to Celery as it commits
    ensure_default_accounts()
    result = seed_demo()
    if not result.loaded:
        print("The demo data is already loaded; nothing changed.")
        return 0
    print(f"Demo data loaded: {result.customers} customers, {result.conversations} conversations, "
          f"{result.messages} messages.")
    if settings.TASK_MODE == "inprocess":
        # This process is about to exit, and with it the in-process runner delivering the demo's replies.
        left = embedded.wait_for_outbox(timeout=30)
        if left:
            print(f"{left} replies are still queued; `hub up` delivers them.")
    banner.print_logins()
    return 0


def run_manage(args: argparse.Namespace) -> int:
    execute_from_command_line(["hub manage", *args.args])
    return 0
