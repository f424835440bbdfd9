"""URLconf for tests/connectors/test_webhooks.py: the hub's routes plus the test connector's webhooks."""

from django.urls import path

from hub.urls import urlpatterns as hub_urlpatterns
from hub.webhooks import webhook

urlpatterns = [
    path("webhooks/echo/<str:account>", webhook, {"connector_id": "echo", "endpoint": "events"}),
    path("webhooks/echo-default", webhook, {"connector_id": "echo", "endpoint": "events"}),
    *hub_urlpatterns,
]
