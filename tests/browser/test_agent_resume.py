"""Browser test 2: the agent's websocket is cut while 5 messages arrive; after it reconnects the 5 are on
screen once each, in order (the client resumes from its last sequence number)."""

from __future__ import annotations

import random
import re
from typing import Any

from tests.browser.conftest import BrowserHub, login


class Cutter:
    """Routes the page's /ws/agent/ sockets through Playwright so that a test can cut them like a network
    failure would, and refuse reconnections until it restores the network."""

    def __init__(self, page: Any) -> None:
        self.cut = False
        self.open: list[tuple[Any, Any]] = []
        self.refused = 0
        page.route_web_socket(re.compile(r".*/ws/agent/.*"), self._handle)

    def _handle(self, ws: Any) -> None:
        if self.cut:
            self.refused += 1
            ws.close(code=4000, reason="network down")
            return
        server = ws.connect_to_server()
        self.open.append((ws, server))

    def cut_now(self) -> None:
        self.cut = True
        for page_side, server_side in self.open:
            server_side.close(code=1000, reason="network down")
            page_side.close(code=4000, reason="network down")
        self.open.clear()

    def restore(self) -> None:
        self.cut = False


def seed_conversation(hub: BrowserHub, phone: str, agent_id: int) -> int:
    hub.sms(phone, "Hello, is anyone there?")
    return int(hub.run("""
        from django.contrib.auth.models import User
        from hub.actions.conversations import do_assign
        from hub.models import Conversation
        conv = Conversation.objects.get(customer__identities__address=params["phone"])
        do_assign(None, conv, User.objects.get(pk=params["agent"]))
        result = conv.pk
    """, phone=phone, agent=agent_id))


def test_cut_socket_resumes_missed_messages_once_in_order(hub: BrowserHub, open_page: Any) -> None:
    hub.quiet()
    username, password, agent_id = hub.agent()
    phone = f"+14155{random.randint(100_000, 999_999)}"
    conversation_id = seed_conversation(hub, phone, agent_id)

    page, watch = open_page()
    cutter = Cutter(page)
    login(page, username, password, next_path="/inbox/")
    page.goto(f"/inbox/#conversation/{conversation_id}")
    page.wait_for_selector("[data-testid=connection][data-state=open]")
    timeline = page.locator("[data-testid=timeline]")
    timeline.locator("[data-testid=message-text]", has_text="Hello, is anyone there?").wait_for()
    seq_before = int(page.evaluate("document.body.dataset.lastSeq || '0'"))

    cutter.cut_now()
    page.wait_for_selector("[data-testid=connection]:not([data-state=open])")
    texts = [f"Message {n} of 5 while you were away" for n in range(1, 6)]
    for text in texts:
        hub.sms(phone, text)
    # Stay cut for a moment: the inbox keeps trying and is refused, as on a real outage.
    page.wait_for_timeout(1500)
    assert not timeline.locator("[data-testid=message-text]", has_text="while you were away").count()

    cutter.restore()
    page.wait_for_selector("[data-testid=connection][data-state=open]", timeout=20_000)
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=timeline] [data-testid=message-text]').length >= n", arg=6)
    page.wait_for_timeout(500)  # anything duplicated would land now

    shown = [t.strip() for t in timeline.locator("[data-testid=timeline-message] [data-testid=message-text]")
             .all_inner_texts()]
    missed = [t for t in shown if "while you were away" in t]
    assert missed == texts, shown
    assert int(page.evaluate("document.body.dataset.lastSeq")) >= seq_before + 5
    # The row in the list counts them as unread or shows the last one, once.
    row = page.locator(f"[data-testid=conversation-item][data-conversation-id='{conversation_id}']")
    assert row.count() == 1
    assert not watch.dialogs
    assert not [e for e in watch.errors if "pageerror" in e], watch.errors
