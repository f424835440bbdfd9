"""Customers through the API: search, the profile with history, edits, merge and undo."""

from __future__ import annotations

import pytest

from hub.actions.ingestion import do_ingest_message
from hub.models import AuditLog, Conversation, Customer, CustomerMerge
from tests import factories as f
from tests.api import helpers as h
from tests.api.conftest import Org

pytestmark = pytest.mark.django_db

URL = "/api/v1/customers/"


@pytest.fixture
def ann(org: Org) -> Customer:
    return h.conversation(org.team_a, address="+14155550100", name="Ann Lee").customer


@pytest.fixture
def ann_by_mail(org: Org) -> Customer:
    """Ann again, writing from her email: a second customer until someone merges them."""
    return h.conversation(org.team_a, channel="email", kind="email", address="Ann.Lee@Example.com",
                          name="A. Lee").customer


def search(org: Org, q: str) -> list[int]:
    return h.ids(h.client_for(org.sue).get(URL, {"q": q}))


def test_list_only_customers_the_agent_may_see(org: Org, ann: Customer) -> None:
    bob_customer = h.conversation(org.team_b).customer
    assert h.ids(h.client_for(org.alice).get(URL)) == [ann.pk]
    assert set(h.ids(h.client_for(org.sue).get(URL))) == {ann.pk, bob_customer.pk}
    assert h.client_for(org.alice).get(f"{URL}{bob_customer.pk}/").status_code == 404


def test_search_by_name(org: Org, ann: Customer, ann_by_mail: Customer) -> None:
    h.conversation(org.team_a, name="Bob Smith")
    assert set(search(org, "lee")) == {ann.pk, ann_by_mail.pk}
    assert search(org, "ANN LEE") == [ann.pk]


def test_search_by_email_in_another_case(org: Org, ann: Customer, ann_by_mail: Customer) -> None:
    assert search(org, "ANN.LEE@example.COM") == [ann_by_mail.pk]
    assert search(org, "ann.lee@") == [ann_by_mail.pk]


def test_search_by_phone_in_another_format(org: Org, ann: Customer, ann_by_mail: Customer) -> None:
    assert search(org, "+1 (415) 555-0100") == [ann.pk]
    assert search(org, "+1 415.555.0100") == [ann.pk]
    assert search(org, "+14155550199") == []


def test_search_lists_a_customer_once_even_if_several_addresses_match(org: Org, ann: Customer) -> None:
    do_ingest_message(f.account("voice"), f.inbound("call", address="+14155550100"))
    assert search(org, "+1415555") == [ann.pk]


def test_search_query_too_long_is_400(org: Org) -> None:
    response = h.client_for(org.sue).get(URL, {"q": "x" * 400})
    assert response.status_code == 400 and "q" in response.json()


def test_detail_has_identities_and_history(org: Org, ann: Customer) -> None:
    first = Conversation.objects.get(customer=ann)
    hidden = h.conversation(org.team_b, channel="voice", address="+14155550100")  # another channel: another case
    assert hidden.customer_id == ann.pk
    data = h.client_for(org.alice).get(f"{URL}{ann.pk}/").json()
    assert data["display_name"] == "Ann Lee"
    assert [(i["kind"], i["address"]) for i in data["identities"]] == [("phone", "+14155550100")]
    # Only the conversations alice may see.
    assert [c["id"] for c in data["conversations"]] == [first.pk]
    assert {"status", "channel", "subject", "created_at", "resolved_at"} <= set(data["conversations"][0])
    assert hidden.pk in {c["id"] for c in h.client_for(org.sue).get(f"{URL}{ann.pk}/").json()["conversations"]}


def test_update_profile(org: Org, ann: Customer) -> None:
    response = h.client_for(org.alice).patch(f"{URL}{ann.pk}/", {
        "display_name": "Ann Lee-Wong", "value_tier": "vip", "language": "zh-hans", "notes": "Prefers SMS",
        "tags": ["wholesale", "returns"],
    }, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["display_name"], data["value_tier"], data["language"], data["notes"]) == (
        "Ann Lee-Wong", "vip", "zh-hans", "Prefers SMS")
    assert data["tags"] == ["returns", "wholesale"]
    log = AuditLog.objects.get(action="customer.updated")
    assert log.actor == org.alice and set(log.data["changed"]) == {"display_name", "value_tier", "language",
                                                                   "notes", "tags"}


def test_update_only_given_fields(org: Org, ann: Customer) -> None:
    h.client_for(org.alice).patch(f"{URL}{ann.pk}/", {"notes": "x"}, format="json")
    ann.refresh_from_db()
    assert ann.display_name == "Ann Lee" and ann.notes == "x"


