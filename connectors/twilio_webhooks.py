"""What Twilio's webhooks have in common for the SMS and the voice connectors: where their fields are, and
the signature check (X-Twilio-Signature over the public URL and the form, plus the account's SID)."""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping

from twilio.request_validator import RequestValidator

from connectors.base import AccountInfo, InboundRequest, MalformedRequest, RejectedRequest

E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def fields(request: InboundRequest) -> Mapping[str, str]:
    # Twilio posts a form; a number configured for HTTP GET sends the same fields in the query string.
    return request.form if request.method == "POST" else request.query


def required(values: Mapping[str, str], name: str) -> str:
    value = values.get(name, "").strip()
    if not value:
        raise MalformedRequest(f"missing field {name!r}")
    return value


def verify(account: AccountInfo, request: InboundRequest) -> bool:
    """Twilio's signature with the account's auth token, against request.url (HUB_PUBLIC_URL + path +
    query: right behind a TLS-terminating proxy), then the AccountSid the request names. Raises
    RejectedRequest with the reason."""
    token = str(account.config.get("auth_token") or "")
    if not token:
        raise RejectedRequest("no Twilio auth token is configured for this account")
    signature = request.headers.get("x-twilio-signature", "")
    if not signature:
        raise RejectedRequest("no X-Twilio-Signature header")
    params = dict(request.form) if request.method == "POST" else {}
    if not RequestValidator(token).validate(request.url, params, signature):
        raise RejectedRequest(f"X-Twilio-Signature does not match {request.url}")
    expected = str(account.config.get("account_sid") or "")
    given = fields(request).get("AccountSid", "")
    if not expected:
        raise RejectedRequest("no Twilio account SID is configured for this account")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise RejectedRequest(f"AccountSid {given[:40]!r} is not this account's")
    return True
