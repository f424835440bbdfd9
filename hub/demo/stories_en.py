"""English-speaking customers of the demo: a cross-channel regular, a business account on Slack, a
duplicate charge on the phone, an invoice waiting on the customer, a snoozed callback, a new chat."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta

from connectors.base import InboundAttachment, Sender
from hub.demo.script import Cast, Story
from hub.models import Conversation

# A 1x1 PNG standing in for the customer's photo: enough for the attachment path, tiny in the repository.
PHOTO = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJ"
                         "RU5ErkJggg==")


def emma_email_then_sms_then_chat(cast: Cast) -> None:
    """Emma writes by email, a few days later by SMS, today on the chat: one customer, one history."""
    s = Story(cast, timedelta(days=6, hours=3))
    first = "<CAF8u2-emma-48213@mail.example.com>"
    s.writes(0, "email", Sender("email", "emma.johnson@example.com", "Emma Johnson"),
             "Hello,\n\nmy order #48213 arrived today and the glass jug of the blender is cracked (photo "
             "attached). Could you send a replacement?\n\nThanks,\nEmma",
             pid=first, subject="Blender arrived with a cracked jug (order #48213)",
             attachments=[InboundAttachment("cracked-jug.png", "image/png", PHOTO)])
    s.assigns(12, "alice", team="General")
    s.replies(25, "alice", "Hi Emma,\n\nI'm sorry about that. I've arranged a replacement jug under order "
              "#48213-R; it ships within 2 business days. No need to return the broken one.\n\nAlice")
    s.writes(190, "email", Sender("email", "Emma.Johnson@example.com", "Emma Johnson"),
             "Thank you, that was quick!", pid="<CAF8u2-emma-48213-2@mail.example.com>", thread_keys=[first])
    s.tags("alice", "damaged-item")
    s.resolves(200, "alice")
    s.profile("alice", value_tier="gold", language="en", tags=["returning", "damaged-item"],
              notes="Prefers SMS after 6 pm. Replacement order #48213-R.")

    s.start = cast.now - timedelta(days=2, hours=5)
    s.writes(0, "sms", Sender("phone", "+1 415 555 0134", "Emma J"),
             "Hi it's Emma Johnson - the replacement for #48213 hasn't shipped yet?", pid="SMdemo0001emma")
    s.links_to_customer("alice")
    s.assigns(6, "alice", team="General")
    s.replies(9, "alice", "Hi Emma, it left our warehouse this morning with UPS, tracking 1Z999AA10123456784. "
              "Should be with you Thursday. - Alice")
    s.writes(14, "sms", Sender("phone", "+14155550134"), "Great, thanks!", pid="SMdemo0002emma")
    s.resolves(20, "alice")

    s.start = cast.now - timedelta(minutes=35)
    s.writes(0, "webchat", Sender("webchat", "wv-3f9c21d7", "Emma"),
             "Hi again! Tracking says delivered but the box only has the lid, no jug :(", pid="wc-demo-emma-1")
    s.links_to_customer("alice")
    s.assigns(1, "alice", team="General")
    s.replies(3, "alice", "Oh no, Emma! I can see the whole story here. Let me check with the warehouse right now.")
    s.notes(5, "alice", "Second shipping error on #48213. Asked the warehouse (WH-5521) to check the packing. "
            "Offer a 20% voucher if the jug is missing again.")
    s.writes(6, "webchat", Sender("webchat", "wv-3f9c21d7", "Emma"), "Thanks Alice, I'll wait here.",
             pid="wc-demo-emma-2")
    s.tags("alice", "damaged-item", "shipping")


def northwind_on_slack(cast: Cast) -> None:
    """A VIP business customer reports an outage in the shared Slack channel; the supervisor escalates."""
    s = Story(cast, timedelta(hours=3))
    s.writes(0, "slack", Sender("slack", "U024BE7LH", "Priya Raman (Northwind Traders)"),
             "Since your 2.3 release this morning our SSO login fails with 'invalid audience' - about 40 of "
             "our users are locked out. Can someone look at this urgently?", pid="slack-demo-1718000000.000100")
    s.profile("sofia", display_name="Priya Raman (Northwind Traders)", value_tier="vip",
              tags=["enterprise", "sso"], notes="Northwind Traders, 240 seats. Account manager: Sofia.")
    s.assigns(4, "bob", team="VIP", by="sofia")
    s.escalates("sofia", Conversation.Priority.URGENT)
    s.notes(6, "sofia", "Northwind is one of our largest accounts. Bob, loop in engineering (INC-1187) and "
            "update Priya every 30 minutes.")
    s.replies(11, "bob", "Hi Priya, thanks for the detail. Engineering is on it (incident INC-1187). Until the "
              "fix ships, admins can sign in with the password fallback at /login?sso=0.")
    s.writes(26, "slack", Sender("slack", "U024BE7LH"),
             "Fallback works for our admins, thanks. Waiting for the fix for everyone else.",
             pid="slack-demo-1718001560.000200")
    s.tags("bob", "incident", "sso")


def marcus_calls_about_a_double_charge(cast: Cast) -> None:
    s = Story(cast, timedelta(days=4, hours=6))
    s.calls(0, Sender("phone", "+1 312 555 0188", "Marcus Lee"), call_id="CAdemo0001marcus", seconds=312,
            transcript="Hi, this is Marcus Lee. I was charged twice for my Premium subscription this month, "
                       "29.99 two times on the 3rd. Can you refund one of them?")
    s.assigns(1, "alice", team="Billing")
    s.notes(6, "alice", "Verified the duplicate charge. Refund RF-2291 of $29.99 issued; 3-5 business days. "
            "Told the customer on the call.")
    s.tags("alice", "billing", "refund")
    s.resolves(7, "alice")


def contoso_invoice_waits_on_the_customer(cast: Cast) -> None:
    """Pending: the agent asked a question and waits for the customer's answer."""
    s = Story(cast, timedelta(days=1, hours=2))
    s.writes(0, "email", Sender("email", "accounts@contoso.example", "Contoso Accounts Payable"),
             "Dear support,\n\ninvoice INV-2024-0415 shows an old VAT number. Please reissue it.\n\nRegards,\n"
             "Contoso AP", pid="<20240415-ap-77@contoso.example>", subject="Wrong VAT number on INV-2024-0415")
    s.assigns(40, "alice", team="Billing", by="sofia")
    s.replies(52, "alice", "Hello,\n\nhappy to reissue it. Could you confirm the correct VAT number, and whether "
              "earlier invoices need it too?\n\nAlice, Billing")
    s.sets_status("alice", Conversation.Status.PENDING)
    s.tags("alice", "billing", "invoice")


