"""ASGI entry point: HTTP through Django, websockets through Channels with session auth and origin checks.
Django runs in one of two handlers (hub/asgi_handlers.py): provider webhooks skip the middleware, which they
do not use; everything else runs the middleware and the view in one hop to a thread."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.core.asgi import get_asgi_application

get_asgi_application()  # sets Django up; the handlers below serve HTTP

from hub.asgi_handlers import NoMiddlewareASGIHandler, SyncChainASGIHandler  # noqa: E402

_webhooks = NoMiddlewareASGIHandler()
_pages_and_api = SyncChainASGIHandler()

from web.routing import chat_websocket_urlpatterns, websocket_urlpatterns  # noqa: E402

_agent_websockets = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
# Chat visitors come from the sites that embed the widget: the chat consumer checks their Origin against
# the widget account's own list, and no session cookie is read on that socket.
_chat_websockets = URLRouter(chat_websocket_urlpatterns)


async def _websockets(scope: dict[str, Any], receive: Callable[[], Awaitable[Any]],
                      send: Callable[[Any], Awaitable[None]]) -> None:
    app = _chat_websockets if scope.get("path", "").startswith("/ws/chat/") else _agent_websockets
    await app(scope, receive, send)


async def _http(scope: dict[str, Any], receive: Callable[[], Awaitable[Any]],
                send: Callable[[Any], Awaitable[None]]) -> None:
    app = _webhooks if scope.get("path", "").startswith("/webhooks/") else _pages_and_api
    await app(scope, receive, send)


application = ProtocolTypeRouter({"http": _http, "websocket": _websockets})
