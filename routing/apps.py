from __future__ import annotations

from django.apps import AppConfig


class RoutingConfig(AppConfig):
    """Connects routing to the hub's signals (routing/signals.py). Its state lives in hub's models."""

    name = "routing"
    verbose_name = "Routing"

    def ready(self) -> None:
        from routing import receivers

        receivers.connect()
