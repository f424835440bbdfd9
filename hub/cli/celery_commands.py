"""`hub worker` and `hub beat`: the Celery side of a scaled-out installation (docker-compose)."""

from __future__ import annotations

import argparse

from django.conf import settings

from hub import config
from hub.cli.database import ensure_reachable
from hub.cli.errors import CliError, one_line, redact_url


def _require_broker(command: str) -> None:
    if not settings.BROKER_URL:
        raise CliError(
            f"`hub {command}` needs a message broker: set HUB_REDIS_URL (or HUB_BROKER_URL), e.g. "
            "HUB_REDIS_URL=redis://127.0.0.1:6379/0. Without one, `hub up` runs the background work in its "
            "own process and needs no worker.")


def check_broker() -> None:
    """Fail with a message now rather than when the first task is sent."""
    from hub.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
    except Exception as exc:
        raise CliError(f"cannot reach the message broker at {redact_url(settings.BROKER_URL)}: {one_line(exc)}") \
            from exc


def run_worker(args: argparse.Namespace) -> int:
    _require_broker("worker")
    ensure_reachable()
    from hub.celery import app

    extra = list(args.args)
    if not any(a == "-Q" or a.startswith(("-Q", "--queues")) for a in extra):
        # One worker does everything unless it is given its queues (`hub worker -Q celery` and
        # `hub worker -Q search` split routing and delivery from search indexing).
        extra.append(f"--queues={app.conf.task_default_queue},{settings.SEARCH_QUEUE}")
    app.worker_main(["worker", "--loglevel=INFO", *extra])
    return 0


def run_beat(args: argparse.Namespace) -> int:
    _require_broker("beat")
    from hub.celery import app

    # Beat keeps its last-run times in a file; the data folder is the one place the hub may write.
    schedule = config.data_dir() / "celerybeat-schedule"
    return int(app.start(["beat", "--loglevel=INFO", f"--schedule={schedule}", *args.args]) or 0)
