"""Background tasks. They take plain JSON-safe arguments and call actions; enqueue them with
hub.taskqueue.enqueue so that the embedded mode runs them in-process."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import Task
from django.conf import settings
from django.utils import timezone

from connectors.base import TemporaryFailure
from hub.celery import app

logger = logging.getLogger(__name__)


@app.task(bind=True, autoretry_for=(TemporaryFailure,), retry_backoff=2, retry_backoff_max=600,
          retry_jitter=True, max_retries=settings.HUB_OUTBOUND_MAX_RETRIES, acks_late=True)
def deliver_message(self: Task, message_id: int) -> str:
    from hub.delivery import deliver

    return deliver(message_id, final_attempt=self.request.retries >= (self.max_retries or 0))


@app.task
def requeue_stale_outbound(older_than_seconds: int = 120) -> int:
    """Outbox sweeper: a queued message whose task was lost (process killed before the broker got it)
    is handed to delivery again. deliver() skips messages that are no longer queued."""
    from hub.models import Message
    from hub.taskqueue import enqueue

    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(Message.objects.filter(direction="out", status="queued", status_changed_at__lt=cutoff,
                                      attempts=0).values_list("id", flat=True)[:500])
    for message_id in ids:
        enqueue(deliver_message, message_id)
    if ids:
        logger.info("requeued %d stale outbound messages", len(ids))
    return len(ids)


@app.task
def prune_events() -> int:
    from hub.events.resume import prune

    return prune()
