"""The web chat connector and its database-free parts: settings, tokens, identity verification, file checks."""

from __future__ import annotations

import time
from unittest import mock

from connectors import registry
from connectors.base import AccountInfo, OutboundMessage
from connectors.webchat import files, tokens
from connectors.webchat.connector import WebchatConnector
from connectors.webchat.settings import (
    DEFAULT_MAX_ATTACHMENT_BYTES,
    WidgetSettings,
    email_hash,
    email_verified,
    normalize_origin,
)

KEY = b"k" * 32


def test_registered_and_sending_needs_no_provider() -> None:
    connector = registry.get("webchat")
    assert isinstance(connector, WebchatConnector) and connector.identity_kind == "webchat"
    account = AccountInfo(id=1, channel="webchat", address="site")
    message = OutboundMessage(message_id=42, conversation_id=7, to="wv-" + "0" * 24, text="hi")
    assert connector.send(account, message).provider_message_id == "webchat-42"
    # A retried delivery reports the same id: the widget's receipts still find the message.
    assert connector.send(account, message) == connector.send(account, message)


def test_origins_are_compared_normalized() -> None:
    assert normalize_origin("HTTPS://Shop.Example:443/") == "https://shop.example"
    assert normalize_origin("http://shop.example:8080") == "http://shop.example:8080"
    assert normalize_origin("null") == normalize_origin("file:///x") == normalize_origin("") == ""
    settings = WidgetSettings.from_config({"allowed_origins": ["https://shop.example"]})
    assert settings.origin_allowed("https://shop.example")
    assert not settings.origin_allowed("https://shop.example.evil.com")
    assert not settings.origin_allowed("http://shop.example")
    assert not settings.origin_allowed("null")
    default = WidgetSettings.from_config({}, public_url="http://127.0.0.1:8000/", is_default=True)
    assert default.origin_allowed("http://127.0.0.1:8000")
    assert not WidgetSettings.from_config({}, public_url="http://127.0.0.1:8000").origin_allowed("http://127.0.0.1:8000")
    assert WidgetSettings.from_config({"allowed_origins": ["*"]}).origin_allowed("https://anyone.example")


def test_settings_defaults_and_bad_values() -> None:
    settings = WidgetSettings.from_config({"max_attachment_bytes": "lots", "prechat": "yes",
                                           "visitor_messages_per_minute": 5, "allowed_origins": "https://x"})
    assert settings.max_attachment_bytes == DEFAULT_MAX_ATTACHMENT_BYTES
    assert settings.prechat is False  # only a real true turns it on
    assert settings.limits["visitor_messages_per_minute"] == 5
    assert settings.allowed_origins == frozenset()


def test_visitor_tokens_cannot_be_forged_or_moved_between_accounts() -> None:
    visitor = tokens.new_visitor_id()
    token = tokens.issue_visitor_token(KEY, 1, visitor)
    assert tokens.read_visitor_token(KEY, 1, token) == visitor
    assert tokens.read_visitor_token(KEY, 2, token) is None
    assert tokens.read_visitor_token(b"x" * 32, 1, token) is None
    assert tokens.read_visitor_token(KEY, 1, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert tokens.read_visitor_token(KEY, 1, "garbage") is None


def test_upload_references_belong_to_one_visitor_and_expire() -> None:
    visitor = tokens.new_visitor_id()
    ref = tokens.UploadRef(visitor, "webchat-uploads/abc", "a.png", "image/png", 10)
    signed = tokens.sign_upload(KEY, ref)
    assert tokens.read_upload(KEY, visitor, signed) == ref
    assert tokens.read_upload(KEY, tokens.new_visitor_id(), signed) is None
    later = time.time() + tokens.UPLOAD_MAX_AGE_SECONDS + 10
    with mock.patch("time.time", return_value=later):
        assert tokens.read_upload(KEY, visitor, signed) is None
    link = tokens.sign_attachment(KEY, visitor, 5)
    assert tokens.read_attachment(KEY, link) == (visitor, 5)
    assert tokens.read_attachment(KEY, link.replace(":5:", ":6:")) is None


def test_email_verification_is_an_hmac_of_the_address() -> None:
    settings = WidgetSettings.from_config({"identity_secret": "s3cret"})
    good = email_hash("s3cret", "Li@Example.com")
    assert email_verified(settings, "li@example.com", good)
    assert email_verified(settings, "li@example.com", good.upper())
    assert not email_verified(settings, "li@example.com", email_hash("other", "li@example.com"))
    assert not email_verified(settings, "wang@example.com", good)
    assert not email_verified(WidgetSettings.from_config({}), "li@example.com", email_hash("", "li@example.com"))


def test_files_are_recognized_by_content_not_name() -> None:
    assert files.sniff(b"\x89PNG\r\n\x1a\nxxxx") == "image/png"
    assert files.sniff(b"%PDF-1.7") == "application/pdf"
    assert files.sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert files.sniff(b"<svg xmlns=") is None and files.sniff(b"<html>") is None
    assert files.clean_name("../../etc/bill<script>.html", "application/pdf") == "billscript.pdf"
    assert files.clean_name("账单.png", "image/png") == "账单.png"
    assert files.clean_name("", "image/jpeg") == "file.jpg"
