"""`manage.py seed_demo` / `hub manage seed_demo`: the same as `hub seed-demo`, for Django tooling."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from hub.channel_accounts import ensure_default_accounts


class Command(BaseCommand):
    help = "Load the demo contact center (teams, agents, customers, conversations). Does nothing if loaded."

    def handle(self, *args: Any, **options: Any) -> None:
        from hub.demo import seed_demo

        ensure_default_accounts()
        result = seed_demo()
        if result.loaded:
            self.stdout.write(f"Demo data loaded: {result.customers} customers, {result.conversations} "
                              f"conversations, {result.messages} messages.")
        else:
            self.stdout.write("The demo data is already loaded; nothing changed.")
