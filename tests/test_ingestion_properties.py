"""Random sequences of deliveries (with provider retries), replies, status changes and merges: the stored
state always agrees with itself, whatever the order."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.actions.conversations import do_set_status
from hub.actions.ingestion import do_ingest_message
from hub.actions.outbound import do_send_reply
from hub.models import Change, Conversation, Customer, EventDelivery, Message
from tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)

_run = itertools.count()

step = st.one_of(
    # a customer message: (who, which channel, which provider id; ids repeat = provider retries)
    st.tuples(st.just("in"), st.integers(0, 3), st.sampled_from(["sms", "email", "social"]), st.integers(0, 12)),
    st.tuples(st.just("reply"), st.integers(0, 3)),
    st.tuples(st.just("status"), st.integers(0, 3), st.sampled_from(["resolved", "pending", "snoozed", "open"])),
)


def _address(kind: str, who: int, run: int) -> str:
    return {"phone": f"+1415{run:03d}{who:04d}", "email": f"c{who}-r{run}@example.com"}.get(kind, f"s{run}-{who}")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=25))
def test_state_agrees_with_itself(steps: list[tuple]) -> None:
    run = next(_run)
    agent = f.agent()
    kinds = {"sms": "phone", "email": "email", "social": "social"}
    delivered: set[tuple[str, str]] = set()
    for item in steps:
        if item[0] == "in":
            _, who, channel, pid = item
            kind = kinds[channel]
            result = do_ingest_message(f.account(channel), f.inbound(
                f"m{pid}", kind=kind, address=_address(kind, who, run), pid=f"r{run}-{channel}-{pid}"))
            key = (channel, f"r{run}-{channel}-{pid}")
            assert result.created == (key not in delivered)
            delivered.add(key)
        else:
            # Act on one of this run's conversations, picked by the step's number.
            convs = list(Conversation.objects.filter(messages__provider_message_id__startswith=f"r{run}-")
                         .distinct().order_by("id"))
            if not convs:
                continue
            conv = convs[item[1] % len(convs)]
            if item[0] == "reply":
                do_send_reply(agent, conv, "reply")
            else:
                until = timezone.now() + timedelta(hours=1) if item[2] == "snoozed" else None
                do_set_status(agent, conv, item[2], snoozed_until=until)

    # One message per provider id, whatever the retries.
    stored = Counter(Message.objects.filter(provider_message_id__startswith=f"r{run}-")
                     .values_list("provider_message_id", flat=True))
    assert set(stored.values()) <= {1} and len(stored) == len(delivered)
    # Counters kept on the rows equal what is really there.
    for conv in Conversation.objects.annotate(n=Count("messages")):
        assert conv.messages_count == conv.n, conv
    for customer in Customer.objects.annotate(n=Count("conversations", distinct=True)):
        assert customer.conversations_count == customer.n, customer
        assert customer.messages_count == Message.objects.filter(conversation__customer=customer).count()
    # Change numbers and every recipient's sequence numbers have no gap and no repeat.
    numbers = list(Change.objects.order_by("number").values_list("number", flat=True))
    assert numbers == list(range(1, len(numbers) + 1))
    per_user: dict[int, list[int]] = {}
    for uid, seq in EventDelivery.objects.order_by("recipient_id", "seq").values_list("recipient_id", "seq"):
        per_user.setdefault(uid, []).append(seq)
    for seqs in per_user.values():
        assert seqs == list(range(1, len(seqs) + 1))
    # At most one unresolved conversation per customer and channel.
    open_per_key = Counter(Conversation.objects.exclude(status="resolved").values_list("customer_id", "channel"))
    assert set(open_per_key.values()) <= {1}
