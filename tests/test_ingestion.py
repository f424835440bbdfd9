from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from connectors.base import InboundAttachment
from hub.actions.conversations import do_set_status
from hub.actions.ingestion import IngestError, do_ingest_message
from hub.models import Change, Conversation, Customer, EventDelivery, Identity, Message
from routing.signals import conversation_needs_agent
from tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)


def test_first_message_creates_customer_identity_conversation_and_message() -> None:
    acc = f.account("sms")
    result = do_ingest_message(acc, f.inbound("Where is my order?", address="+1 (415) 555-0100", name="Ann"))
    assert result.created and result.conversation_created
    identity = Identity.objects.get()
    assert (identity.kind, identity.address) == ("phone", "+14155550100")
    assert identity.customer.display_name == "Ann"
    conv = Conversation.objects.get()
    assert conv.channel == "sms" and conv.status == "open" and conv.first_queued_at is not None
    assert conv.subject == "Where is my order?"
    msg = Message.objects.get()
    assert msg.direction == "in" and msg.status == "received" and msg.text == "Where is my order?"
    assert conv.messages_count == 1 and Customer.objects.get().messages_count == 1


def test_same_provider_id_ten_times_stores_one_message() -> None:
    acc = f.account("sms")
    results = [do_ingest_message(acc, f.inbound("hi", pid="SM123")) for _ in range(10)]
    assert [r.created for r in results] == [True] + [False] * 9
    assert Message.objects.count() == 1
    assert len({r.message.pk for r in results}) == 1
    # A duplicate records no change and sends no event.
    assert Change.objects.filter(type="message.created").count() == 1


def test_same_provider_id_on_another_account_is_another_message() -> None:
    do_ingest_message(f.account("sms"), f.inbound("hi", pid="X1"))
    do_ingest_message(f.account("voice"), f.inbound("hi", pid="X1"))
    assert Message.objects.count() == 2


def test_open_conversation_on_same_channel_gets_the_message() -> None:
    acc = f.account("sms")
    a = do_ingest_message(acc, f.inbound("one"))
    b = do_ingest_message(acc, f.inbound("two"))
    assert a.message.conversation_id == b.message.conversation_id
    assert not b.conversation_created


def test_other_channel_starts_its_own_conversation_for_the_same_customer() -> None:
    f.account("sms")
    a = do_ingest_message(f.account("sms"), f.inbound("sms"))
    b = do_ingest_message(f.account("voice"), f.inbound("call", address="+14155550100"))
    assert a.message.conversation.customer_id == b.message.conversation.customer_id
    assert a.message.conversation_id != b.message.conversation_id


def test_thread_key_threads_into_its_conversation() -> None:
    acc = f.account("email")
    first = do_ingest_message(acc, f.inbound("q", kind="email", address="Ann@Example.COM", pid="<m1@x>"))
    do_set_status(None, first.message.conversation, "resolved")
    # A reply referencing the first mail threads there (and reopens it, within the window)...
    reply = do_ingest_message(acc, f.inbound("re", kind="email", address="ann@example.com", pid="<m2@x>",
                                             thread_keys=["<m1@x>"]))
    assert reply.message.conversation_id == first.message.conversation_id
    assert reply.reopened
    conv = Conversation.objects.get()
    assert conv.status == "open" and conv.reopen_count == 1 and conv.reopened_at is not None


def test_a_shared_thread_key_never_joins_two_customers() -> None:
    """Many people comment under one public post: each gets their own conversation."""
    acc = f.account("social")
    a = do_ingest_message(acc, f.inbound("great!", kind="social", address="fan_1", thread_keys=["post-9"],
                                         is_public=True))
    b = do_ingest_message(acc, f.inbound("terrible", kind="social", address="fan_2", thread_keys=["post-9"],
                                         is_public=True))
    c = do_ingest_message(acc, f.inbound("also...", kind="social", address="fan_1", thread_keys=["post-9"],
                                         is_public=True))
    assert a.message.conversation_id != b.message.conversation_id
    assert c.message.conversation_id == a.message.conversation_id


def test_a_thread_marked_shared_is_one_conversation_whoever_writes() -> None:
    """A Slack thread where two people of the customer's company write is one conversation, still
    authored by each of them; the conversation keeps its first customer."""
    acc = f.account("slack")
    a = do_ingest_message(acc, f.inbound("our export is stuck", kind="slack", address="U1", pid="C1:1.0",
                                         thread_keys=["C1:1.0"], shared_thread=True))
    b = do_ingest_message(acc, f.inbound("same here since 9am", kind="slack", address="U2", pid="C1:2.0",
                                         thread_keys=["C1:1.0"], shared_thread=True))
    assert b.message.conversation_id == a.message.conversation_id
    conv = Conversation.objects.get()
    assert conv.customer_id == a.message.author_identity.customer_id
    assert b.message.author_identity.address == "U2"
    assert b.message.author_identity.customer_id != conv.customer_id
    assert conv.messages_count == 2


