"""Django's ASGI handler in two shapes that spare the hops between the event loop and threads.

Under ASGI every one of Django's middleware classes is a synchronous `MiddlewareMixin`: Django builds an
asynchronous chain, so each of their hooks (request, view, response) is a hop from the event loop to a
thread and back, fifteen per request with the hub's list, before the synchronous view's own hop.

- `NoMiddlewareASGIHandler` serves provider webhooks. A webhook needs none of what the middleware do
  (sessions, users, CSRF, language, messages, browser security headers): its view is asynchronous and runs
  its work in the database thread pool. Without them Daphne spends about a third less CPU per webhook
  (docs/PERFORMANCE.md, "Connectors").
- `SyncChainASGIHandler` serves everything else: the same middleware, built as the synchronous chain WSGI
  runs, and the chain with the view in one hop to a thread of the process's request pool.

Why a pool and not Django's thread per request: a database connection belongs to its thread, so a thread per
request is a new PostgreSQL connection per request (a server process started, authenticated and set up, and
no prepared statement ever reused), which is why Django's documentation says persistent connections do not
work under ASGI. The pool's threads keep theirs under the usual rules (CONN_MAX_AGE, health checks), checked
before and after each request as Channels does for consumers.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import DatabaseSyncToAsync
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.http import FileResponse, HttpRequest
from django.http.response import HttpResponseBase


class NoMiddlewareASGIHandler(ASGIHandler):
    """Request parsing, URL resolution, the view and the response as Django does them, with an empty
    middleware list whatever `MIDDLEWARE` says. Unhandled exceptions still become Django's 500 page."""

    def load_middleware(self, is_async: bool = False) -> None:
        # What BaseHandler.load_middleware builds for MIDDLEWARE = [] (django-stubs leave these private
        # attributes out).
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        get_response = self._get_response_async if is_async else self._get_response  # type: ignore[attr-defined]
        self._middleware_chain = convert_exception_to_response(get_response)

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        # No per-request thread (ThreadSensitiveContext): the only synchronous calls left are Django's
        # request_started/finished receivers, which the shared thread runs in microseconds.
        if scope["type"] != "http":
            raise ValueError(f"only HTTP is served here, not {scope['type']}")
        await self.handle(scope, receive, send)


class SyncChainASGIHandler(ASGIHandler):
    """Django's ASGI handler with the middleware chain built synchronously, as under WSGI, and run with the
    view in one hop to a thread of the request pool (HUB_WEB_THREADS threads, each with its own persistent
    database connection). An asynchronous view still works, adapted by Django as WSGI does; the hub's are
    behind `NoMiddlewareASGIHandler`. With `HUB_REQUESTS_IN_THREAD_POOL` off (the tests: a request must see
    the test's own transaction) the chain runs in Django's thread for the request instead.

    Django's per-request context stays: its thread still runs the request signals and reads a streamed
    response (a file download is read whole there), so neither waits on, or holds up, the thread that every
    websocket consumer's database work shares."""

    def __init__(self) -> None:
        BaseHandler.__init__(self)  # not ASGIHandler's: it builds the asynchronous chain
        self.load_middleware(is_async=False)
        self._pool: DatabaseSyncToAsync | None = None
        self.executor: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _in_pool(self) -> DatabaseSyncToAsync:
        with self._pool_lock:
            if self._pool is None:
                self.executor = ThreadPoolExecutor(max_workers=settings.HUB_WEB_THREADS,
                                                   thread_name_prefix="hub-request")
                self._pool = DatabaseSyncToAsync(self.get_response, thread_sensitive=False, executor=self.executor)
            return self._pool

    async def run_get_response(self, request: HttpRequest) -> HttpResponseBase:
        response: HttpResponseBase
        if settings.HUB_REQUESTS_IN_THREAD_POOL:
            response = await self._in_pool()(request)
        else:
            response = await sync_to_async(self.get_response, thread_sensitive=True)(request)
        response._handler_class = self.__class__  # type: ignore[attr-defined]  # as ASGIHandler does
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size  # the server chunks: larger reads, as ASGIHandler does
        return response
