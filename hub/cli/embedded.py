"""What stands in for Celery's worker and beat when `hub up` runs everything in one process
(settings.TASK_MODE == "inprocess"): the in-process runner of hub/taskqueue.py does the work."""

from __future__ import annotations

import time

from django.conf import settings

from hub import config, tasks
from hub.actions.conversations import do_wake_snoozed
from hub.celery import PRESENCE_SWEEP_SECONDS
from hub.models import Message
from hub.taskqueue import enqueue, runner

# (seconds, job): the same jobs and periods as the Celery beat schedule.
PERIODIC_JOBS = (
    (60.0, tasks.requeue_stale_outbound),
    (600.0, tasks.prune_events),
    (30.0, do_wake_snoozed),
    (PRESENCE_SWEEP_SECONDS, tasks.expire_presence),
    (float(settings.HUB_ROUTING_TICK_SECONDS), tasks.routing_tick),
    (float(config.env_int("HUB_IMAP_POLL_SECONDS")), tasks.poll_channels),
    (3600.0, tasks.prune_webhook_deliveries),
    (3600.0, tasks.prune_webchat_uploads),
    (float(config.env_int("HUB_SEARCH_TICK_SECONDS")), tasks.search_tick),
)


def _queued_outbound() -> list[int]:
    return list(Message.objects.filter(direction=Message.Direction.OUT, status=Message.Status.QUEUED)
                .order_by("id").values_list("id", flat=True))


def requeue_outbound() -> int:
    """Hand every still-queued reply to delivery again: the retries the previous process had scheduled
    died with it. Delivery skips a message that is no longer queued, so a duplicate job is harmless."""
    ids = _queued_outbound()
    for message_id in ids:
        enqueue(tasks.deliver_message, message_id)
    return len(ids)


def start_periodic_jobs() -> None:
    for seconds, job in PERIODIC_JOBS:
        runner.every(seconds, job)


def wait_for_outbox(timeout: float) -> int:
    """Wait until the runner has delivered what is queued now. Returns how many replies are still queued
    (those waiting for a retry, typically)."""
    deadline = time.monotonic() + timeout
    while True:
        left = len(_queued_outbound())
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.1)