def tom_asks_for_a_callback_next_week(cast: Cast) -> None:
    """Snoozed: nothing to do until the date the customer asked for; the conversation wakes up then."""
    s = Story(cast, timedelta(days=2, hours=1))
    s.writes(0, "email", Sender("email", "tom.becker@fabrikam.example", "Tom Becker"),
             "Hi,\n\nour contract ends on the 30th. I'm travelling until next week; could someone call me then on "
             "+1 646 555 0199 about renewing with the new volume pricing?\n\nTom", pid="<tb-renewal@fabrikam.example>",
             subject="Contract renewal - please call me back next week")
    s.profile("bob", value_tier="gold", tags=["renewal"], notes="Fabrikam, 35 seats, renews on the 30th.")
    s.assigns(20, "bob", team="VIP")
    s.replies(31, "bob", "Hi Tom, noted - I'll call you early next week with the volume pricing. Safe travels! Bob")
    s.notes(33, "bob", "Renewal worth about $18k/yr. Prepare the volume pricing sheet before the call.")
    s.sets_status("bob", Conversation.Status.SNOOZED, snoozed_until=cast.now + timedelta(days=3))


def olivia_waits_on_the_chat(cast: Cast) -> None:
    """Waiting in the General queue, unassigned: the first thing an agent who goes available is offered."""
    s = Story(cast, timedelta(minutes=8))
    s.writes(0, "webchat", Sender("webchat", "wv-81c04e2a", "Olivia Brown"),
             "Hi! Do you ship to Canada, and how long does it take?", pid="wc-demo-olivia-1")
    s.assigns(0, None, team="General")


STORIES: tuple[Callable[[Cast], None], ...] = (
    emma_email_then_sms_then_chat,
    northwind_on_slack,
    marcus_calls_about_a_double_charge,
    contoso_invoice_waits_on_the_customer,
    tom_asks_for_a_callback_next_week,
    olivia_waits_on_the_chat,
)
