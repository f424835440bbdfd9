"""Invariant 5 under real concurrency: several processes routing at once on PostgreSQL assign no
conversation twice and put no agent over capacity."""

from __future__ import annotations

from collections import Counter

import pytest
from django.db.models import Count

from hub.actions.ingestion import do_ingest_message
from hub.models import AgentProfile, AuditLog, Conversation, RoutingEntry, RoutingOffer
from tests import factories as f
from tests.test_concurrency import run_workers


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_routers_in_several_processes_never_over_assign() -> None:
    agents = [f.agent(f"a{i}") for i in range(6)]
    AgentProfile.objects.update(capacity={"sms": 2, "webchat": 1})
    sms, chat = f.account("sms"), f.account("webchat")
    for i in range(40):  # nobody is available yet: everything waits
        do_ingest_message(sms, f.inbound("where is my order", address=f"+1415555{i:04d}"))
    for i in range(10):
        do_ingest_message(chat, f.inbound("hello", kind="webchat", address=f"visitor-{i}"))
    assert RoutingEntry.objects.count() == 50
    # Everyone becomes available at once, behind routing's back: only the racing routers place work.
    AgentProfile.objects.update(presence="available")

    results = run_workers([{"mode": "route", "rounds": 3}] * 4)
    assert sum(r["applied"] for r in results) > 0

    per_agent = Counter(dict(Conversation.objects.filter(assignee__isnull=False, channel="sms")
                             .values_list("assignee").annotate(n=Count("id"))))
    assert sorted(per_agent.values()) == [2] * 6  # full, and nobody over
    assigned = AuditLog.objects.filter(action="conversation.assigned").values_list("conversation_id", flat=True)
    assert max(Counter(assigned).values()) == 1  # no conversation assigned twice
    pending = RoutingOffer.objects.filter(outcome="pending")
    assert pending.count() == 6  # one ringing chat offer per agent
    assert len({o.agent_id for o in pending}) == 6 and len({o.conversation_id for o in pending}) == 6
    assert RoutingEntry.objects.filter(state="offered").count() == 6
    assert RoutingEntry.objects.filter(state="waiting").count() == 50 - 12 - 6
    assert {a.pk for a in agents} == set(per_agent)