@pytest.mark.parametrize(("body", "field"), [
    ({"value_tier": "platinum"}, "value_tier"),
    ({"display_name": "x" * 201}, "display_name"),
    ({"tags": "vip"}, "tags"),
    ({"language": None}, "language"),
])
def test_bad_update_is_400(org: Org, ann: Customer, body: dict[str, object], field: str) -> None:
    response = h.client_for(org.alice).patch(f"{URL}{ann.pk}/", body, format="json")
    assert response.status_code == 400 and field in response.json()


def test_merge_then_unmerge(org: Org, ann: Customer, ann_by_mail: Customer) -> None:
    client = h.client_for(org.sue)
    mail_conversations = set(Conversation.objects.filter(customer=ann_by_mail).values_list("id", flat=True))
    response = client.post(f"{URL}{ann.pk}/merge/", {"source": ann_by_mail.pk}, format="json")
    assert response.status_code == 201, response.content
    merge = response.json()
    assert (merge["source_id"], merge["target_id"]) == (ann_by_mail.pk, ann.pk)

    profile = client.get(f"{URL}{ann.pk}/").json()
    assert {i["address"] for i in profile["identities"]} == {"+14155550100", "ann.lee@example.com"}
    assert mail_conversations <= {c["id"] for c in profile["conversations"]}
    assert [m["id"] for m in profile["merges"]] == [merge["id"]]
    assert ann_by_mail.pk not in h.ids(client.get(URL))  # merged away: hidden from lists
    assert client.get(f"{URL}{ann_by_mail.pk}/").json()["merged_into_id"] == ann.pk

    response = client.post(f"{URL}merges/{merge['id']}/undo/")
    assert response.status_code == 200 and response.json()["undone_at"]
    assert {i["address"] for i in client.get(f"{URL}{ann_by_mail.pk}/").json()["identities"]} == {
        "ann.lee@example.com"}
    assert set(Conversation.objects.filter(customer=ann_by_mail).values_list("id", flat=True)) == mail_conversations
    assert client.get(f"{URL}{ann.pk}/").json()["merges"] == []
    assert ann_by_mail.pk in h.ids(client.get(URL))
    assert list(AuditLog.objects.filter(action__startswith="customer.").values_list("action", flat=True)
                .order_by("id")) == ["customer.merged", "customer.unmerged"]


def test_agents_may_not_merge_or_unmerge(org: Org, ann: Customer, ann_by_mail: Customer) -> None:
    client = h.client_for(org.alice)
    response = client.post(f"{URL}{ann.pk}/merge/", {"source": ann_by_mail.pk}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "only supervisors and administrators may do this"}
    merge = h.client_for(org.sue).post(f"{URL}{ann.pk}/merge/", {"source": ann_by_mail.pk}, format="json").json()
    assert client.post(f"{URL}merges/{merge['id']}/undo/").status_code == 403
    assert CustomerMerge.objects.get().undone_at is None


@pytest.mark.parametrize(("body", "expected"), [
    ({}, {"source": ["This field is required."]}),
    ({"source": "x"}, {"source": ["A valid integer is required."]}),
    ({"source": 999999}, {"source": ["no such customer"]}),
])
def test_bad_merge_is_400(org: Org, ann: Customer, body: dict[str, object], expected: dict[str, list[str]]) -> None:
    response = h.client_for(org.sue).post(f"{URL}{ann.pk}/merge/", body, format="json")
    assert response.status_code == 400 and response.json() == expected


def test_merging_into_itself_or_twice_is_400(org: Org, ann: Customer, ann_by_mail: Customer) -> None:
    client = h.client_for(org.sue)
    response = client.post(f"{URL}{ann.pk}/merge/", {"source": ann.pk}, format="json")
    assert response.status_code == 400 and response.json() == {"detail": ["cannot merge a customer into itself"]}
    merge = client.post(f"{URL}{ann.pk}/merge/", {"source": ann_by_mail.pk}, format="json").json()
    assert client.post(f"{URL}{ann.pk}/merge/", {"source": ann_by_mail.pk}, format="json").status_code == 400
    client.post(f"{URL}merges/{merge['id']}/undo/")
    response = client.post(f"{URL}merges/{merge['id']}/undo/")
    assert response.status_code == 400 and response.json() == {"detail": ["this merge was already undone"]}
    assert client.post(f"{URL}merges/999999/undo/").status_code == 404
