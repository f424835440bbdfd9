"""GET /api/v1/metrics/wallboard/: who may read it, its figures on rows with fixed timestamps, and a number
of queries that does not grow with the volume."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from hub.actions.conversations import do_assign, do_set_status
from hub.actions.routing import do_enter_queue
from hub.actions.routing_config import do_create_queue
from hub.models import Conversation, RoutingEntry, RoutingQueue, Team
from tests.api import helpers as h
from tests.api.conftest import Org

URL = "/api/v1/metrics/wallboard/"
DAY = dt.datetime(2026, 3, 10, tzinfo=dt.UTC)


def at(hour: int, seconds: float = 0) -> dt.datetime:
    return DAY + dt.timedelta(hours=hour, seconds=seconds)


def wallboard(user: Any, **params: str) -> dict[str, Any]:
    response = h.client_for(user).get(URL, params)
    assert response.status_code == 200, response.content
    return dict(response.json())


def queue_row(data: dict[str, Any], queue: RoutingQueue) -> dict[str, Any]:
    return next(q for q in data["queues"] if q["id"] == queue.pk)


@pytest.mark.django_db
def test_only_supervisors_and_admins(org: Org) -> None:
    assert h.client_for(org.alice).get(URL).status_code == 403
    assert APIClient().get(URL).status_code == 401
    assert h.client_for(org.sue).get(URL).status_code == 200
    root = User.objects.create_superuser("root", password="pw-root")  # no agent profile: still allowed
    assert h.client_for(root).get(URL).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(("params", "field"), [
    ({"tz": "Mars/Olympus"}, "tz"), ({"tz": "../../etc/passwd"}, "tz"), ({"date": "2026-13-01"}, "date"),
    ({"date": "20260101"}, "date"), ({"date": "yesterday"}, "date"),
])
def test_bad_parameters_are_400_with_a_reason(org: Org, params: dict[str, str], field: str) -> None:
    response = h.client_for(org.sue).get(URL, params)
    assert response.status_code == 400
    assert field in response.json()


def seed(team: Team, agent: User, queue: RoutingQueue) -> list[Conversation]:
    """Four conversations of `team`, through ingestion and the actions, then given fixed KPI times:
       c1 09:00 answered after 10 s, resolved at 09:05    (within 30 s; handled 290 s)
       c2 09:00 answered after 60 s, still open           (late)
       c3 10:00 resolved unanswered after 20 s             (abandoned within the threshold)
       c4 10:00 still waiting                              (late: the day is over)"""
    convs = [h.conversation(team, text=f"Hello {i}") for i in range(4)]
    for conv in convs:  # what routing does after the commit (on_commit does not run in these tests)
        assert do_enter_queue(conv.pk, queue, out_of_hours=False) is not None
    assert set(Conversation.objects.filter(pk__in=[c.pk for c in convs]).values_list("queue", flat=True)) == {queue.pk}
    c1, c2, c3, c4 = convs
    do_assign(agent, c1, agent)
    do_set_status(agent, c1, Conversation.Status.RESOLVED)
    do_assign(agent, c2, agent)
    do_set_status(agent, c3, Conversation.Status.RESOLVED)
    times = {
        c1: {"first_queued_at": at(9), "first_response_at": at(9, 10), "assigned_at": at(9, 5),
             "resolved_at": at(9, 300)},
        c2: {"first_queued_at": at(9), "first_response_at": at(9, 60), "assigned_at": at(9, 30)},
        c3: {"first_queued_at": at(10), "resolved_at": at(10, 20)},
        c4: {"first_queued_at": at(10)},
    }
    for conv, values in times.items():
        Conversation.objects.filter(pk=conv.pk).update(**values)
    RoutingEntry.objects.filter(pk=c4.pk).update(arrived_at=at(10))
    return convs


@pytest.mark.django_db
def test_figures_of_a_queue_from_seeded_rows(org: Org) -> None:
    queue = do_create_queue(org.sue, {"name": "Billing", "team": org.team_a.pk, "service_level_seconds": 30})
    _c1, c2, _c3, c4 = seed(org.team_a, org.alice, queue)
    data = wallboard(org.sue, date="2026-03-10", tz="UTC")
    assert data["date"] == "2026-03-10" and data["timezone"] == "UTC"
    row = queue_row(data, queue)
    assert row["service_level_seconds"] == 30 and row["service_level_target"] == 0.8
    figures = row["figures"]
    assert figures["offered"] == 4
    assert figures["answered"] == 2  # c1, c2
    assert figures["abandoned"] == 1  # c3
    # within 30 s: c1; known: answered c1 c2 + still waiting past 30 s c4 (c3 left within 30 s): 1 / 3
    assert figures["service_level"] == pytest.approx(1 / 3)
    assert figures["asa"] == pytest.approx(35.0)  # (10 + 60) / 2
    assert figures["abandonment"] == pytest.approx(0.25)  # 1 / 4
    assert figures["resolved"] == 2  # c1, c3
    assert figures["aht"] == pytest.approx(290.0)  # c1: 09:00:10 -> 09:05:00
    assert figures["fcr"] == 1.0  # c1 never reopened, its customer did not come back
    assert figures["waiting"] == 1  # c4; c2 is assigned, c1 and c3 resolved
    assert figures["longest_wait"] > 24 * 3600  # waiting since 2026-03-10 10:00
    # alice (team A) is offline; sue (no team) does not serve team A's queue; bob is in team B
    assert (figures["agents_offline"], figures["agents_available"], figures["occupancy"]) == (1, 0, None)
    hours = {int(hr["start"][11:13]): hr for hr in row["hourly"]}
    assert len(row["hourly"]) == 24
    assert (hours[9]["offered"], hours[9]["answered"], hours[9]["service_level"]) == (2, 2, 0.5)
    assert (hours[10]["offered"], hours[10]["answered"], hours[10]["service_level"]) == (2, 0, 0.0)
    # the line and the agents
    assert [w["conversation_id"] for w in data["waiting"]] == [c4.pk]
    assert data["waiting"][0]["queue_id"] == queue.pk
    alice = next(a for a in data["agents"] if a["id"] == org.alice.pk)
    assert alice["load"] == {"sms": 1} and alice["capacity"]["sms"] == 8
    assert alice["occupancy"] == pytest.approx(1 / 8)
    assert [c["id"] for c in alice["conversations"]] == [c2.pk]
    assert alice["presence_reason"] == ""
    # the overall row counts the same conversations (no others today)
    assert data["overall"]["figures"]["offered"] == 4
    # another day has none of them
    other = queue_row(wallboard(org.sue, date="2026-03-11", tz="UTC"), queue)["figures"]
    assert (other["offered"], other["service_level"], other["asa"]) == (0, None, None)


@pytest.mark.django_db
def test_the_day_follows_the_time_zone(org: Org) -> None:
    queue = do_create_queue(org.sue, {"name": "Billing", "team": org.team_a.pk})
    seed(org.team_a, org.alice, queue)
    # 09:00 and 10:00 UTC are 17:00 and 18:00 in Shanghai: the same day there, still 4 arrivals
    shanghai = queue_row(wallboard(org.sue, date="2026-03-10", tz="Asia/Shanghai"), queue)
    assert shanghai["figures"]["offered"] == 4
    assert [hr["offered"] for hr in shanghai["hourly"]][17:19] == [2, 2]
    # in Los Angeles they happened on the 10th at 01:00-02:00 (PDT from 8 March)
    assert queue_row(wallboard(org.sue, date="2026-03-09", tz="America/Los_Angeles"), queue)["figures"]["offered"] == 0


@pytest.mark.django_db
def test_queries_do_not_grow_with_the_volume(org: Org) -> None:
    queue = do_create_queue(org.sue, {"name": "Billing", "team": org.team_a.pk})
    seed(org.team_a, org.alice, queue)
    client = h.client_for(org.sue)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(URL, {"date": "2026-03-10"}).status_code == 200
        return len(queries)

    before = count()
    seed(org.team_a, org.bob, queue)  # four more, and another agent with work
    h.conversation(org.team_b)
    assert count() == before
    assert before <= 12


@pytest.mark.django_db
def test_agents_show_why_the_hub_changed_their_presence(org: Org) -> None:
    from hub.actions.agents import do_set_presence

    do_set_presence(None, org.alice.agent, "away", reason="missed_offers")  # type: ignore[attr-defined]
    data = wallboard(org.sue)
    alice = next(a for a in data["agents"] if a["id"] == org.alice.pk)
    assert (alice["presence"], alice["presence_reason"]) == ("away", "missed_offers")
