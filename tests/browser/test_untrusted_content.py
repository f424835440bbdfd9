"""Browser test 4: script payloads in message text, email HTML, customer names and attachment names never
run, on the agent's screen or in the chat widget. A dialog handler (every payload calls alert) and DOM
checks (no element the payload would have created) prove it; the text itself is shown as text."""

from __future__ import annotations

import base64
import random
import uuid
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import BrowserHub, login

NAME = "<img src=x onerror=alert('name')>Eve"
SMS_TEXT = "<script>alert('sms')</script><img src=x onerror=alert('text')> hi"
SUBJECT = "<svg onload=alert('subject')>Invoice"
EMAIL_HTML = ("<p>Hello</p><script>alert('html')</script><img src=x onerror=alert('html-img')>"
              "<a href=\"javascript:alert('link')\">click</a><iframe src=\"javascript:alert('frame')\"></iframe>")
ATTACHMENT = "<img src=x onerror=alert('file')>.png"
NOTE = "<b onmouseover=alert('note')>note</b>"
CHAT_TEXT = "\"><svg/onload=alert('chat')>"
REPLY = "<img src=x onerror=alert('reply')>thanks"
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAAB"
                       "JRU5ErkJggg==")


def no_payload_elements(page: Any) -> None:
    injected = page.evaluate("""() => [
        ...document.querySelectorAll('img[src="x"], svg[onload], script:not([src]):not([type="application/json"])'),
        ...(document.getElementById('hub-chat')?.shadowRoot?.querySelectorAll('img[src="x"], svg, script') ?? []),
    ].map(e => e.outerHTML)""")
    assert injected == [], injected


def test_script_payloads_never_run(hub: BrowserHub, open_page: Any) -> None:
    hub.quiet()
    username, password, agent_id = hub.agent(role="supervisor")
    phone = f"+14155{random.randint(100_000, 999_999)}"
    hub.sms(phone, SMS_TEXT)
    mail_from = f"eve-{uuid.uuid4().hex[:6]}@example.com"
    ids = hub.run("""
        import base64
        from connectors.base import InboundAttachment, InboundMessage, Sender
        from hub.actions.conversations import do_add_note
        from hub.actions.ingestion import do_ingest_message
        from hub.models import ChannelAccount, Conversation, Customer
        from django.contrib.auth.models import User
        p = params
        sms = Conversation.objects.get(customer__identities__address=p["phone"])
        Customer.objects.filter(pk=sms.customer_id).update(display_name=p["name"])
        account = ChannelAccount.objects.get(channel="email", is_default=True)
        done = do_ingest_message(account, InboundMessage(
            provider_message_id="<" + p["mail_from"] + ">", sender=Sender("email", p["mail_from"], p["name"]),
            subject=p["subject"], text="Hello (see the HTML part)", html=p["html"],
            attachments=[InboundAttachment(p["attachment"], "image/png", base64.b64decode(p["png"]))]))
        do_add_note(User.objects.get(pk=p["agent"]), done.message.conversation, p["note"])
        result = {"sms": sms.pk, "email": done.message.conversation_id}
    """, phone=phone, name=NAME, mail_from=mail_from, subject=SUBJECT, html=EMAIL_HTML, attachment=ATTACHMENT,
        png=base64.b64encode(PNG).decode(), note=NOTE, agent=agent_id)

    agent, agent_watch = open_page()
    login(agent, username, password)
    agent.locator("[data-testid=list-all]").click()
    agent.locator(f"[data-testid=conversation-item][data-conversation-id='{ids['sms']}']").wait_for()

    # SMS text and customer name, in the list, the timeline and the customer panel.
    agent.goto(f"/inbox/#conversation/{ids['sms']}")
    expect(agent.locator("[data-testid=timeline] [data-testid=message-text]").first).to_contain_text(SMS_TEXT)
    expect(agent.locator("[data-testid=customer-panel] [data-testid=customer-name]")).to_contain_text(NAME)

    # Email: the sanitized HTML in a sandbox without scripts, the subject, attachment name and note as text.
    agent.goto(f"/inbox/#conversation/{ids['email']}")
    message = agent.locator("[data-testid=timeline-message][data-channel=email]").first
    message.wait_for()
    frames = message.locator("iframe")
    for i in range(frames.count()):
        sandbox = frames.nth(i).get_attribute("sandbox")
        assert sandbox is not None and "allow-scripts" not in sandbox, sandbox
    # Ingestion already makes attachment names safe to store and serve; what is stored is shown as text.
    stored_name = hub.run("""
        from hub.models import Attachment
        result = Attachment.objects.get(message__conversation_id=params["id"]).name
    """, id=ids["email"])
    assert "<" not in stored_name
    expect(agent.locator("[data-testid=timeline]")).to_contain_text(stored_name)
    expect(agent.locator("[data-testid=timeline-note]").first).to_contain_text(NOTE)

    # The chat widget: a visitor named with a payload writes a payload; the agent answers with one.
    customer, customer_watch = open_page()
    customer.goto("/demo/")
    customer.locator("#hub-chat [data-testid=chat-bubble]").click()
    customer.wait_for_function("document.getElementById('hub-chat')?.dataset.state === 'open'")
    if customer.locator("#hub-chat [data-testid=prechat-start]").is_visible():
        customer.fill("#hub-chat [data-testid=prechat-name]", NAME)
        customer.locator("#hub-chat [data-testid=prechat-start]").click()
    customer.fill("#hub-chat [data-testid=chat-input]", CHAT_TEXT)
    customer.locator("#hub-chat [data-testid=chat-send]").click()
    chat_id = hub.run("""
        import time
        from hub.models import Message
        deadline = time.monotonic() + 10
        while not (m := Message.objects.filter(text=params["text"]).first()):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        result = m.conversation_id
    """, text=CHAT_TEXT)
    agent.goto(f"/inbox/#conversation/{chat_id}")
    agent.locator("[data-testid=timeline-message][data-channel=webchat]").first.wait_for()
    expect(agent.locator("[data-testid=timeline] [data-testid=message-text]").last).to_contain_text(CHAT_TEXT)
    agent.fill("[data-testid=reply-input]", REPLY)
    agent.locator("[data-testid=reply-send]").click()
    expect(agent.locator("[data-testid=timeline] [data-testid=message-text]").last).to_contain_text(REPLY)
    shown = customer.locator("#hub-chat [data-testid=chat-message][data-author=agent] [data-testid=chat-text]")
    # What is checked here is how the payload shows, not how fast (test_round_trip times that path).
    expect(shown.first).to_have_text(REPLY, timeout=15_000)
    expect(customer.locator("#hub-chat [data-testid=chat-message][data-author=visitor]").first).to_contain_text(
        CHAT_TEXT)

    agent.wait_for_timeout(500)  # let any late onerror/onload fire
    for page in (agent, customer):
        no_payload_elements(page)
    assert agent_watch.dialogs == [] and customer_watch.dialogs == []
