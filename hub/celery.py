"""The Celery app: used by `hub worker` and `hub beat` when a broker (HUB_REDIS_URL) is configured."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, signals

from hub import config

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")

# Agents whose inbox closed are set offline within a third of their lease after it runs out.
PRESENCE_SWEEP_SECONDS = max(1.0, config.env_int("HUB_PRESENCE_LEASE_SECONDS") / 3)

app = Celery("hub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["hub"])
app.conf.beat_schedule = {
    "requeue-stale-outbound": {"task": "hub.tasks.requeue_stale_outbound", "schedule": 60.0},
    "prune-realtime-events": {"task": "hub.tasks.prune_events", "schedule": 600.0},
    "wake-snoozed": {"task": "hub.tasks.wake_snoozed", "schedule": 30.0},
    "expire-presence": {"task": "hub.tasks.expire_presence", "schedule": PRESENCE_SWEEP_SECONDS},
    "routing-tick": {"task": "hub.tasks.routing_tick", "schedule": float(config.env_int("HUB_ROUTING_TICK_SECONDS"))},
    "poll-channels": {"task": "hub.tasks.poll_channels", "schedule": float(config.env_int("HUB_IMAP_POLL_SECONDS"))},
    "prune-webhook-deliveries": {"task": "hub.tasks.prune_webhook_deliveries", "schedule": 3600.0},
    "prune-webchat-uploads": {"task": "hub.tasks.prune_webchat_uploads", "schedule": 3600.0},
    "search-tick": {"task": "hub.tasks.search_tick", "schedule": float(config.env_int("HUB_SEARCH_TICK_SECONDS"))},
}

# Connections: Celery's Django fixup closes every database connection before and after each task, so each
# task opened a new PostgreSQL connection (a server process started and authenticated, and no prepared
# statement ever reused): four per routed conversation in bench/routing.py. The fixup closes them only every
# CELERY_DB_REUSE_MAX tasks instead (here: never), and each task is bracketed the way Django brackets a
# request: close_old_connections() drops a connection that broke or outlived CONN_MAX_AGE and arms the
# health check before the next use.
app.conf.update(CELERY_DB_REUSE_MAX=2**62)


@signals.task_prerun.connect(dispatch_uid="hub.celery.connections_before")
@signals.task_postrun.connect(dispatch_uid="hub.celery.connections_after")
def _check_connections(**kwargs: Any) -> None:
    task = kwargs.get("task")
    if task is not None and getattr(task.request, "is_eager", False):
        return  # an eager task runs inside its caller's request or transaction
    from django.db import close_old_connections

    close_old_connections()


@signals.worker_ready.connect(dispatch_uid="hub.celery.freeze_ready")
@signals.worker_process_init.connect(dispatch_uid="hub.celery.freeze_child")
def _freeze_startup_objects(**kwargs: Any) -> None:
    # The solo pool runs tasks in the process that says it is ready; prefork runs them in children. In both,
    # full garbage collections then skip what start-up created (hub/gc_freeze.py): a long pause delays every
    # routing round behind it.
    from hub.gc_freeze import freeze_after_startup

    freeze_after_startup()
