"""The chat widget in Chromium on the demo page (/demo/): it embeds with one tag, chats with an agent,
resumes after a dropped connection, asks for a rating, speaks English or Chinese, and never runs what
people write."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.request
from typing import Any

from tests.browser.conftest import WEBCHAT_KEY, BrowserHub

PAYLOAD = '<img src=x onerror="alert(1)"><script>alert(2)</script>'

_CONVERSATION = """
from hub.api.tokens import token_for
from hub.models import Conversation, Identity
visitor = Identity.objects.get(kind="webchat", address=params["visitor"])
conv = Conversation.objects.filter(customer_id=visitor.customer_id, channel="webchat").latest("id")
result = [conv.pk, token_for(params["agent"])]
"""


def _reply(hub: BrowserHub, visitor: str, agent: str, text: str, *, resolve: bool = False) -> None:
    """The agent answers through the API, inside the hub process (a write from `hub.run` would commit in
    another process, whose in-memory channel layer reaches no socket of the hub's)."""
    conv_id, token = hub.run(_CONVERSATION, visitor=visitor, agent=agent)
    calls = [(f"/api/v1/conversations/{conv_id}/messages/", {"text": text})]
    if resolve:
        calls.append((f"/api/v1/conversations/{conv_id}/resolve/", {}))
    for path, body in calls:
        request = urllib.request.Request(hub.url + path, data=json.dumps(body).encode(), method="POST", headers={
            "Authorization": f"Token {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status in (200, 201), response.read()


def _visitor(page: Any) -> str:
    """The visitor id inside the widget's token (django.core.signing: base64 JSON, then the signature)."""
    return str(page.evaluate(f"""() => {{
        const token = localStorage.getItem('hub-chat:{WEBCHAT_KEY}:token');
        return JSON.parse(atob(token.split(':')[0].replace(/-/g, '+').replace(/_/g, '/'))).v;
    }}"""))


# Lets a test cut the widget's connection and hold reconnects back (a blocked socket fails like a network
# that is down), without touching the widget's code.
_SOCKET_CONTROL = """
window.__hubSockets = [];
window.__hubBlock = false;
const RealWebSocket = window.WebSocket;
window.WebSocket = class extends RealWebSocket {
  constructor(url, protocols) {
    super(window.__hubBlock ? "ws://127.0.0.1:9/blocked" : url, protocols);
    window.__hubSockets.push(this);
  }
};
"""


def _open_widget(page: Any) -> None:
    page.goto("/demo/")
    page.wait_for_function("document.getElementById('hub-chat')?.dataset.state === 'open'")
    page.click("[data-testid=chat-bubble]")
    page.wait_for_selector("[data-testid=chat-panel]", state="visible")


def test_widget_chats_with_an_agent_and_never_runs_message_markup(hub: BrowserHub, open_page: Any) -> None:
    hub.quiet()
    username, _, _ = hub.agent()
    page, watch = open_page(locale="en-US")
    _open_widget(page)
    page.fill("[data-testid=chat-input]", PAYLOAD)
    page.click("[data-testid=chat-send]")
    mine = page.locator("[data-testid=chat-message][data-author=visitor]").last
    mine.locator("[data-testid=chat-receipt]").filter(has_text="sent").wait_for()
    assert mine.get_attribute("data-message-id")
    assert mine.locator("[data-testid=chat-text]").inner_text() == PAYLOAD
    _reply(hub, _visitor(page), username, "Hi! " + PAYLOAD)
    theirs = page.locator("[data-testid=chat-message][data-author=agent]").last
    theirs.wait_for()
    assert theirs.locator("[data-testid=chat-text]").inner_text() == "Hi! " + PAYLOAD
    assert page.locator("#hub-chat img[src=x]").count() == 0
    # The agent's reply is reported read: the panel is open and visible.
    page.wait_for_timeout(300)
    assert not watch.dialogs and not watch.errors, (watch.dialogs, watch.errors)


def test_widget_resumes_after_a_dropped_connection_and_asks_for_a_rating(hub: BrowserHub, open_page: Any) -> None:
    hub.quiet()
    username, _, _ = hub.agent()
    page, watch = open_page(locale="en-US")
    page.add_init_script(_SOCKET_CONTROL)
    _open_widget(page)
    page.fill("[data-testid=chat-input]", "before the drop")
    page.click("[data-testid=chat-send]")
    page.locator("[data-testid=chat-message][data-author=visitor][data-message-id]").wait_for()
    visitor = _visitor(page)
    # Drop the connection while the agent answers: the page's sockets are closed under the widget, and
    # every websocket opened meanwhile is held back until both replies are committed.
    page.evaluate("() => { window.__hubBlock = true; for (const ws of window.__hubSockets) ws.close(); }")
    page.wait_for_function("document.getElementById('hub-chat').dataset.state !== 'open'")
    _reply(hub, visitor, username, "first reply")
    _reply(hub, visitor, username, "second reply", resolve=True)
    assert page.locator("[data-testid=chat-message][data-author=agent]").count() == 0
    page.evaluate("() => { window.__hubBlock = false; }")
    page.locator("[data-testid=chat-message][data-author=agent]").nth(1).wait_for()
    texts = page.locator("[data-testid=chat-message][data-author=agent] [data-testid=chat-text]").all_inner_texts()
    assert texts == ["first reply", "second reply"]
    page.locator("[data-testid=csat]").wait_for(state="visible")
    page.click("[data-testid=csat-score-5]")
    page.fill("[data-testid=csat-comment]", "很好")
    page.click("[data-testid=csat-submit]")
    page.locator("[data-testid=csat-thanks]").wait_for(state="visible")
    score = hub.run("""
        from hub.models import SatisfactionRating
        result = SatisfactionRating.objects.filter(comment="很好").values_list("score", flat=True).first()
    """)
    assert score == 5
    errors = [e for e in watch.errors if "/blocked" not in e]  # the held-back reconnects, on purpose
    assert not watch.dialogs and not errors, (watch.dialogs, errors)


def test_widget_speaks_chinese_and_switches(hub: BrowserHub, open_page: Any) -> None:
    page, watch = open_page(locale="zh-CN")
    _open_widget(page)
    assert page.get_attribute("[data-testid=chat-input]", "placeholder") == "输入消息…"
    assert page.inner_text("[data-testid=chat-send]") == "发送"
    page.click("#hub-chat >> button.lang")
    assert page.inner_text("[data-testid=chat-send]") == "Send"
    assert not watch.errors, watch.errors


def test_a_site_the_account_does_not_list_is_refused(hub: BrowserHub, open_page: Any) -> None:
    # Another company's page, served from another origin, embedding this account's widget: the default
    # account allows only HUB_PUBLIC_URL's origin, so the socket is refused and the widget says why.
    html = (f'<!doctype html><title>Other shop</title><script src="{hub.url}/widget.js" '
            f'data-account="{WEBCHAT_KEY}"></script>').encode()

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page, _watch = open_page(locale="en-US")
        page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
        page.click("[data-testid=chat-bubble]")
        notice = page.locator("[data-testid=chat-notice]")
        notice.filter(has_text="not available on this site").wait_for()
        page.wait_for_function("document.getElementById('hub-chat').dataset.state === 'closed'")
        page.wait_for_timeout(1500)  # refused for good: no reconnect loop
        assert page.evaluate("document.getElementById('hub-chat').dataset.state") == "closed"
    finally:
        server.shutdown()
