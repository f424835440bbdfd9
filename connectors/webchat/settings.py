"""A web chat account's widget settings: its `config` JSON read with defaults, and the origin check."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

DEFAULT_MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_MESSAGE_CHARS = 4000

# Defaults of the rate limits; each can be set in the account's config under the same name.
DEFAULT_LIMITS: Mapping[str, int] = {
    "visitor_messages_per_minute": 20,
    "ip_messages_per_minute": 60,
    "visitor_uploads_per_minute": 10,
    "ip_uploads_per_minute": 30,
    "ip_connections_per_minute": 60,
}


def normalize_origin(value: str) -> str:
    """`scheme://host[:port]` in lower case without a default port; "" for anything that is not an http(s)
    origin (including the literal "null" of sandboxed frames and file pages)."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return ""
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        return ""
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _int(config: Mapping[str, Any], key: str, default: int, minimum: int = 0) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return max(minimum, value)


@dataclass(frozen=True)
class WidgetSettings:
    allowed_origins: frozenset[str]
    any_origin: bool
    prechat: bool
    identity_secret: str
    max_attachment_bytes: int
    max_message_chars: int
    limits: Mapping[str, int]

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, public_url: str = "", is_default: bool = False
                    ) -> WidgetSettings:
        raw = config.get("allowed_origins") or []
        listed = [str(o) for o in raw] if isinstance(raw, list) else []
        origins = {normalize_origin(o) for o in listed if o != "*"}
        if is_default and public_url:
            # The hub's own demo page (/demo/) embeds the default account.
            origins.add(normalize_origin(public_url))
        origins.discard("")
        return cls(
            allowed_origins=frozenset(origins),
            any_origin="*" in listed,
            prechat=config.get("prechat") is True,
            identity_secret=str(config.get("identity_secret") or ""),
            max_attachment_bytes=_int(config, "max_attachment_bytes", DEFAULT_MAX_ATTACHMENT_BYTES, 1),
            max_message_chars=_int(config, "max_message_chars", DEFAULT_MAX_MESSAGE_CHARS, 1),
            limits={k: _int(config, k, v, 1) for k, v in DEFAULT_LIMITS.items()},
        )

    def origin_allowed(self, origin: str) -> bool:
        normalized = normalize_origin(origin)
        if not normalized:
            return False
        return self.any_origin or normalized in self.allowed_origins


def email_hash(secret: str, email: str) -> str:
    """What the embedding site's server computes for identity verification: hex HMAC-SHA256 of the email
    (trimmed, lower case) with the account's `identity_secret`."""
    return hmac.new(secret.encode(), email.strip().lower().encode(), hashlib.sha256).hexdigest()


def email_verified(settings: WidgetSettings, email: str, given_hash: str) -> bool:
    """Whether `given_hash` proves the site vouches for `email`. No secret configured: nothing is verified."""
    if not settings.identity_secret or not email or not given_hash:
        return False
    return hmac.compare_digest(email_hash(settings.identity_secret, email), given_hash.strip().lower())
