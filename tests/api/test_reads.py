"""Read marks: POST /api/v1/conversations/<id>/read/ (hub/actions/reads.py), and the unread counts of the
inbox list that they drive."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from hub.actions.ingestion import do_ingest_message
from hub.actions.reads import do_mark_read
from hub.events.resume import backlog
from hub.models import ConversationRead
from tests import factories as f
from tests.api import helpers as h
from tests.api.conftest import Org

pytestmark = pytest.mark.django_db


def read_events(user_id: int) -> list[dict[str, object]]:
    return [e for _seq, e in backlog(user_id, 0).events if e["type"] == "conversation.read"]


def test_mark_read_stores_the_mark_and_tells_only_the_reader(org: Org) -> None:
    conv = h.conversation(org.team_a, text="hello")
    response = h.client_for(org.alice).post(f"/api/v1/conversations/{conv.pk}/read/")
    assert response.status_code == 200, response.content
    mark = ConversationRead.objects.get(user=org.alice, conversation=conv)
    assert response.json()["conversation_id"] == conv.pk
    (event,) = read_events(org.alice.pk)
    assert event["conversation_id"] == conv.pk and event["user_id"] == org.alice.pk
    assert event["last_read_at"].replace("Z", "+00:00") == mark.last_read_at.isoformat()
    assert read_events(org.sue.pk) == []  # the supervisor sees the conversation but did not read it


def test_mark_never_moves_backwards_and_a_repeat_tells_no_one(org: Org) -> None:
    conv = h.conversation(org.team_a)
    now = timezone.now()
    do_mark_read(org.alice, conv, now)
    older = do_mark_read(org.alice, conv, now - timedelta(minutes=5))
    assert older.last_read_at == now
    do_mark_read(org.alice, conv, now)
    assert ConversationRead.objects.get(user=org.alice, conversation=conv).last_read_at == now
    assert len(read_events(org.alice.pk)) == 1
    later = do_mark_read(org.alice, conv, now + timedelta(seconds=1))
    assert later.last_read_at == now + timedelta(seconds=1)
    assert len(read_events(org.alice.pk)) == 2
    assert ConversationRead.objects.filter(user=org.alice, conversation=conv).count() == 1


def test_marking_a_conversation_one_may_not_see_is_404(org: Org) -> None:
    conv = h.conversation(org.team_b)
    assert h.client_for(org.alice).post(f"/api/v1/conversations/{conv.pk}/read/").status_code == 404
    assert not ConversationRead.objects.exists()


def test_unread_counts_customer_messages_after_the_mark(org: Org) -> None:
    conv = h.conversation(org.team_a, text="one", address="+14155550111")
    client = h.client_for(org.alice)

    def unread(who: object = client) -> int:
        rows = {r["id"]: r for r in h.results(who.get("/api/v1/inbox/?list=unassigned"))}  # type: ignore[attr-defined]
        return int(rows[conv.pk]["unread"])

    assert unread() == 1
    client.post(f"/api/v1/conversations/{conv.pk}/read/")
    assert unread() == 0
    for text in ("two", "three"):
        do_ingest_message(conv.channel_account, f.inbound(text, address="+14155550111"))
    assert unread() == 2
    assert unread(h.client_for(org.sue)) == 3  # someone else's mark does not change mine
