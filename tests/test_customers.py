from __future__ import annotations

import pytest

from hub.actions import ActionError
from hub.actions.customers import do_merge_customers, do_unmerge, do_update_customer
from hub.actions.ingestion import do_ingest_message
from hub.models import AuditLog, Conversation, Customer, CustomerMerge, Identity
from tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)


def _two_customers() -> tuple[Customer, Customer]:
    sms = do_ingest_message(f.account("sms"), f.inbound("by sms", address="+14155550100", name="Ann L"))
    do_ingest_message(f.account("sms"), f.inbound("again", address="+14155550100"))
    mail = do_ingest_message(f.account("email"), f.inbound("by mail", kind="email", address="ann@example.com",
                                                           name="Ann Lee"))
    return mail.message.conversation.customer, sms.message.conversation.customer


def test_merge_moves_identities_and_conversations_and_figures() -> None:
    sup = f.agent("boss", role="supervisor")
    source, target = _two_customers()
    do_update_customer(sup, source, {"value_tier": "vip"})
    merge = do_merge_customers(sup, source, target)
    target.refresh_from_db()
    assert set(Identity.objects.filter(customer=target).values_list("kind", flat=True)) == {"phone", "email"}
    assert Conversation.objects.filter(customer=target).count() == 2
    assert target.conversations_count == 2 and target.messages_count == 3
    assert target.value_tier == "vip"  # the higher tier wins
    assert Customer.objects.get(pk=source.pk).merged_into_id == target.pk
    assert AuditLog.objects.filter(action="customer.merged", customer=target).exists()
    assert merge.identity_ids and merge.conversation_ids


def test_lifetime_figures_count_messages_both_ways() -> None:
    from hub.actions.outbound import do_send_reply

    r = do_ingest_message(f.account("sms"), f.inbound("hi"))
    do_send_reply(f.agent("ann"), r.message.conversation, "hello!")
    customer = Customer.objects.get()
    assert customer.messages_count == 2 and customer.conversations_count == 1


def test_after_merge_new_mail_from_the_moved_identity_reaches_the_target() -> None:
    source, target = _two_customers()
    do_merge_customers(f.agent("boss", role="supervisor"), source, target)
    r = do_ingest_message(f.account("email"), f.inbound("more", kind="email", address="ann@example.com"))
    assert r.message.conversation.customer_id == target.pk


def test_unmerge_restores_exactly() -> None:
    sup = f.agent("boss", role="supervisor")
    source, target = _two_customers()
    before = {c.pk: (c.value_tier, c.conversations_count, c.messages_count, c.display_name)
              for c in Customer.objects.all()}
    do_update_customer(sup, source, {"value_tier": "gold"})
    before[source.pk] = ("gold", *before[source.pk][1:])
    merge = do_merge_customers(sup, source, target)
    do_unmerge(sup, merge)
    after = {c.pk: (c.value_tier, c.conversations_count, c.messages_count, c.display_name)
             for c in Customer.objects.all()}
    assert after == before
    assert Identity.objects.get(kind="email").customer_id == source.pk
    assert Customer.objects.get(pk=source.pk).merged_into_id is None
    assert CustomerMerge.objects.get().undone_by == sup
    with pytest.raises(ActionError, match="already undone"):
        do_unmerge(sup, merge)


def test_merge_refuses_nonsense() -> None:
    sup = f.agent("boss", role="supervisor")
    source, target = _two_customers()
    with pytest.raises(ActionError, match="itself"):
        do_merge_customers(sup, target, target)
    do_merge_customers(sup, source, target)
    with pytest.raises(ActionError, match="already merged"):
        do_merge_customers(sup, source, target)


def test_update_customer_validates() -> None:
    sup = f.agent("boss", role="supervisor")
    _, target = _two_customers()
    with pytest.raises(ActionError, match="value_tier"):
        do_update_customer(sup, target, {"value_tier": "platinum"})
    with pytest.raises(ActionError, match="cannot change"):
        do_update_customer(sup, target, {"merged_into": None})


def test_customer_events_reach_exactly_who_may_see_the_customer() -> None:
    from hub.models import EventDelivery

    billing, general = f.team("Billing"), f.team("General")
    sms = f.account("sms")
    sms.team = billing
    sms.save()
    boss = f.agent("boss", role="supervisor")
    in_billing = f.agent("bil", teams=[billing])
    outsider = f.agent("gen", teams=[general])
    r = do_ingest_message(sms, f.inbound("hi"))
    EventDelivery.objects.all().delete()
    do_update_customer(boss, r.message.conversation.customer, {"notes": "prefers SMS"})
    assert set(EventDelivery.objects.values_list("recipient_id", flat=True)) == {boss.pk, in_billing.pk}
    assert outsider.pk not in set(EventDelivery.objects.values_list("recipient_id", flat=True))
