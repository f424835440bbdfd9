from django.urls import path

from web.chat_consumer import ChatConsumer
from web.consumers import AgentConsumer

websocket_urlpatterns = [
    path("ws/agent/", AgentConsumer.as_asgi()),
]

# The chat socket is opened from other sites: it checks the Origin against the account's allowed origins
# itself (hub/asgi.py keeps it out of the agent socket's host-based origin check), and uses no cookies.
chat_websocket_urlpatterns = [
    path("ws/chat/", ChatConsumer.as_asgi()),
]
