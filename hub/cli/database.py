"""Reaching and migrating the database, with messages an operator can act on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

from hub.cli.errors import CliError, one_line, redact_url


def describe() -> str:
    """Where the data lives, for banners and messages."""
    if connection.vendor == "sqlite":
        return f"SQLite file {settings.DATABASES['default']['NAME']}"
    return redact_url(settings.DATABASE_URL)


def ensure_reachable() -> None:
    try:
        connection.ensure_connection()
    except DatabaseError as exc:
        raise CliError(f"cannot reach the database at {redact_url(settings.DATABASE_URL)}: {one_line(exc)}") \
            from exc


def unapplied_migrations() -> int:
    executor = MigrationExecutor(connection)
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def require_schema() -> None:
    """Refuse to run a command against a database that `hub migrate` has not prepared."""
    ensure_reachable()
    missing = unapplied_migrations()
    if missing:
        raise CliError(f"the database ({describe()}) has {missing} unapplied migration(s): "
                       "run `hub migrate` first (`hub up` migrates by itself)")


def migrate(*, verbosity: int = 1) -> None:
    ensure_reachable()
    call_command("migrate", interactive=False, verbosity=verbosity)


# Any fixed number: the PostgreSQL advisory lock that web processes starting together queue on.
STARTUP_LOCK = 0x6875625F7570  # "hub_up"


@contextmanager
def startup_lock() -> Iterator[None]:
    """Let one `hub up` at a time migrate and load the demo: several web processes started together
    (docker compose --scale web=3) would otherwise race on the schema. SQLite is one machine's file and
    serializes writers by itself."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", [STARTUP_LOCK])
    try:
        yield
    finally:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", [STARTUP_LOCK])
