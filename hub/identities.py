"""Normalizing addresses so that one person on one channel is one identity."""

from __future__ import annotations

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

# Which identity kind a channel's customers are addressed by. A connector's `identity_kind` wins; this
# covers channels whose connector is not installed (their outbound goes to the log connector).
CHANNEL_IDENTITY_KIND: dict[str, str] = {
    "email": "email",
    "sms": "phone",
    "voice": "phone",
    "social": "social",
    "slack": "slack",
    "webchat": "webchat",
}

_email_validator = EmailValidator()


class InvalidAddress(ValueError):
    """The address cannot be an identity of that kind; the message says why."""


def normalize_address(kind: str, raw: str, default_region: str | None = None) -> str:
    value = (raw or "").strip()
    if not value:
        raise InvalidAddress(f"empty {kind} address")
    if len(value) > 320:
        raise InvalidAddress(f"{kind} address longer than 320 characters")
    if kind == "email":
        local, sep, domain = value.rpartition("@")
        if not sep:
            raise InvalidAddress(f"{value!r} is not an email address")
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise InvalidAddress(f"{value!r} has an invalid domain") from exc
        # Local parts are case-sensitive in theory, case-insensitive in every real mailbox provider.
        value = f"{local}@{domain}".lower()
        try:
            _email_validator(value)
        except ValidationError as exc:
            raise InvalidAddress(f"{raw!r} is not a valid email address") from exc
        return value
    if kind == "phone":
        try:
            number = phonenumbers.parse(value, default_region)
        except phonenumbers.NumberParseException as exc:
            raise InvalidAddress(f"{raw!r} is not a phone number: {exc}") from exc
        if not phonenumbers.is_possible_number(number):
            raise InvalidAddress(f"{raw!r} is not a possible phone number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if any(ch in value for ch in "\r\n\x00"):
        raise InvalidAddress(f"{kind} address contains control characters")
    return value
