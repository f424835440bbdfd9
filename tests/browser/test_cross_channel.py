"""Browser test 3: a customer known from the chat widget sends an SMS (through the SMS webhook); it lands
in the same customer's timeline on the agent's screen, live."""

from __future__ import annotations

import random
import uuid
from typing import Any

from tests.browser.conftest import BrowserHub, login


def test_sms_from_a_chat_customer_joins_their_timeline(hub: BrowserHub, open_page: Any) -> None:
    hub.quiet()
    username, password, agent_id = hub.agent()
    phone = f"+86139{random.randint(10_000_000, 99_999_999)}"
    visitor = f"v-{uuid.uuid4().hex}"
    seeded = hub.run("""
        from django.contrib.auth.models import User
        from connectors.base import InboundMessage, Sender
        from hub.actions.conversations import do_assign
        from hub.actions.ingestion import do_ingest_message
        from hub.models import ChannelAccount, Customer, Identity
        customer = Customer.objects.create(display_name="李伟", language="zh-hans", value_tier="gold")
        Identity.objects.create(customer=customer, kind="phone", address=params["phone"], verified=True)
        Identity.objects.create(customer=customer, kind="webchat", address=params["visitor"])
        account = ChannelAccount.objects.get(channel="webchat", is_default=True)
        done = do_ingest_message(account, InboundMessage(provider_message_id=params["visitor"] + "-1",
                                 sender=Sender("webchat", params["visitor"], "李伟"), text="我想改一下收货地址"))
        do_assign(None, done.message.conversation, User.objects.get(pk=params["agent"]))
        result = {"customer": customer.pk, "conversation": done.message.conversation_id}
    """, phone=phone, visitor=visitor, agent=agent_id)

    page, watch = open_page(locale="zh-CN")
    login(page, username, password)
    page.goto(f"/inbox/#conversation/{seeded['conversation']}")
    page.wait_for_selector("[data-testid=connection][data-state=open]")
    timeline = page.locator("[data-testid=timeline]")
    timeline.locator("[data-testid=timeline-message][data-channel=webchat]", has_text="我想改一下收货地址").wait_for()
    panel = page.locator(f"[data-testid=customer-panel][data-customer-id='{seeded['customer']}']")
    panel.wait_for()
    assert panel.locator("[data-testid=customer-identity][data-kind=phone]").count() == 1

    hub.sms(phone, "我刚才在网页上问过，地址改成上海市浦东新区")

    sms = timeline.locator("[data-testid=timeline-message][data-channel=sms]", has_text="地址改成上海市浦东新区")
    sms.wait_for(timeout=10_000)
    assert sms.get_attribute("data-direction") == "in"
    stored = hub.run("""
        from hub.models import Message
        message = Message.objects.filter(channel_account__channel="sms", conversation__customer_id=params["customer"])
        result = [m.conversation.customer_id for m in message]
    """, customer=seeded["customer"])
    assert stored == [seeded["customer"]]
    # Both channels' messages, oldest first, in the one timeline.
    channels = timeline.locator("[data-testid=timeline-message]").evaluate_all(
        "items => items.map(i => i.dataset.channel)")
    assert channels == ["webchat", "sms"]
    assert not watch.dialogs
    assert not [e for e in watch.errors if "pageerror" in e], watch.errors
