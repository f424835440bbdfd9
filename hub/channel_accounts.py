"""The default channel account of each built-in channel, configured from `HUB_*` variables."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from hub import config
from hub.models import ChannelAccount

DEFAULT_ACCOUNTS: dict[str, tuple[str, str]] = {
    # channel: (name, variable holding the account's address); HUB_TWILIO_FROM_NUMBER, when set, wins for SMS.
    "email": ("Support mailbox", "HUB_EMAIL_ADDRESS"),
    "sms": ("SMS number", "HUB_SMS_NUMBER"),
    "voice": ("Phone line", "HUB_VOICE_NUMBER"),
    "social": ("Social account", "HUB_SOCIAL_ACCOUNT"),
    "slack": ("Slack workspace", "HUB_SLACK_TEAM"),
    "webchat": ("Website chat", "HUB_WEBCHAT_KEY"),
}

# Settings a default account starts with (and gets when they are missing); the values are callables so that
# each installation gets its own secret. Web chat: docs/chat.md describes each key.
DEFAULT_CONFIG: dict[str, dict[str, Callable[[], Any]]] = {
    "webchat": {
        "allowed_origins": list,
        "prechat": lambda: False,
        "identity_secret": lambda: secrets.token_hex(32),
    },
}


def ensure_default_accounts() -> dict[str, ChannelAccount]:
    """Create or update the default account per channel from the environment. Idempotent."""
    accounts: dict[str, ChannelAccount] = {}
    for channel, (name, var) in DEFAULT_ACCOUNTS.items():
        address = config.env(var)
        if channel == "sms" and config.env("HUB_TWILIO_FROM_NUMBER"):
            address = config.env("HUB_TWILIO_FROM_NUMBER")
        account = ChannelAccount.objects.filter(channel=channel, is_default=True).first()
        if account is None:
            account, _ = ChannelAccount.objects.get_or_create(
                channel=channel, address=address, defaults={"name": name, "is_default": True})
            if not account.is_default:
                account.is_default = True
                account.save(update_fields=["is_default"])
        elif account.address != address:
            account.address = address
            account.save(update_fields=["address"])
        missing = {k: make() for k, make in DEFAULT_CONFIG.get(channel, {}).items() if k not in account.config}
        if missing:
            account.config = {**account.config, **missing}
            account.save(update_fields=["config"])
        accounts[channel] = account
    return accounts
