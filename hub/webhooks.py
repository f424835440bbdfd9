"""Provider webhooks: one view for every connector's routes (`Connector.webhooks`, under /webhooks/).

The order is fixed and the same for every channel: size cap (413), the account the request names (404),
the connector's signature check (403, logged with the reason), a repeated delivery id (acknowledged, or 403
for a replayed signature), parse (400 with the reason), store (one transaction per event; 400 when the hub
refuses an event, 503 with Retry-After when the database is unavailable, so the provider retries), and the
connector's answer. Nothing a provider or an attacker sends is answered 500.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import DatabaseSyncToAsync
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from connectors import registry
from connectors.base import (
    Connector,
    DeliveryKey,
    InboundEvent,
    InboundRequest,
    MalformedRequest,
    Outcome,
    RejectedRequest,
    WebhookReply,
)
from hub import config
from hub.actions.inbound import do_receive_events
from hub.connector_port import webhook_accounts
from hub.models import WebhookDelivery

logger = logging.getLogger("hub.webhooks")

# Errors a connector's parse raises on a payload it cannot read, besides MalformedRequest.
_PARSE_ERRORS = (MalformedRequest, ValueError, KeyError, TypeError, IndexError, AttributeError,
                 UnicodeDecodeError, json.JSONDecodeError)


def _answer(status: int, reason: str) -> HttpResponse:
    return HttpResponse(reason + "\n", status=status, content_type="text/plain; charset=utf-8")


def _reply(reply: WebhookReply) -> HttpResponse:
    response = HttpResponse(reply.body, status=reply.status, content_type=reply.content_type)
    for name, value in reply.headers.items():
        response[name] = value
    return response


def inbound_request(request: HttpRequest, body: bytes, endpoint: str, params: dict[str, str]) -> InboundRequest:
    # Providers sign the URL they were given, i.e. HUB_PUBLIC_URL + path (+ query): behind a proxy that
    # terminates TLS, request.build_absolute_uri() would say http:// and break every signature.
    query = request.META.get("QUERY_STRING", "")
    url = config.public_url() + request.path + (f"?{query}" if query else "")
    headers = {name.lower(): value for name, value in request.headers.items()}
    form: dict[str, str] = {}
    if request.method == "POST" and headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        # Last value wins, as providers' signature algorithms that sort single-valued params assume.
        form = {k: str(v) for k, v in request.POST.items()}
    return InboundRequest(method=request.method or "GET", url=url, path=request.path, headers=headers, body=body,
                          query={k: str(v) for k, v in request.GET.items()}, form=form, endpoint=endpoint,
                          params=params)


@csrf_exempt
async def webhook(request: HttpRequest, connector_id: str, endpoint: str, **params: Any) -> HttpResponse:
    """Under Daphne a synchronous view runs on the one thread every synchronous view shares, so webhooks
    would be stored one at a time, each waiting out its own commit: the work runs in the thread pool
    instead, where concurrent deliveries overlap their database round trips (each thread its own
    connection). The test settings keep it on the calling thread, inside the test's connection."""
    return await (_in_pool if settings.HUB_WEBHOOKS_IN_THREAD_POOL else _on_caller)(
        request, connector_id, endpoint, **params)


def _webhook_sync(request: HttpRequest, connector_id: str, endpoint: str, **params: Any) -> HttpResponse:
    connector = registry.get(connector_id)
    if connector is None:
        return _answer(404, f"no connector {connector_id!r}")
    limit = settings.HUB_WEBHOOK_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _answer(400, "invalid Content-Length")
    if declared > limit:
        logger.warning("%s %s: body of %d bytes refused (limit %d)", connector_id, endpoint, declared, limit)
        return _answer(413, f"request body over {limit} bytes")
    try:
        body = request.body
    except RequestDataTooBig:
        return _answer(413, f"request body over {limit} bytes")
    if len(body) > limit:
        return _answer(413, f"request body over {limit} bytes")
    try:
        req = inbound_request(request, body, endpoint, {k: str(v) for k, v in params.items()})
    except (ValueError, UnicodeDecodeError, TooManyFieldsSent) as exc:
        return _answer(400, f"unreadable request: {exc}")
    try:
        return _handle(connector, req)
    except DatabaseError:
        logger.exception("%s %s: database unavailable, asking the provider to retry", connector_id, endpoint)
        response = _answer(503, "temporarily unavailable, retry later")
        response["Retry-After"] = "5"
        return response


