"""Pages and API requests under ASGI (hub/asgi_handlers.py SyncChainASGIHandler): each runs on a thread of
the web process's request pool, which keeps its database connection from request to request."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator

from hub.api.tokens import token_for
from hub.asgi_handlers import SyncChainASGIHandler
from tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)  # the pool's threads have connections of their own


def test_requests_reuse_a_pool_thread_and_its_database_connection(settings: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Django's own ASGI handler runs each request on a new thread, so each opened a new database connection
    (a PostgreSQL server process per request): that is why Django's documentation turns persistent
    connections off under ASGI."""
    from django.db import connections
    from django.db.backends.signals import connection_created

    settings.HUB_REQUESTS_IN_THREAD_POOL = True
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 60)  # the test settings use 0
    headers = [(b"host", b"testserver"), (b"authorization", f"Token {token_for(f.agent('ann'))}".encode())]
    handler = SyncChainASGIHandler()
    opened: list[str] = []

    def count(**kwargs: Any) -> None:
        opened.append(threading.current_thread().name)

    connection_created.connect(count)
    try:
        for _ in range(3):
            response = async_to_sync(HttpCommunicator(handler, "GET", "/api/v1/me/", headers=headers).get_response)()
            assert response["status"] == 200, response["body"]
    finally:
        connection_created.disconnect(count)
        if handler.executor is not None:
            # Close what the pool's thread keeps, or PostgreSQL refuses to drop the test database.
            handler.executor.submit(connections.close_all).result()
    # The test's own thread may reconnect (Django's request signals run there); the requests opened one.
    by_requests = [name for name in opened if name != threading.main_thread().name]
    assert len(by_requests) == 1 and by_requests[0].startswith("hub-request"), opened
