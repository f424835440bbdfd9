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
    """Outbox sweeper: a queued message whose task was lost (process killed before the broker got it, a
    retry lost with the broker or with the in-process runner) is handed to delivery again. Messages under
    a delivery lease are left alone, and deliver() claims the lease before calling the provider, so a
    sweep never causes a second send of a message being delivered."""
    from django.db.models import Q

    from hub.models import Message
    from hub.taskqueue import enqueue

    now = timezone.now()
    fresh_cutoff = now - timedelta(seconds=older_than_seconds)
    # A message waiting for a retry is not lost until its longest possible backoff has passed.
    longest_wait = int(getattr(deliver_message, "retry_backoff_max", None) or 600)
    retry_cutoff = now - timedelta(seconds=longest_wait + older_than_seconds)
    ids = list(
        Message.objects.filter(direction="out", status="queued")
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .filter(Q(last_attempt_at__isnull=True, created_at__lt=fresh_cutoff) | Q(last_attempt_at__lt=retry_cutoff))
        .order_by("id").values_list("id", flat=True)[:500]
    )
    for message_id in ids:
        enqueue(deliver_message, message_id)
    if ids:
        logger.info("requeued %d stale outbound messages", len(ids))
    return len(ids)


@app.task
def wake_snoozed() -> int:
    from hub.actions.conversations import do_wake_snoozed

    return do_wake_snoozed()


@app.task
def expire_presence() -> int:
    from hub.actions.agents import do_expire_presence_leases

    return do_expire_presence_leases()


@app.task
def prune_events() -> int:
    from hub.events.resume import prune

    return prune()


# Routing (routing/adapter.py): each runs a routing round after recording what changed.

@app.task
def routing_needs_agent(conversation_id: int, reason: str = "new") -> int:
    from routing.adapter import conversation_needs_agent

    return conversation_needs_agent(conversation_id, reason)


@app.task
def routing_resolved(conversation_id: int) -> int:
    from routing.adapter import conversation_resolved

    return conversation_resolved(conversation_id)


@app.task
def routing_changed(conversation_id: int) -> int:
    from routing.adapter import conversation_changed

    return conversation_changed(conversation_id)


@app.task
def routing_presence(user_id: int, presence: str) -> int:
    from routing.adapter import agent_presence_changed

    return agent_presence_changed(user_id, presence)


@app.task
def routing_assigned(conversation_id: int, agent_id: int) -> int:
    from routing.adapter import conversation_assigned

    return conversation_assigned(conversation_id, agent_id)


@app.task
def routing_declined(conversation_id: int, agent_id: int) -> int:
    from routing.adapter import offer_declined

    return offer_declined(conversation_id, agent_id)


@app.task
def routing_tick(requested_at: float | None = None) -> int:
    """Expire offers, overflow, open queues, relax skills, and offer what can be offered, on an engine
    reloaded from the database (routing/live.py). With `requested_at` (a change asked for this round),
    skipped if a reload began after the request."""
    from routing.adapter import route

    return route(requested_at=requested_at)


# Search (search/indexer.py).

@app.task(bind=True, autoretry_for=(TemporaryFailure,), retry_backoff=2, retry_backoff_max=60,
          retry_jitter=True, max_retries=100)
def index_search(self: Task) -> int:
    """Drain the search backlog. While the engine is down this retries with backoff (and the periodic
    tick tries too); the backlog stays in the database meanwhile."""
    from search.backend import BackendUnavailable
    from search.indexer import index_pending

    try:
        return index_pending().changes
    except BackendUnavailable as exc:
        raise TemporaryFailure(str(exc)) from exc


@app.task
def search_tick() -> int:
    """The periodic drain: catches what a lost kick or an exhausted retry left behind."""
    from search.backend import BackendUnavailable
    from search.indexer import index_pending

    try:
        return index_pending().changes
    except BackendUnavailable:
        return 0


# Connectors.

@app.task(bind=True, autoretry_for=(TemporaryFailure,), retry_backoff=2, retry_backoff_max=300,
          retry_jitter=True, max_retries=6)
def fetch_media(self: Task, message_id: int) -> int:
    """Fetch the provider media an inbound message names (MMS images...) through its connector, with the
    attachment size cap. Returns how many were stored."""
    from connectors import registry
    from connectors.base import PermanentFailure
    from hub.actions.ingestion import do_attach_fetched
    from hub.connector_port import account_info
    from hub.models import Message

    message = Message.objects.select_related("channel_account").filter(pk=message_id).first()
    if message is None:
        return 0
    connector = registry.get(message.channel_account.channel)
    pending = [e for e in message.metadata.get("attachments_not_stored", []) if e.get("reason") == "pending_fetch"]
    info = account_info(message.channel_account)
    final = self.request.retries >= (self.max_retries or 0)
    stored = 0
    for entry in pending:
        url = str(entry.get("url", ""))
        try:
            if connector is None:
                raise PermanentFailure(f"no connector for {message.channel_account.channel}")
            media = connector.fetch_media(info, url, settings.HUB_MAX_ATTACHMENT_BYTES)
        except PermanentFailure as exc:
            do_attach_fetched(message_id, url, data=None, failure=str(exc))
            continue
        except TemporaryFailure as exc:
            if final:
                do_attach_fetched(message_id, url, data=None, failure=f"gave up after retries: {exc}")
                continue
            raise
        if do_attach_fetched(message_id, url, data=media.data, content_type=media.content_type,
                             name=media.name) is not None:
            stored += 1
    return stored


@app.task
def poll_channels() -> int:
    """Pull channels (IMAP mailboxes): each active account of a connector that polls, once."""
    from connectors import registry
    from hub.connector_port import DatabaseHubPort

    port = DatabaseHubPort()
    handed = 0
    for connector in registry.connectors().values():
        if not connector.polls:
            continue
        for account in port.accounts(connector.id):
            try:
                handed += connector.poll(account, port)
            except Exception:
                # One broken mailbox must not stop the others; the next poll tries again.
                logger.exception("polling %s account %s failed", connector.id, account.id)
    return handed


@app.task
def prune_webchat_uploads() -> int:
    from web.chat_views import prune_uploads

    return prune_uploads()


@app.task
def prune_webhook_deliveries() -> int:
    from hub.webhooks import prune_deliveries

    return prune_deliveries()
