"""Per-conversation reply addresses: reply+<token>@<reply domain>, the token naming the conversation.

The token is the conversation id and a truncated HMAC-SHA256 of it under the account's signing key, so only
the hub can make one: a customer answering from a mail client that drops In-Reply-To/References still lands
in their conversation, and nobody can aim a mail at someone else's conversation by guessing ids. Base32 in
lower case, decoded case-insensitively: some mail servers change the case of local parts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

REPLY_PREFIX = "reply+"
_MAC_BYTES = 10  # 80 bits: forging needs ~2^79 tries, each one a mail through the front door
_TOKEN = re.compile(r"^(\d{1,18})-([a-z2-7]{16})$")


def _mac(key: bytes, conversation_id: int) -> str:
    digest = hmac.new(key, f"email-reply:{conversation_id}".encode(), hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.b32encode(digest).decode().lower().rstrip("=")


def make_token(key: bytes, conversation_id: int) -> str:
    if not key:
        raise ValueError("a reply token needs the account's signing key")
    return f"{conversation_id}-{_mac(key, conversation_id)}"


def reply_address(key: bytes, conversation_id: int, domain: str) -> str:
    return f"{REPLY_PREFIX}{make_token(key, conversation_id)}@{domain}"


def token_of(address: str, domain: str) -> str | None:
    """The token part of `address` when it is a reply address at `domain` (valid or not), else None."""
    local, _, at = address.strip().lower().rpartition("@")
    if not local.startswith(REPLY_PREFIX) or not domain or at != domain.lower():
        return None
    return local[len(REPLY_PREFIX):]


def verify_token(key: bytes, token: str) -> int | None:
    """The conversation id a token names, or None when it is malformed or its MAC does not match."""
    match = _TOKEN.match(token.strip().lower())
    if match is None or not key:
        return None
    conversation_id = int(match.group(1))
    if not hmac.compare_digest(_mac(key, conversation_id), match.group(2)):
        return None
    return conversation_id