def test_resolved_conversation_outside_the_window_starts_a_new_one(settings) -> None:
    settings.HUB_REOPEN_WINDOW_HOURS = 24
    acc = f.account("sms")
    first = do_ingest_message(acc, f.inbound("one"))
    conv = do_set_status(None, first.message.conversation, "resolved")
    Conversation.objects.filter(pk=conv.pk).update(resolved_at=timezone.now() - timedelta(hours=25))
    second = do_ingest_message(acc, f.inbound("two"))
    assert second.conversation_created
    assert second.message.conversation_id != conv.pk
    assert Customer.objects.get().conversations_count == 2


def test_resolved_conversation_inside_the_window_reopens() -> None:
    acc = f.account("sms")
    first = do_ingest_message(acc, f.inbound("one"))
    do_set_status(None, first.message.conversation, "resolved")
    second = do_ingest_message(acc, f.inbound("two"))
    assert second.reopened and second.message.conversation_id == first.message.conversation_id


def test_auto_reply_never_reopens() -> None:
    acc = f.account("email")
    first = do_ingest_message(acc, f.inbound("q", kind="email", address="a@example.com"))
    do_set_status(None, first.message.conversation, "resolved")
    ooo = do_ingest_message(acc, f.inbound("I am out of office", kind="email", address="a@example.com",
                                           is_auto_reply=True))
    assert not ooo.reopened
    assert Conversation.objects.get().status == "resolved"
    assert ooo.message.metadata["auto_reply"] is True


def test_invalid_address_is_a_clear_error_and_stores_nothing() -> None:
    with pytest.raises(IngestError, match=r"not a phone number|possible"):
        do_ingest_message(f.account("sms"), f.inbound("x", address="not-a-number"))
    assert Message.objects.count() == 0 and Customer.objects.count() == 0


def test_oversized_text_is_truncated_and_marked(settings) -> None:
    settings.HUB_MAX_MESSAGE_CHARS = 100
    r = do_ingest_message(f.account("sms"), f.inbound("x" * 1000))
    assert len(r.message.text) == 100 and r.message.metadata["truncated"] is True


def test_html_is_sanitized_before_storing() -> None:
    r = do_ingest_message(f.account("email"), f.inbound(
        "x", kind="email", address="a@example.com",
        html='<p onclick="steal()">Hi<script>alert(1)</script><a href="javascript:alert(1)">x</a></p>'))
    html = r.message.html
    assert "script" not in html and "onclick" not in html and "javascript:" not in html
    assert "<p>Hi" in html


def test_attachments_are_stored_with_a_size_cap(settings) -> None:
    settings.HUB_MAX_ATTACHMENT_BYTES = 10
    r = do_ingest_message(f.account("email"), f.inbound(
        "x", kind="email", address="a@example.com",
        attachments=[InboundAttachment("a.txt", "text/plain", b"small"),
                     InboundAttachment("../../etc/big.bin", "application/octet-stream", b"y" * 11)]))
    atts = list(r.message.attachments.all())
    assert [(a.name, a.size) for a in atts] == [("a.txt", 5)]
    assert atts[0].file.read() == b"small"
    assert r.message.metadata["attachments_not_stored"][0]["reason"] == "too_large"


def test_routing_is_notified_after_commit_only() -> None:
    seen: list[int] = []

    def receiver(sender, conversation_id, reason, **kw):  # type: ignore[no-untyped-def]
        seen.append(conversation_id)

    conversation_needs_agent.connect(receiver)
    try:
        acc = f.account("sms")
        with pytest.raises(RuntimeError), transaction.atomic():
            do_ingest_message(acc, f.inbound("rolled back"))
            raise RuntimeError("boom")
        assert seen == [] and Message.objects.count() == 0 and Change.objects.count() == 0
        r = do_ingest_message(acc, f.inbound("kept"))
        assert seen == [r.message.conversation_id]
    finally:
        conversation_needs_agent.disconnect(receiver)


def test_changes_are_numbered_and_delivered_per_recipient() -> None:
    f.agent("sup", role="supervisor")
    a1 = f.agent("a1")
    acc = f.account("sms")
    do_ingest_message(acc, f.inbound("one"))
    do_ingest_message(acc, f.inbound("two"))
    numbers = list(Change.objects.values_list("number", flat=True))
    assert numbers == sorted(numbers) == list(range(numbers[0], numbers[0] + len(numbers)))
    # conversation.created + 2 x message.created, each with seq 1, 2, 3 for every recipient
    seqs = list(EventDelivery.objects.filter(recipient=a1).order_by("seq").values_list("seq", flat=True))
    assert seqs == [1, 2, 3]


def test_timestamps_written_by_the_fast_path_compare_like_orm_ones() -> None:
    """The hot path updates rows with plain SQL; on SQLite timestamps are text, so they must be written in
    the ORM's form or filters and cursor pagination compare them wrongly."""
    r = do_ingest_message(f.account("sms"), f.inbound("hi"))
    conv = Conversation.objects.get(pk=r.message.conversation_id)
    customer = Customer.objects.get(pk=conv.customer_id)
    assert conv.last_message_at is not None and customer.last_contact_at is not None
    assert Conversation.objects.filter(last_message_at=conv.last_message_at).count() == 1
    assert Conversation.objects.filter(last_message_at__lte=conv.last_message_at).count() == 1
    assert Customer.objects.filter(last_contact_at=customer.last_contact_at).count() == 1
    change = Change.objects.last()
    assert change is not None and Change.objects.filter(created_at=change.created_at).exists()
