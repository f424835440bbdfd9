"""Outbound through a real Celery worker on Redis (the production path of hub worker)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker

from hub.actions.ingestion import do_ingest_message
from hub.actions.outbound import do_send_reply
from hub.celery import app
from hub.models import Message
from tests import factories as f
from tests.conftest import needs_service

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]

REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def celery_on_redis(settings: Any) -> Iterator[None]:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).flushdb()
    except Exception as exc:
        needs_service("Redis", str(exc))
    settings.TASK_MODE = "celery"
    previous = app.conf.broker_url
    app.conf.broker_url = REDIS_URL
    app.conf.broker_connection_retry_on_startup = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        app.conf.broker_url = previous


def test_reply_is_delivered_by_a_celery_worker(celery_on_redis: None) -> None:
    conv = do_ingest_message(f.account("sms"), f.inbound("parcel?")).message.conversation
    msg = do_send_reply(f.agent("ann"), conv, "It ships today")
    assert Message.objects.get(pk=msg.pk).status == "queued"  # queued on the broker, not sent inline
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        msg.refresh_from_db()
        if msg.status != "queued":
            break
        time.sleep(0.1)
    assert msg.status == "sent" and (msg.provider_message_id or "").startswith("log-")


@app.task(name="tests.database_connection_probe")
def _connection_probe(close: bool = False) -> None:
    from django.db import connection

    connection.ensure_connection()
    _probed.append(connection.connection)
    if close:
        connection.close()  # the worker's thread ends with the test: leave nothing open on the test database


_probed: list[Any] = []


def test_a_worker_keeps_its_database_connection_from_task_to_task(celery_on_redis: None,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Celery's Django fixup closed every connection around every task: a new PostgreSQL connection per
    task. The hub's worker keeps it under Django's rules (CONN_MAX_AGE; the test settings use 0)."""
    from django.db import connections

    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 60)
    _probed.clear()
    for close in (False, False, True):
        _connection_probe.delay(close)
    deadline = time.monotonic() + 20
    while len(_probed) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_probed) == 3
    assert _probed[0] is _probed[1] is _probed[2]
