"""The platform's push signature: sha1 over the sorted (app secret, timestamp, nonce), hex.

The same scheme signs the echostr handshake (GET) and every pushed event (POST). It covers the query
string only, never the body: a replayed signature with another body is stopped by the hub's nonce cache
(`DeliveryKey(replay_protected=True)`), and an old one by the timestamp window checked here.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from connectors.base import RejectedRequest

REPLAY_WINDOW_SECONDS = 300
# The platform's documented example signs a millisecond timestamp (1397022061823); seconds are accepted
# too. Anything above this is read as milliseconds (1e11 seconds is the year 5138).
_MILLISECONDS_FROM = 10**11


def current_time() -> float:
    """The clock the replay window is measured against (tests move it)."""
    return time.time()


def sign(secret: str, timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted((secret, timestamp, nonce))).encode()).hexdigest()  # noqa: S324 - the platform's scheme


def check_signature(secret: str, query: Mapping[str, str]) -> None:
    """Raise RejectedRequest (with the reason to log) unless the query carries a valid signature."""
    if not secret:
        raise RejectedRequest("no app secret is configured for this social account")
    signature, timestamp, nonce = (query.get(name, "") for name in ("signature", "timestamp", "nonce"))
    missing = [name for name, value in (("signature", signature), ("timestamp", timestamp), ("nonce", nonce))
               if not value]
    if missing:
        raise RejectedRequest(f"missing {', '.join(missing)} in the query string")
    expected = sign(secret, timestamp, nonce)
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode("utf-8", "replace")):
        raise RejectedRequest("signature does not match")


def check_timestamp(timestamp: str, window: int = REPLAY_WINDOW_SECONDS) -> None:
    """Refuse a push whose timestamp is more than `window` seconds away from now (a replay, or a clock
    that needs fixing: the reason says which way)."""
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 16:
        raise RejectedRequest("timestamp is not a number")
    value = int(timestamp)
    seconds = value / 1000 if value >= _MILLISECONDS_FROM else float(value)
    skew = seconds - current_time()
    if abs(skew) > window:
        raise RejectedRequest(f"timestamp outside the ±{window} s replay window ({skew:+.0f} s)")
