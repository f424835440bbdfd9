"""`/healthz` (the process answers) and `/readyz` (every dependency answers; 503 if one does not)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from search.backend import backend_name
from search.backend import health as search_health


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database() -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
        cur.fetchone()
    return f"{connection.vendor} ok"


def _channel_layer() -> str:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")

    async def roundtrip() -> None:
        channel = await layer.new_channel("readyz.")
        token = uuid.uuid4().hex
        await layer.send(channel, {"type": "readyz", "token": token})
        message = await layer.receive(channel)
        if message.get("token") != token:
            raise RuntimeError("channel layer returned a different message")

    async_to_sync(roundtrip)()
    return f"{type(layer).__name__} ok"


def _broker() -> str:
    if settings.TASK_MODE != "celery":
        from hub.taskqueue import runner

        return f"{settings.TASK_MODE} task runner ok ({runner.pending()} pending)"
    from hub.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "celery broker ok"


def _search() -> str:
    result = search_health()
    if not result.ok:
        raise RuntimeError(result.detail)
    return f"{backend_name()}: {result.detail}"


CHECKS: dict[str, Callable[[], str]] = {
    "database": _database,
    "channel_layer": _channel_layer,
    "task_broker": _broker,
    "search": _search,
}


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, dict[str, object]] = {}
    ready = True
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            detail = check()
            state = "ok"
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}"[:300]
            state = "down"
            ready = False
        checks[name] = {"state": state, "detail": detail, "ms": round((time.monotonic() - started) * 1000, 1)}
    return JsonResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status=200 if ready else 503)
