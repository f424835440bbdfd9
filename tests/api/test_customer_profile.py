"""The screen pop: GET /api/v1/customers/<id>/profile/ answers everything the customer panel shows, only to
those who may see the customer, in a fixed handful of queries."""

from __future__ import annotations

from typing import Any

import pytest

from hub.actions.conversations import do_add_note, do_assign, do_set_status
from hub.actions.customers import do_merge_customers, do_update_customer
from hub.actions.feedback import do_rate
from hub.models import Conversation, Customer
from tests.api import helpers as h
from tests.api.conftest import Org

pytestmark = pytest.mark.django_db


@pytest.fixture
def ann(org: Org) -> Customer:
    """Ann: an SMS conversation (resolved and rated 4) and an email one still open, a VIP with tags."""
    first = h.conversation(org.team_a, address="+14155550100", name="Ann Lee", text="card charged twice")
    customer = first.customer
    do_set_status(org.alice, first, Conversation.Status.RESOLVED)
    do_rate(first, 4, "quick, thanks")
    mail = h.conversation(org.team_a, channel="email", kind="email", address="ann@example.com", name="A. Lee")
    do_merge_customers(org.sue, mail.customer, customer)
    do_update_customer(org.sue, customer, {"value_tier": "vip", "notes": "Prefers SMS"}, tags=["billing", "vip"])
    return customer


def profile(client: Any, customer: Customer) -> Any:
    return client.get(f"/api/v1/customers/{customer.pk}/profile/")


def test_profile_has_everything_the_panel_shows(org: Org, ann: Customer) -> None:
    response = profile(h.client_for(org.alice), ann)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["display_name"], body["value_tier"]) == (ann.pk, "Ann Lee", "vip")
    assert body["tags"] == ["billing", "vip"] and body["notes"] == "Prefers SMS"
    assert {(i["kind"], i["address"]) for i in body["identities"]} == {("phone", "+14155550100"),
                                                                       ("email", "ann@example.com")}
    statuses = {c["channel"]: c for c in body["conversations"]}
    assert statuses["sms"]["status"] == "resolved" and statuses["sms"]["resolved_at"]
    assert statuses["email"]["status"] == "open" and statuses["email"]["resolved_at"] is None
    assert body["last_csat"]["score"] == 4 and body["last_csat"]["comment"] == "quick, thanks"
    assert {a["channel"] for a in body["reply_accounts"]} == {"sms", "email"}  # no slack, no voice
    assert [m["source_name"] for m in body["merges"]] == ["A. Lee"]


def test_last_csat_is_the_newest(org: Org, ann: Customer) -> None:
    mail = Conversation.objects.get(customer=ann, channel="email")
    do_set_status(org.alice, mail, Conversation.Status.RESOLVED)
    do_rate(mail, 2, "")
    assert profile(h.client_for(org.alice), ann).json()["last_csat"]["score"] == 2


def test_a_customer_without_rating_or_history_beyond_one(org: Org) -> None:
    customer = h.conversation(None, address="+14155550199").customer
    body = profile(h.client_for(org.bob), customer).json()  # no team: every agent's
    assert body["last_csat"] is None and body["merges"] == [] and len(body["conversations"]) == 1


def test_only_those_who_may_see_the_customer(org: Org, ann: Customer) -> None:
    assert profile(h.client_for(org.bob), ann).status_code == 404  # team B sees none of Ann's conversations
    assert profile(h.client_for(org.sue), ann).status_code == 200
    assert h.client_for(org.alice).get("/api/v1/customers/999999/profile/").status_code == 404
    assert h.client_for(None).get(f"/api/v1/customers/{ann.pk}/profile/").status_code in (401, 403)


def test_an_agent_sees_only_the_conversations_they_may_see(org: Org, ann: Customer) -> None:
    mail = Conversation.objects.get(customer=ann, channel="email")
    do_assign(org.sue, mail, None, team=org.team_b)
    ids = {c["id"] for c in profile(h.client_for(org.alice), ann).json()["conversations"]}
    assert mail.pk not in ids and len(ids) == 1
    assert mail.pk in {c["id"] for c in profile(h.client_for(org.sue), ann).json()["conversations"]}


@pytest.mark.parametrize("who", ["alice", "sue"])
def test_the_pop_is_one_fast_request(org: Org, ann: Customer, who: str,
                                     django_assert_max_num_queries: Any) -> None:
    for i in range(5):  # more history must not mean more queries
        conv = h.conversation(org.team_a, address=f"+1415555020{i}", text=f"again {i}")
        do_add_note(org.alice, conv, "note")
        do_merge_customers(org.sue, conv.customer, ann)
    client = h.client_for(getattr(org, who))
    with django_assert_max_num_queries(9):
        response = profile(client, ann)
    assert response.status_code == 200 and len(response.json()["conversations"]) >= 5
