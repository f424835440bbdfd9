"""The widget's forms in a real browser: the pre-chat form (name and an email that is kept but not trusted)
and an image sent from the file picker, uploaded over HTTP and attached to a stored message."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import BrowserHub

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAAB"
                       "JRU5ErkJggg==")
SET_PRECHAT = """
    from hub.models import ChannelAccount
    account = ChannelAccount.objects.get(channel="webchat", is_default=True)
    account.config = {**account.config, "prechat": params["on"]}
    account.save(update_fields=["config"])
"""


@pytest.fixture
def prechat(hub: BrowserHub) -> Iterator[None]:
    hub.run(SET_PRECHAT, on=True)
    try:
        yield
    finally:
        hub.run(SET_PRECHAT, on=False)  # the other browser tests expect the demo's default


def test_prechat_form_then_an_image_from_the_file_picker(hub: BrowserHub, open_page: Any, prechat: None) -> None:
    hub.quiet()
    page, watch = open_page(locale="zh-CN")
    page.goto("/demo/")
    page.locator("#hub-chat [data-testid=chat-bubble]").click()
    page.wait_for_function("document.getElementById('hub-chat')?.dataset.state === 'open'")
    start = page.locator("#hub-chat [data-testid=prechat-start]")
    expect(start).to_be_visible()
    expect(page.locator("#hub-chat [data-testid=chat-input]")).to_be_hidden()  # the form comes first
    page.fill("#hub-chat [data-testid=prechat-name]", "测试访客")
    page.fill("#hub-chat [data-testid=prechat-email]", "visitor@example.com")
    start.click()
    expect(page.locator("#hub-chat [data-testid=chat-input]")).to_be_visible()

    page.locator("#hub-chat [data-testid=chat-file]").set_input_files(
        files=[{"name": "截图.png", "mimeType": "image/png", "buffer": PNG}])
    expect(page.locator("#hub-chat [data-testid=chat-message][data-author=visitor]")).to_have_count(1)
    page.fill("#hub-chat [data-testid=chat-input]", "这是付款截图")
    page.locator("#hub-chat [data-testid=chat-send]").click()
    expect(page.locator("#hub-chat [data-testid=chat-message][data-author=visitor]")).to_have_count(2)

    stored = hub.run("""
        import time
        from hub.models import Identity, Message
        deadline = time.monotonic() + 10
        while True:
            visitor = Identity.objects.filter(kind="webchat", display_name="测试访客").first()
            messages = list(Message.objects.filter(author_identity=visitor).order_by("id")) if visitor else []
            if len(messages) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        result = {
            "customer": visitor.customer.display_name,
            "email": visitor.attributes.get("email"), "verified": visitor.attributes.get("email_verified"),
            "emails": list(Identity.objects.filter(customer=visitor.customer, kind="email")
                           .values_list("address", flat=True)),
            "messages": [(m.text, [(a.name, a.content_type, a.size) for a in m.attachments.all()]) for m in messages],
        }
    """)
    assert stored["customer"] == "测试访客"
    # Typed, not proven: kept on the visitor, never made an email identity of theirs.
    assert stored["email"] == "visitor@example.com" and stored["verified"] is False and stored["emails"] == []
    (first_text, files), (second_text, none) = stored["messages"]
    assert files == [["截图.png", "image/png", len(PNG)]] and first_text == ""
    assert second_text == "这是付款截图" and none == []
    assert not watch.dialogs
    assert not [e for e in watch.errors if "pageerror" in e], watch.errors
