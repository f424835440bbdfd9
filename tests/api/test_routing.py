"""Routing through the API: queue configuration (agents read, supervisors write, everything validated),
a queue's line with positions and estimated waits, and the signed-in agent's offers; and the admin's queue
form, which shares the validation.

Most tests run in a test transaction, where commit hooks never fire: routing rounds do not run by
themselves, so the routing state each test builds with the actions stays exactly as built. The offer
tests run committed (transaction=True), so that offers are made by routing as in production.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from hub.actions.agents import do_set_presence
from hub.actions.ingestion import do_ingest_message
from hub.actions.routing import do_enter_queue, do_offer
from hub.actions.routing_config import queue_config
from hub.api.serializers.routing import OfferConversationSerializer
from hub.events.payloads import conversation_data
from hub.events.schema import ConversationData
from hub.models import AuditLog, Conversation, RoutingEntry, RoutingOffer, RoutingQueue
from tests import factories as f
from tests.api import helpers as h
from tests.api.conftest import Org

QUEUES = "/api/v1/routing/queues/"


def available(user: User) -> User:
    do_set_presence(None, user.agent, "available")
    return user


def catch_all(name: str = "General", **kw: Any) -> RoutingQueue:
    return RoutingQueue.objects.create(name=name, order=1000, **kw)


def waiting_in(queue: RoutingQueue, conv: Conversation, *, ago: float = 0.0, out_of_hours: bool = False) -> None:
    entry = do_enter_queue(conv.pk, queue, out_of_hours=out_of_hours, now=timezone.now() - dt.timedelta(seconds=ago))
    assert entry is not None


# --- permissions and the queue resource --------------------------------------------------------------------

@pytest.mark.django_db
def test_agents_read_queues_but_may_not_change_them(org: Org) -> None:
    queue = catch_all()
    client = h.client_for(org.alice)
    rows = client.get(QUEUES).json()
    assert [r["name"] for r in rows] == ["General"]
    assert client.get(f"{QUEUES}{queue.pk}/").json()["id"] == queue.pk
    forbidden = {"detail": "only supervisors and administrators may do this"}
    assert client.post(QUEUES, {"name": "Mine"}, format="json").json() == forbidden
    for response in (client.post(QUEUES, {"name": "Mine"}, format="json"),
                     client.patch(f"{QUEUES}{queue.pk}/", {"order": 1}, format="json"),
                     client.delete(f"{QUEUES}{queue.pk}/")):
        assert response.status_code == 403
    assert list(RoutingQueue.objects.values_list("name", "order")) == [("General", 1000)]
    assert not AuditLog.objects.filter(action__startswith="routing.queue").exists()


@pytest.mark.django_db
def test_unknown_queue_is_404(org: Org) -> None:
    client = h.client_for(org.sue)
    for response in (client.get(f"{QUEUES}999999/"), client.patch(f"{QUEUES}999999/", {}, format="json"),
                     client.delete(f"{QUEUES}999999/"), client.get(f"{QUEUES}999999/waiting/")):
        assert response.status_code == 404 and "detail" in response.json()


@pytest.mark.django_db
def test_supervisor_creates_changes_and_deletes_a_queue(org: Org) -> None:
    client = h.client_for(org.sue)
    body = {"name": " Spanish chat ", "order": 5, "team": org.team_a.pk, "channels": ["webchat"],
            "languages": ["es"], "required_skills": {"spanish": 3}, "strategy": "least_occupied",
            "offer_timeouts": {"webchat": 45}, "relaxation": [[120, 1], [300, 2]],
            "hours": {"timezone": "Europe/Madrid", "weekly": {"0": [[540, 1080]]}, "closed_dates": ["2026-12-25"]},
            "out_of_hours_message": "Volvemos a las 9.", "aht_seconds": 240}
    response = client.post(QUEUES, body, format="json")
    assert response.status_code == 201, response.content
    row = response.json()
    queue = RoutingQueue.objects.get(pk=row["id"])
    assert queue.name == "Spanish chat" and queue.team == org.team_a and queue.required_skills == {"spanish": 3}
    assert {k: row[k] for k in body if k != "name"} == {k: v for k, v in body.items() if k != "name"}
    # Unset settings take the model's defaults.
    assert row["aging_seconds"] == 60 and row["auto_assign_channels"] == ["email", "sms"] and row["active"]
    assert (row["waiting"], row["out_of_hours"], row["offered"]) == (0, 0, 0)
    assert isinstance(row["open_now"], bool)
    created = AuditLog.objects.get(action="routing.queue_created")
    assert created.actor == org.sue and created.data["queue"] == queue.pk

    response = client.patch(f"{QUEUES}{queue.pk}/", {"strategy": "round_robin", "team": None}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["strategy"] == "round_robin" and response.json()["team"] is None
    queue.refresh_from_db()
    assert queue.strategy == "round_robin" and queue.team is None and queue.channels == ["webchat"]
    updated = AuditLog.objects.get(action="routing.queue_updated")
    assert updated.data["changed"] == {"strategy": "round_robin", "team": None}
    assert updated.data["previous"] == {"strategy": "least_occupied", "team": org.team_a.pk}

    assert client.delete(f"{QUEUES}{queue.pk}/").status_code == 204  # nothing refers to it
    assert not RoutingQueue.objects.filter(pk=queue.pk).exists()
    assert AuditLog.objects.filter(action="routing.queue_deleted", actor=org.sue).exists()


@pytest.mark.django_db
def test_deleting_a_queue_with_history_deactivates_it(org: Org) -> None:
    catch_all()
    sales = RoutingQueue.objects.create(name="Sales", order=0, channels=["sms"])
    conv = h.conversation(org.team_a)
    Conversation.objects.filter(pk=conv.pk).update(queue=sales)  # answered from it earlier
    response = h.client_for(org.sue).delete(f"{QUEUES}{sales.pk}/")
    assert response.status_code == 200 and response.json()["active"] is False
    assert RoutingQueue.objects.get(pk=sales.pk).active is False
    assert Conversation.objects.get(pk=conv.pk).queue == sales


@pytest.mark.django_db
def test_counts_and_open_now(org: Org) -> None:
    queue = catch_all()
    closed = RoutingQueue.objects.create(name="Closed", order=0, channels=["email"],
                                         hours={"timezone": "UTC", "weekly": {}})
    waiting_in(queue, h.conversation(org.team_a))
    waiting_in(queue, h.conversation(org.team_a))
    waiting_in(queue, h.conversation(), out_of_hours=True)
    offered = h.conversation()
    waiting_in(queue, offered)
    available(org.alice)
    assert do_offer(offered.pk, org.alice.pk, queue.pk, timezone.now() + dt.timedelta(seconds=30)) is not None
    rows = {r["name"]: r for r in h.client_for(org.bob).get(QUEUES).json()}
    assert {k: rows["General"][k] for k in ("waiting", "out_of_hours", "offered", "open_now")} == {
        "waiting": 2, "out_of_hours": 1, "offered": 1, "open_now": True}
    assert rows["Closed"]["open_now"] is False and rows["Closed"]["waiting"] == 0
    assert h.client_for(org.bob).get(f"{QUEUES}{closed.pk}/").json()["open_now"] is False


# --- validation --------------------------------------------------------------------------------------------

INVALID: list[tuple[dict[str, Any], str]] = [
    ({"name": ""}, "name"),
    ({"name": "General"}, "name"),  # taken
    ({"order": "first"}, "order"),
    ({"team": 999999}, "team"),
    ({"strategy": "random"}, "strategy"),
    ({"required_skills": {"spanish": 0}}, "required_skills"),
    ({"required_skills": {"spanish": 6}}, "required_skills"),
    ({"required_skills": {"spanish": "3"}}, "required_skills"),
    ({"required_skills": {"spanish": 2.5}}, "required_skills"),
    ({"required_skills": {"spanish": True}}, "required_skills"),
    ({"required_skills": {"": 2}}, "required_skills"),
    ({"required_skills": ["spanish"]}, "required_skills"),
    ({"offer_timeouts": {"webchat": 0}}, "offer_timeouts"),
    ({"offer_timeouts": {"webchat": -5}}, "offer_timeouts"),
    ({"offer_timeouts": {"webchat": "30"}}, "offer_timeouts"),
    ({"offer_timeouts": [30]}, "offer_timeouts"),
    ({"overflow_after": 0}, "overflow_after"),
    ({"overflow_after": -1}, "overflow_after"),
    ({"overflow_to": 999999}, "overflow_to"),
    ({"sticky_seconds": -1}, "sticky_seconds"),
    ({"aging_seconds": 0.5}, "aging_seconds"),
    ({"aging_seconds": 0}, "aging_seconds"),
    ({"aht_seconds": 0}, "aht_seconds"),
    ({"hours": "9-17"}, "hours"),
    ({"hours": {"weekly": {}}}, "hours"),  # no time zone
    ({"hours": {"timezone": "Mars/Olympus_Mons", "weekly": {}}}, "hours"),
    ({"hours": {"timezone": "../../etc/passwd", "weekly": {}}}, "hours"),
    ({"hours": {"timezone": "UTC"}}, "hours"),  # no weekly
    ({"hours": {"timezone": "UTC", "weekly": []}}, "hours"),
    ({"hours": {"timezone": "UTC", "weekly": {"7": [[540, 1080]]}}}, "hours"),
    ({"hours": {"timezone": "UTC", "weekly": {"mon": [[540, 1080]]}}}, "hours"),
    ({"hours": {"timezone": "UTC", "weekly": {"0": [[1080, 540]]}}}, "hours"),
    ({"hours": {"timezone": "UTC", "weekly": {"0": [[540, 540]]}}}, "hours"),
    ({"hours": {"timezone": "UTC", "weekly": {"0": [[0, 1441]]}}}, "hours"),
    ({"hours": {"timezone": "UTC", "weekly": {"0": [[-1, 60]]}}}, "hours"),
    ({"hours": {"timezone": "UTC", "weekly": {"0": [540, 1080]}}}, "hours"),
    ({"hours": {"timezone": "UTC", "weekly": {"0": [[540.5, 1080]]}}}, "hours"),
    ({"hours": {"timezone": "UTC", "weekly": {"0": [[540, 1080, 1200]]}}}, "hours"),
    ({"hours": {"timezone": "UTC", "weekly": {}, "closed_dates": ["2026-13-01"]}}, "hours"),
    ({"hours": {"timezone": "UTC", "weekly": {}, "closed_dates": ["25/12/2026"]}}, "hours"),
    ({"hours": {"timezone": "UTC", "weekly": {}, "closed_dates": "2026-12-25"}}, "hours"),
    ({"hours": {"timezone": "UTC", "weekly": {}, "holidays": []}}, "hours"),
    ({"relaxation": [[-1, 1]]}, "relaxation"),
    ({"relaxation": [[60, 0]]}, "relaxation"),
    ({"relaxation": [[60, 1.5]]}, "relaxation"),
    ({"relaxation": [[60]]}, "relaxation"),
    ({"relaxation": [60, 1]}, "relaxation"),
    ({"relaxation": [["60", 1]]}, "relaxation"),
    ({"relaxation": {"60": 1}}, "relaxation"),
    ({"channels": "sms"}, "channels"),
    ({"channels": [1]}, "channels"),
    ({"channels": [""]}, "channels"),
    ({"auto_assign_channels": [None]}, "auto_assign_channels"),
    ({"auto_assign_channels": {"sms": True}}, "auto_assign_channels"),
    ({"languages": "en"}, "languages"),
    ({"languages": [["en"]]}, "languages"),
    ({"out_of_hours_message": None}, "out_of_hours_message"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), INVALID)
def test_invalid_configuration_is_400_naming_the_field_and_stores_nothing(org: Org, body: dict[str, Any],
                                                                          field: str) -> None:
    general = catch_all()
    before = queue_config(general)
    client = h.client_for(org.sue)
    created = client.post(QUEUES, {"name": "New", **body}, format="json")
    assert created.status_code == 400 and field in created.json(), created.content
    assert RoutingQueue.objects.count() == 1
    if field != "name":
        changed = client.patch(f"{QUEUES}{general.pk}/", body, format="json")
        assert changed.status_code == 400 and field in changed.json(), changed.content
        general.refresh_from_db()
        assert queue_config(general) == before
    assert not AuditLog.objects.filter(action__startswith="routing.queue").exists()


@pytest.mark.django_db
def test_overflow_may_not_point_to_itself_or_form_a_cycle(org: Org) -> None:
    catch_all()
    first = RoutingQueue.objects.create(name="First", order=0, channels=["sms"])
    second = RoutingQueue.objects.create(name="Second", order=1, channels=["sms"], overflow_to=first,
                                         overflow_after=60)
    third = RoutingQueue.objects.create(name="Third", order=2, channels=["sms"], overflow_to=second,
                                        overflow_after=60)
    client = h.client_for(org.sue)
    to_self = client.patch(f"{QUEUES}{first.pk}/", {"overflow_to": first.pk}, format="json")
    assert to_self.status_code == 400 and to_self.json() == {"overflow_to": ["a queue cannot overflow to itself"]}
    cycle = client.patch(f"{QUEUES}{first.pk}/", {"overflow_to": third.pk}, format="json")  # 1 -> 3 -> 2 -> 1
    assert cycle.status_code == 400 and "cycle" in cycle.json()["overflow_to"][0]
    assert RoutingQueue.objects.get(pk=first.pk).overflow_to is None
    # A chain without a cycle is fine.
    chain = client.patch(f"{QUEUES}{third.pk}/", {"overflow_to": first.pk}, format="json")
    assert chain.status_code == 200 and chain.json()["overflow_to"] == first.pk


@pytest.mark.django_db
def test_valid_edge_values_are_accepted(org: Org) -> None:
    body = {"name": "Edges", "channels": [], "hours": {"timezone": "Asia/Shanghai", "weekly": {
        "0": [[0, 1440]], "6": [[0, 60], [1380, 1440]]}, "closed_dates": []}, "relaxation": [[0, 1]],
        "sticky_seconds": 0, "aging_seconds": 1, "overflow_after": None, "offer_timeouts": {"voice": 0.5},
        "required_skills": {"a": 1, "b": 5}}
    response = h.client_for(org.sue).post(QUEUES, body, format="json")
    assert response.status_code == 201, response.content
    assert h.client_for(org.sue).patch(f"{QUEUES}{response.json()['id']}/", {"hours": None},
                                       format="json").json()["hours"] is None


@pytest.mark.django_db
def test_the_last_catch_all_queue_stays(org: Org) -> None:
    general = catch_all()
    client = h.client_for(org.sue)
    for response, field in ((client.delete(f"{QUEUES}{general.pk}/"), "detail"),
                            (client.patch(f"{QUEUES}{general.pk}/", {"active": False}, format="json"), "active"),
                            (client.patch(f"{QUEUES}{general.pk}/", {"channels": ["sms"]}, format="json"),
                             "channels")):
        assert response.status_code == 400 and "takes every conversation" in response.json()[field][0]
    assert queue_config(RoutingQueue.objects.get(pk=general.pk)) == queue_config(general)
    catch_all("Fallback")
    assert client.delete(f"{QUEUES}{general.pk}/").status_code == 204


@pytest.mark.django_db
def test_deactivating_a_queue_moves_its_conversations_keeping_their_place(org: Org) -> None:
    general = catch_all()
    sms_queue = RoutingQueue.objects.create(name="SMS", order=0, channels=["sms"])
    waiting, offered = h.conversation(), h.conversation()
    waiting_in(sms_queue, waiting, ago=100)
    waiting_in(sms_queue, offered, ago=50)
    available(org.alice)
    offer = do_offer(offered.pk, org.alice.pk, sms_queue.pk, timezone.now() + dt.timedelta(seconds=30))
    assert offer is not None
    arrived = RoutingEntry.objects.get(pk=waiting.pk).arrived_at

    response = h.client_for(org.sue).patch(f"{QUEUES}{sms_queue.pk}/", {"active": False}, format="json")
    assert response.status_code == 200 and response.json()["active"] is False
    assert response.json()["waiting"] == 0
    entries = {e.pk: e for e in RoutingEntry.objects.all()}
    assert {e.queue_id for e in entries.values()} == {general.pk}
    assert entries[waiting.pk].arrived_at == arrived and entries[offered.pk].state == "waiting"
    assert RoutingOffer.objects.get(pk=offer.pk).outcome == "withdrawn"
    assert AuditLog.objects.get(action="routing.queue_updated").data["moved"] == 2


# --- a queue's line ----------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_waiting_list_order_positions_estimates_and_visibility(org: Org) -> None:
    queue = catch_all()
    team_a = h.conversation(org.team_a, name="Ann")
    team_b = h.conversation(org.team_b, name="Ben")
    shared = h.conversation(None, name="Sam")
    waiting_in(queue, team_a, ago=100)
    waiting_in(queue, team_b, ago=90)
    waiting_in(queue, shared, ago=80)
    # Escalated is worth two priority levels (2 x 60 s of waiting): it goes ahead of the other two.
    Conversation.objects.filter(pk=shared.pk).update(escalated=True)
    url = f"{QUEUES}{queue.pk}/waiting/"

    rows = h.client_for(org.sue).get(url).json()
    assert [(r["conversation_id"], r["position"]) for r in rows] == [(shared.pk, 1), (team_a.pk, 2), (team_b.pk, 3)]
    assert [r["estimated_wait_seconds"] for r in rows] == [None, None, None]  # nobody is available
    first = rows[0]
    assert first["customer_name"] == "Sam" and first["channel"] == "sms" and first["escalated"] is True
    assert first["priority"] == 1 and first["team_id"] is None and first["customer_id"] == shared.customer_id
    since = RoutingEntry.objects.get(pk=shared.pk).arrived_at
    assert dt.datetime.fromisoformat(first["waiting_since"]) == since

    # Alice (team A) sees team A's and shared conversations, at their place in the whole line; one agent
    # with room takes the first now, and the rest wait for handling times (300 s over her 8 sms places).
    available(org.alice)
    rows = h.client_for(org.alice).get(url).json()
    assert [(r["conversation_id"], r["position"], r["estimated_wait_seconds"]) for r in rows] == [
        (shared.pk, 1, 0.0), (team_a.pk, 2, 37.5)]
    rows = h.client_for(org.bob).get(url).json()
    assert [(r["conversation_id"], r["position"], r["estimated_wait_seconds"]) for r in rows] == [
        (shared.pk, 1, 0.0), (team_b.pk, 3, 75.0)]


@pytest.mark.django_db
def test_waiting_list_leaves_out_conversations_not_in_line(org: Org) -> None:
    queue = catch_all()
    closed, offered = h.conversation(), h.conversation()
    waiting_in(queue, closed, out_of_hours=True)
    waiting_in(queue, offered)
    available(org.alice)
    assert do_offer(offered.pk, org.alice.pk, queue.pk, timezone.now() + dt.timedelta(seconds=30)) is not None
    assert h.client_for(org.sue).get(f"{QUEUES}{queue.pk}/waiting/").json() == []


# --- offers ------------------------------------------------------------------------------------------------

def chat(address: str = "visitor-1") -> Conversation:
    inbound = f.inbound("hi", kind="webchat", address=address)
    return do_ingest_message(f.account("webchat"), inbound).message.conversation


@pytest.fixture
def offered(org: Org) -> RoutingOffer:
    """A web chat offered to Alice, the only available agent, by routing."""
    available(org.alice)
    conv = chat()
    return RoutingOffer.objects.get(conversation=conv, agent=org.alice, outcome="pending")


@pytest.mark.django_db(transaction=True)
def test_offer_list_is_the_agents_open_offers(org: Org, offered: RoutingOffer) -> None:
    rows = h.client_for(org.alice).get("/api/v1/offers/").json()
    assert len(rows) == 1
    row = rows[0]
    assert row["id"] == offered.pk and row["outcome"] == "pending" and row["queue_id"] == offered.queue_id
    assert dt.datetime.fromisoformat(row["expires_at"]) == offered.expires_at
    # The same conversation summary as the offer.created event.
    conv = Conversation.objects.get(pk=offered.conversation_id)
    assert row["conversation"] == conversation_data(conv).model_dump(mode="json")
    assert h.client_for(org.bob).get("/api/v1/offers/").json() == []
    # Past its expiry (and the grace for a slow click) it can no longer be accepted, so it is not listed.
    RoutingOffer.objects.filter(pk=offered.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=3))
    assert h.client_for(org.alice).get("/api/v1/offers/").json() == []


@pytest.mark.django_db(transaction=True)
def test_accepting_assigns_the_conversation(org: Org, offered: RoutingOffer) -> None:
    response = h.client_for(org.alice).post(f"/api/v1/offers/{offered.pk}/accept/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["offer"]["id"] == offered.pk and body["offer"]["outcome"] == "accepted"
    assert body["offer"]["closed_at"] is not None
    assert body["conversation"]["id"] == offered.conversation_id and body["conversation"]["assignee_id"] == org.alice.pk
    assert body["conversation"]["assignee_name"] == "Alice"
    assert Conversation.objects.get(pk=offered.conversation_id).assignee == org.alice
    assert h.client_for(org.alice).get("/api/v1/offers/").json() == []

    again = h.client_for(org.alice).post(f"/api/v1/offers/{offered.pk}/accept/")
    assert again.status_code == 409
    assert again.json() == {"offer": ["this offer is no longer open (accepted)"]}


@pytest.mark.django_db(transaction=True)
def test_declining_answers_the_offer_without_a_conversation(org: Org, offered: RoutingOffer) -> None:
    response = h.client_for(org.alice).post(f"/api/v1/offers/{offered.pk}/decline/")
    assert response.status_code == 200, response.content
    assert response.json()["offer"]["outcome"] == "declined" and response.json()["conversation"] is None
    assert Conversation.objects.get(pk=offered.conversation_id).assignee is None
    assert RoutingEntry.objects.get(pk=offered.conversation_id).state == "waiting"  # nobody else to offer it
    for verb in ("decline", "accept"):
        again = h.client_for(org.alice).post(f"/api/v1/offers/{offered.pk}/{verb}/")
        assert again.status_code == 409 and again.json() == {"offer": ["this offer is no longer open (declined)"]}


@pytest.mark.django_db(transaction=True)
def test_someone_elses_offer_is_404(org: Org, offered: RoutingOffer) -> None:
    for user in (org.bob, org.sue):
        for verb in ("accept", "decline"):
            response = h.client_for(user).post(f"/api/v1/offers/{offered.pk}/{verb}/")
            assert response.status_code == 404 and response.json() == {"detail": "No such offer"}
    assert h.client_for(org.alice).post("/api/v1/offers/999999/accept/").status_code == 404
    assert RoutingOffer.objects.get(pk=offered.pk).outcome == "pending"


@pytest.mark.django_db(transaction=True)
def test_an_expired_offer_is_409_but_a_slow_click_within_the_grace_counts(org: Org, offered: RoutingOffer) -> None:
    RoutingOffer.objects.filter(pk=offered.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=3))
    response = h.client_for(org.alice).post(f"/api/v1/offers/{offered.pk}/accept/")
    assert response.status_code == 409 and response.json() == {"offer": ["this offer has expired"]}
    assert Conversation.objects.get(pk=offered.conversation_id).assignee is None

    RoutingOffer.objects.filter(pk=offered.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = h.client_for(org.alice).post(f"/api/v1/offers/{offered.pk}/accept/")
    assert response.status_code == 200 and response.json()["conversation"]["assignee_id"] == org.alice.pk


@pytest.mark.django_db
def test_a_superuser_without_an_agent_profile_has_no_offers() -> None:
    root = User.objects.create_superuser("root", password="root-pass")
    assert h.client_for(root).get("/api/v1/offers/").json() == []
    assert h.client_for(root).post("/api/v1/offers/1/accept/").status_code == 404


# --- schema ------------------------------------------------------------------------------------------------

def test_offer_conversation_fields_are_the_event_fields() -> None:
    assert list(OfferConversationSerializer().fields) == list(ConversationData.model_fields)


def test_routing_paths_are_in_the_schema(tmp_path: Path) -> None:
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(out))
    paths = yaml.safe_load(out.read_text())["paths"]
    assert set(paths["/api/v1/routing/queues/"]) == {"get", "post"}
    assert set(paths["/api/v1/routing/queues/{id}/"]) == {"get", "patch", "delete"}
    assert set(paths["/api/v1/routing/queues/{id}/waiting/"]) == {"get"}
    assert set(paths["/api/v1/offers/"]) == {"get"}
    assert set(paths["/api/v1/offers/{id}/accept/"]) == set(paths["/api/v1/offers/{id}/decline/"]) == {"post"}
    assert {"200", "404", "409"} <= set(paths["/api/v1/offers/{id}/accept/"]["post"]["responses"])


# --- admin -------------------------------------------------------------------------------------------------

@pytest.fixture
def admin_client(db: None) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="root-pass"))
    return client


def _admin_form(**overrides: Any) -> dict[str, Any]:
    form = {"name": "Admin queue", "order": "0", "active": "on", "team": "", "channels": "[]", "languages": "[]",
            "required_skills": "{}", "strategy": "longest_idle", "aging_seconds": "60", "overflow_to": "",
            "overflow_after": "", "hours": "null", "out_of_hours_message": "", "offer_timeouts": "{}",
            "auto_assign_channels": '["email", "sms"]', "sticky_seconds": "30", "relaxation": "[]",
            "requeue_on_offline": "on", "aht_seconds": "300", "service_level_seconds": "20",
            "service_level_target": "0.8"}
    return {**form, **overrides}


@pytest.mark.django_db
def test_admin_edits_queues_through_the_same_validation(admin_client: Client) -> None:
    assert admin_client.get("/admin/hub/routingqueue/").status_code == 200
    assert admin_client.get("/admin/hub/routingqueue/add/").status_code == 200
    bad = admin_client.post("/admin/hub/routingqueue/add/",
                            _admin_form(hours='{"timezone": "Nowhere/Land", "weekly": {}}'))
    assert bad.status_code == 200 and b"unknown time zone" in bad.content  # the form again, with the error
    assert not RoutingQueue.objects.exists()
    skills = admin_client.post("/admin/hub/routingqueue/add/", _admin_form(required_skills='{"spanish": 9}'))
    assert skills.status_code == 200 and not RoutingQueue.objects.exists()

    good = admin_client.post("/admin/hub/routingqueue/add/", _admin_form(channels="", relaxation="[[60, 1]]"))
    assert good.status_code == 302, good.content
    queue = RoutingQueue.objects.get(name="Admin queue")
    assert queue.channels == [] and queue.relaxation == [[60, 1]]
    assert AuditLog.objects.filter(action="routing.queue_created", data__queue=queue.pk).exists()
    changed = admin_client.post(f"/admin/hub/routingqueue/{queue.pk}/change/", _admin_form(strategy="round_robin"))
    assert changed.status_code == 302
    assert RoutingQueue.objects.get(pk=queue.pk).strategy == "round_robin"
    assert AuditLog.objects.filter(action="routing.queue_updated").exists()


@pytest.mark.django_db
def test_admin_shows_offers_read_only(admin_client: Client, org: Org) -> None:
    queue = catch_all()
    conv = h.conversation()
    waiting_in(queue, conv)
    available(org.alice)
    offer = do_offer(conv.pk, org.alice.pk, queue.pk, timezone.now() + dt.timedelta(seconds=30))
    assert offer is not None
    assert admin_client.get("/admin/hub/routingoffer/").status_code == 200
    assert admin_client.get(f"/admin/hub/routingoffer/{offer.pk}/change/").status_code == 200  # view only
    assert admin_client.get("/admin/hub/routingoffer/add/").status_code == 403
    assert admin_client.post(f"/admin/hub/routingoffer/{offer.pk}/delete/").status_code == 403


# --- moving a conversation to a queue ------------------------------------------------------------------------

@pytest.mark.django_db
def test_move_a_conversation_to_a_queue(org: Org) -> None:
    general = catch_all()
    side = RoutingQueue.objects.create(name="Escalations", order=5, channels=["voice"])
    conv = h.conversation(org.team_a)
    client = h.client_for(org.alice)
    url = f"/api/v1/conversations/{conv.pk}/queue/"
    assert client.post(url, {"queue": 999999}, format="json").json() == {"queue": ["no such queue"]}
    for body in ({}, {"queue": "x"}):
        assert client.post(url, body, format="json").status_code == 400
    response = client.post(url, {"queue": side.pk}, format="json")
    assert response.status_code == 200 and response.json()["id"] == conv.pk
    assert RoutingEntry.objects.get(pk=conv.pk).queue == side
    assert client.post(url, {"queue": general.pk}, format="json").status_code == 200
    assert RoutingEntry.objects.get(pk=conv.pk).queue == general
    # Someone who may not see the conversation gets a 404, as for every conversation action.
    assert h.client_for(org.bob).post(url, {"queue": side.pk}, format="json").status_code == 404
