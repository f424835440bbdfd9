"""The hub as connectors see it: accounts as plain data, and a door to store what they receive.

`account_info` builds the `AccountInfo` a connector works with (for a channel's default account, its
`HUB_*` variables overlaid on the stored config). `HubPort` is what listeners and pollers get.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection

from connectors import registry
from connectors.base import AccountInfo, Connector, InboundEvent, Outcome
from hub import config
from hub.models import ChannelAccount


def account_info(account: ChannelAccount) -> AccountInfo:
    cfg = dict(account.config)
    connector = registry.get(account.channel)
    if account.is_default and connector is not None:
        for key, var in connector.default_account_env.items():
            value = config.env(var)
            if value:
                cfg[key] = value
    signing_key = hmac.new(settings.SECRET_KEY.encode(), f"channel-account:{account.pk}".encode(),
                           hashlib.sha256).digest()
    return AccountInfo(id=account.pk, channel=account.channel, address=account.address, config=cfg,
                       signing_key=signing_key, public_url=config.public_url(), is_default=account.is_default)


def find_account(channel: str, address: str | None) -> ChannelAccount | None:
    """The active account of `channel` at `address`; the channel's default account when `address` is None.
    By address only: a numeric address (a social account's uid) must never be mistaken for a row id."""
    accounts = ChannelAccount.objects.filter(channel=channel, active=True)
    if address is None:
        return accounts.filter(is_default=True).first()
    return accounts.filter(address=address).first()


class WebhookAccounts:
    """The accounts webhooks name, kept for `settings.HUB_WEBHOOK_ACCOUNT_CACHE_SECONDS`: every delivery
    looks its account up before anything else, and the lookup was the most expensive single query of a
    webhook (docs/PERFORMANCE.md). Saving or deleting an account clears this process's copies at once
    (hub/apps.py connects `clear`); another web process sees the change within the cache's seconds. An
    address with no active account is not kept, so a new account answers at once."""

    def __init__(self) -> None:
        self._kept: dict[tuple[str, str | None], tuple[float, ChannelAccount, AccountInfo]] = {}
        self._lock = threading.Lock()

    def get(self, channel: str, address: str | None) -> tuple[ChannelAccount, AccountInfo] | None:
        seconds = float(settings.HUB_WEBHOOK_ACCOUNT_CACHE_SECONDS)
        key = (channel, address)
        now = time.monotonic()
        kept = self._kept.get(key)
        if kept is not None and now - kept[0] < seconds:
            return kept[1], kept[2]
        account = find_account(channel, address)
        if account is None:
            return None
        info = account_info(account)
        if seconds > 0:  # one entry per existing account at most: misses are not kept
            with self._lock:
                self._kept[key] = (now, account, info)
        return account, info

    def clear(self, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            self._kept.clear()


webhook_accounts = WebhookAccounts()


class DatabaseHubPort:
    """The `connectors.base.HubPort` for listeners and pollers running in a hub process. Their threads live
    outside Django's request cycle: each call takes a fresh connection and gives it back, as a request
    would, so no listener thread keeps one open while it waits for mail."""

    def account(self, channel: str, address: str | None) -> AccountInfo | None:
        with _connection():
            found = find_account(channel, address)
            return account_info(found) if found else None

    def accounts(self, channel: str) -> list[AccountInfo]:
        with _connection():
            return [account_info(a) for a in ChannelAccount.objects.filter(channel=channel, active=True)
                    .order_by("id")]

    def deliver(self, account: AccountInfo, events: Sequence[InboundEvent]) -> list[Outcome]:
        from hub.actions.inbound import do_receive_events

        with _connection():
            stored = ChannelAccount.objects.get(pk=account.id)
            return do_receive_events(stored, events)


@contextmanager
def _connection() -> Iterator[None]:
    close_old_connections()
    try:
        yield
    finally:
        connection.close()


def connector_of(account: ChannelAccount) -> Connector | None:
    return registry.get(account.channel)