_in_pool = DatabaseSyncToAsync(_webhook_sync, thread_sensitive=False)
_on_caller = sync_to_async(_webhook_sync, thread_sensitive=True)


def _handle(connector: Connector, req: InboundRequest) -> HttpResponse:
    cid, endpoint = connector.id, req.endpoint
    try:
        address = connector.account_address(req)
    except _PARSE_ERRORS as exc:
        return _answer(400, f"malformed request: {_reason(exc)}")
    found = webhook_accounts.get(cid, address)
    if found is None:
        logger.warning("%s %s: no active account %r", cid, endpoint, address)
        return _answer(404, f"no active {cid} account {address!r}" if address else f"no default {cid} account")
    stored_account, account = found
    try:
        verified = connector.verify(account, req)
        reason = "signature does not match"
    except RejectedRequest as exc:
        verified, reason = False, str(exc) or "rejected"
    except _PARSE_ERRORS as exc:
        verified, reason = False, f"unreadable signature data ({_reason(exc)})"
    if not verified:
        logger.warning("%s %s: request refused for account %s: %s", cid, endpoint, account.id, reason)
        return _answer(403, f"forbidden: {reason}")

    try:
        key = connector.delivery_key(account, req)
    except _PARSE_ERRORS as exc:
        return _answer(400, f"malformed request: {_reason(exc)}")
    digest = hashlib.sha256(req.body).hexdigest()
    if key is not None:
        seen = _claim_delivery(cid, key, digest)
        if seen == "replay":
            logger.warning("%s %s: delivery %r replayed with another body", cid, endpoint, key.key)
            return _answer(403, "forbidden: this signature was already used")
        if seen == "done":
            logger.info("%s %s: delivery %r already processed", cid, endpoint, key.key)
            return _reply(connector.respond(account, req, []))

    try:
        events: Sequence[InboundEvent] = connector.parse(account, req)
    except _PARSE_ERRORS as exc:
        logger.info("%s %s: malformed payload: %s", cid, endpoint, _reason(exc))
        return _answer(400, f"malformed payload: {_reason(exc)}")
    if not events:
        logger.info("%s %s: nothing to store in this request (an event the hub does not handle)", cid, endpoint)
    outcomes: list[Outcome] = do_receive_events(stored_account, events, with_contact=connector.answers_with_contact)
    errors = [o.error for o in outcomes if o.error]
    if key is not None and not errors:
        WebhookDelivery.objects.filter(connector=cid, key=key.key[:255]).update(processed=True)
    if errors:
        return _answer(400, "refused: " + "; ".join(errors))
    return _reply(connector.respond(account, req, outcomes))


def _claim_delivery(connector_id: str, key: DeliveryKey, digest: str) -> str:
    """"new" (first sight, or a retry of a delivery whose processing did not finish), "done" or "replay"."""
    try:
        # Outside a transaction the insert is one statement committed on its own, not BEGIN, INSERT and
        # COMMIT; inside a caller's (tests) a savepoint keeps that transaction usable when it fails.
        with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
            WebhookDelivery.objects.create(connector=connector_id, key=key.key[:255], body_sha256=digest,
                                           received_at=timezone.now())
        return "new"
    except IntegrityError:
        row = WebhookDelivery.objects.filter(connector=connector_id, key=key.key[:255]).first()
    if row is None:
        return "new"  # pruned in between
    if key.replay_protected and row.body_sha256 != digest:
        return "replay"
    return "done" if row.processed else "new"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}" if exc.args else "missing field"
    text = str(exc).strip() or type(exc).__name__
    return text[:300]


def prune_deliveries(older_than_hours: int = 24) -> int:
    cutoff = timezone.now() - timedelta(hours=older_than_hours)
    deleted, _ = WebhookDelivery.objects.filter(received_at__lt=cutoff).delete()
    return deleted


def urlpatterns() -> list[URLPattern]:
    """A route per connector webhook, read from the registry when the URLconf loads."""
    patterns: list[URLPattern] = []
    for connector in registry.connectors().values():
        for route, endpoint in connector.webhooks.items():
            patterns.append(path(f"webhooks/{route.strip('/')}", webhook,
                                 {"connector_id": connector.id, "endpoint": endpoint},
                                 name=f"webhook-{connector.id}-{endpoint}"))
    return patterns

