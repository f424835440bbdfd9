"""The inbox list: visibility, filters, cursor pagination."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.contrib.auth.models import User

from hub.actions.conversations import do_assign, do_set_status
from hub.actions.ingestion import do_ingest_message
from hub.models import Conversation
from tests import factories as f
from tests.api import helpers as h
from tests.api.conftest import Org

pytestmark = pytest.mark.django_db

URL = "/api/v1/conversations/"


def test_agent_sees_own_teams_shared_and_assigned_conversations_only(org: Org) -> None:
    mine = h.conversation(org.team_a)
    shared = h.conversation(None)
    other = h.conversation(org.team_b)
    handed_to_me = h.conversation(org.team_b)
    do_assign(None, handed_to_me, org.alice)
    assert set(h.ids(h.client_for(org.alice).get(URL))) == {mine.pk, shared.pk, handed_to_me.pk}
    assert other.pk in h.ids(h.client_for(org.bob).get(URL))


def test_supervisor_sees_all(org: Org) -> None:
    convs = [h.conversation(org.team_a), h.conversation(org.team_b), h.conversation(None)]
    assert set(h.ids(h.client_for(org.sue).get(URL))) == {c.pk for c in convs}


def test_newest_activity_first(org: Org) -> None:
    old = h.conversation(org.team_a, address="+14155550001")
    new = h.conversation(org.team_a, address="+14155550002")
    assert h.ids(h.client_for(org.alice).get(URL)) == [new.pk, old.pk]
    # A new message on the old conversation moves it to the top.
    do_ingest_message(old.channel_account, f.inbound("again", address="+14155550001"))
    assert h.ids(h.client_for(org.alice).get(URL)) == [old.pk, new.pk]


def test_row_shape(org: Org) -> None:
    conv = h.conversation(org.team_a, text="Where is my parcel?", name="Ann Lee")
    row = h.results(h.client_for(org.alice).get(URL))[0]
    assert row["id"] == conv.pk and row["customer_name"] == "Ann Lee" and row["team_name"] == "Team A"
    assert row["status"] == "open" and row["channel"] == "sms" and row["subject"] == "Where is my parcel?"
    assert row["assignee_id"] is None and row["assignee_name"] is None and row["tags"] == []


def test_filter_status(org: Org) -> None:
    open_, done = h.conversation(org.team_a), h.conversation(org.team_a)
    do_set_status(None, done, Conversation.Status.RESOLVED)
    client = h.client_for(org.alice)
    assert h.ids(client.get(URL, {"status": "resolved"})) == [done.pk]
    assert h.ids(client.get(URL, {"status": "open"})) == [open_.pk]


def test_filter_channel(org: Org) -> None:
    sms = h.conversation(org.team_a)
    mail = h.conversation(org.team_a, channel="email", kind="email", address="ann@example.com")
    client = h.client_for(org.alice)
    assert h.ids(client.get(URL, {"channel": "email"})) == [mail.pk]
    assert h.ids(client.get(URL, {"channel": "sms"})) == [sms.pk]


def test_filter_assignee_me_none_and_id(org: Org) -> None:
    carol = h.agent("carol", teams=[org.team_a])
    mine, carols, nobodys = h.conversation(org.team_a), h.conversation(org.team_a), h.conversation(org.team_a)
    do_assign(None, mine, org.alice)
    do_assign(None, carols, carol)
    client = h.client_for(org.alice)
    assert h.ids(client.get(URL, {"assignee": "me"})) == [mine.pk]
    assert h.ids(client.get(URL, {"assignee": "none"})) == [nobodys.pk]
    assert h.ids(client.get(URL, {"assignee": str(carol.pk)})) == [carols.pk]


def test_filter_team(org: Org) -> None:
    a, b, shared = h.conversation(org.team_a), h.conversation(org.team_b), h.conversation(None)
    client = h.client_for(org.sue)
    assert h.ids(client.get(URL, {"team": org.team_a.pk})) == [a.pk]
    assert h.ids(client.get(URL, {"team": org.team_b.pk})) == [b.pk]
    assert h.ids(client.get(URL, {"team": "none"})) == [shared.pk]
    # Filtering never widens visibility: alice asking for team B gets nothing.
    assert h.ids(h.client_for(org.alice).get(URL, {"team": org.team_b.pk})) == []


def test_filter_customer(org: Org) -> None:
    ann = h.conversation(org.team_a, address="+14155550001")
    h.conversation(org.team_a, address="+14155550002")
    assert h.ids(h.client_for(org.alice).get(URL, {"customer": ann.customer_id})) == [ann.pk]


def test_filters_combine(org: Org) -> None:
    target = h.conversation(org.team_a)
    do_assign(None, target, org.alice)
    h.conversation(org.team_a)
    response = h.client_for(org.alice).get(URL, {"status": "open", "assignee": "me", "team": str(org.team_a.pk),
                                                 "channel": "sms"})
    assert h.ids(response) == [target.pk]


@pytest.mark.parametrize(("params", "field"), [
    ({"status": "bogus"}, "status"),
    ({"channel": "carrier-pigeon"}, "channel"),
    ({"assignee": "someone"}, "assignee"),
    ({"assignee": "999999"}, "assignee"),
    ({"assignee": "-1"}, "assignee"),
    ({"team": "999999"}, "team"),
    ({"team": "A"}, "team"),
    ({"customer": "x"}, "customer"),
    ({"customer": "0"}, "customer"),
    ({"customer": "9" * 30}, "customer"),
])
def test_unknown_filter_values_are_400_with_the_field(org: Org, params: dict[str, str], field: str) -> None:
    h.conversation(org.team_a)
    response = h.client_for(org.alice).get(URL, params)
    assert response.status_code == 400
    assert field in response.json()


def test_assignee_filter_refuses_a_user_who_is_not_an_agent(org: Org) -> None:
    plain = User.objects.create_user("plain")
    response = h.client_for(org.alice).get(URL, {"assignee": plain.pk})
    assert response.status_code == 400 and response.json() == {"assignee": ["no such agent"]}


def test_cursor_pagination_walks_every_row_once(org: Org) -> None:
    convs = [h.conversation(org.team_a) for _ in range(7)]
    client = h.client_for(org.alice)
    seen: list[int] = []
    response = client.get(URL, {"page_size": 3})
    pages = 0
    while True:
        body = response.json()
        seen += [row["id"] for row in body["results"]]
        pages += 1
        if not body["next"]:
            break
        assert "cursor=" in body["next"]
        response = client.get(body["next"])
        assert response.status_code == 200
    assert pages == 3
    assert seen == [c.pk for c in reversed(convs)]  # newest activity first, no duplicates, none missed
    # ...and back again with the previous links
    previous = client.get(response.json()["previous"])
    assert [row["id"] for row in previous.json()["results"]] == seen[3:6]


def test_pagination_does_not_skip_rows_with_equal_activity_times(org: Org) -> None:
    convs = [h.conversation(org.team_a) for _ in range(5)]
    Conversation.objects.filter(pk__in=[c.pk for c in convs]).update(last_message_at=convs[0].last_message_at)
    client = h.client_for(org.alice)
    seen: list[int] = []
    url: str | None = f"{URL}?page_size=2"
    while url:
        body = client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(c.pk for c in convs) and len(seen) == 5


def test_forged_cursor_is_404_not_500(org: Org) -> None:
    h.conversation(org.team_a)
    client = h.client_for(org.alice)
    for raw in ["not base64!", base64.b64encode(b"p=not-a-date").decode(), base64.b64encode(b"o=-5").decode(),
                base64.b64encode(b"p=2024-01-01T00:00:00").decode()]:
        response = client.get(URL, {"cursor": raw})
        assert response.status_code == 404, raw
        assert response.json() == {"detail": "Invalid cursor"}


def test_a_page_costs_the_same_queries_whatever_its_size(org: Org, django_assert_max_num_queries: Any) -> None:
    for _ in range(3):
        conv = h.conversation(org.team_a)
        do_assign(None, conv, org.alice)
    client = h.client_for(org.alice)
    with django_assert_max_num_queries(8):
        small = client.get(URL)
    for _ in range(12):
        conv = h.conversation(org.team_a)
        do_assign(None, conv, org.alice)
    with django_assert_max_num_queries(8):
        large = client.get(URL)
    assert len(h.ids(small)) == 3 and len(h.ids(large)) == 15
