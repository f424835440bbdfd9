"""The Celery app: used by `hub worker` and `hub beat` when a broker (HUB_REDIS_URL) is configured."""

from __future__ import annotations

import os

from celery import Celery

from hub import config

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")

app = Celery("hub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["hub"])
app.conf.beat_schedule = {
    "requeue-stale-outbound": {"task": "hub.tasks.requeue_stale_outbound", "schedule": 60.0},
    "prune-realtime-events": {"task": "hub.tasks.prune_events", "schedule": 600.0},
    "wake-snoozed": {"task": "hub.tasks.wake_snoozed", "schedule": 30.0},
    "routing-tick": {"task": "hub.tasks.routing_tick", "schedule": float(config.env_int("HUB_ROUTING_TICK_SECONDS"))},
    "poll-channels": {"task": "hub.tasks.poll_channels", "schedule": float(config.env_int("HUB_IMAP_POLL_SECONDS"))},
    "prune-webhook-deliveries": {"task": "hub.tasks.prune_webhook_deliveries", "schedule": 3600.0},
    "prune-webchat-uploads": {"task": "hub.tasks.prune_webchat_uploads", "schedule": 3600.0},
    "search-tick": {"task": "hub.tasks.search_tick", "schedule": float(config.env_int("HUB_SEARCH_TICK_SECONDS"))},
}
