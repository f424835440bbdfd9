"""Agents, presence and teams through the API."""

from __future__ import annotations

import pytest

from hub.models import AgentProfile, AgentSkill, AuditLog
from tests.api import helpers as h
from tests.api.conftest import Org

pytestmark = pytest.mark.django_db


def test_agent_list(org: Org) -> None:
    AgentSkill.objects.create(agent=org.alice.agent, skill="spanish", level=4)
    rows = h.client_for(org.bob).get("/api/v1/agents/").json()
    by_name = {r["username"]: r for r in rows}
    assert set(by_name) == {"alice", "bob", "sue"}
    alice = by_name["alice"]
    assert alice["id"] == org.alice.pk and alice["display_name"] == "Alice" and alice["role"] == "agent"
    assert alice["teams"] == [{"id": org.team_a.pk, "name": "Team A"}]
    assert alice["skills"] == [{"skill": "spanish", "level": 4}] and alice["presence"] == "offline"
    assert by_name["sue"]["role"] == "supervisor"


def test_agent_detail(org: Org) -> None:
    client = h.client_for(org.alice)
    assert client.get(f"/api/v1/agents/{org.bob.pk}/").json()["username"] == "bob"
    assert client.get("/api/v1/agents/999999/").status_code == 404


def test_agent_sets_own_presence(org: Org) -> None:
    response = h.client_for(org.alice).post(f"/api/v1/agents/{org.alice.pk}/presence/", {"presence": "away"},
                                            format="json")
    assert response.status_code == 200 and response.json()["presence"] == "away"
    assert AgentProfile.objects.get(user=org.alice).presence == "away"
    assert AuditLog.objects.filter(action="agent.presence", actor=org.alice).exists()


def test_agent_may_not_set_another_agents_presence(org: Org) -> None:
    response = h.client_for(org.alice).post(f"/api/v1/agents/{org.bob.pk}/presence/", {"presence": "away"},
                                            format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "agents may only change their own presence"}
    assert AgentProfile.objects.get(user=org.bob).presence == "offline"


def test_supervisor_sets_anyones_presence(org: Org) -> None:
    response = h.client_for(org.sue).post(f"/api/v1/agents/{org.bob.pk}/presence/", {"presence": "away"},
                                          format="json")
    assert response.status_code == 200
    assert AgentProfile.objects.get(user=org.bob).presence == "away"


@pytest.mark.parametrize("body", [{}, {"presence": "asleep"}, {"presence": None}, {"presence": ["away"]}])
def test_bad_presence_is_400(org: Org, body: dict[str, object]) -> None:
    response = h.client_for(org.alice).post(f"/api/v1/agents/{org.alice.pk}/presence/", body, format="json")
    assert response.status_code == 400 and "presence" in response.json()


def test_teams(org: Org) -> None:
    client = h.client_for(org.alice)
    rows = client.get("/api/v1/teams/").json()
    assert [r["name"] for r in rows] == ["Team A", "Team B"]
    team = client.get(f"/api/v1/teams/{org.team_b.pk}/").json()
    assert team["members"] == [{"id": org.bob.pk, "display_name": "Bob", "role": "agent", "presence": "offline"}]
    assert client.get("/api/v1/teams/999999/").status_code == 404


def test_capacity_shows_the_agents_setting_or_the_channels_default(org: Org) -> None:
    AgentProfile.objects.filter(user=org.alice).update(capacity={"webchat": 5})
    alice = h.client_for(org.bob).get(f"/api/v1/agents/{org.alice.pk}/").json()
    assert alice["capacity"] == {"voice": 1, "webchat": 5, "social": 5, "slack": 5, "email": 8, "sms": 8}


def test_supervisor_changes_an_agents_skills_capacity_and_teams(org: Org) -> None:
    client = h.client_for(org.sue)
    AgentProfile.objects.filter(user=org.alice).update(capacity={"email": 4, "sms": 2})
    response = client.patch(f"/api/v1/agents/{org.alice.pk}/", {
        "skills": {"billing": 4, " language:zh ": 5}, "capacity": {"webchat": 1, "voice": 0, "email": None},
        "teams": [org.team_a.pk, org.team_b.pk]}, format="json")
    assert response.status_code == 200, response.json()
    data = response.json()
    assert sorted((s["skill"], s["level"]) for s in data["skills"]) == [("billing", 4), ("language:zh", 5)]
    assert data["capacity"]["webchat"] == 1 and data["capacity"]["voice"] == 0
    assert data["capacity"]["email"] == 8 and data["capacity"]["sms"] == 2  # back to the default; untouched
    assert {t["id"] for t in data["teams"]} == {org.team_a.pk, org.team_b.pk}
    assert AgentProfile.objects.get(user=org.alice).capacity == {"sms": 2, "webchat": 1, "voice": 0}
    log = AuditLog.objects.get(action="agent.routing")
    assert log.actor == org.sue and log.data["changed"] == ["skills", "capacity", "teams"]
    assert log.data["previous"]["capacity"] == {"email": 4, "sms": 2}

    # A partial change leaves the rest alone; the same values again change nothing.
    assert client.patch(f"/api/v1/agents/{org.alice.pk}/", {"capacity": {"sms": 3}}, format="json").status_code == 200
    assert AgentProfile.objects.get(user=org.alice).capacity == {"sms": 3, "webchat": 1, "voice": 0}
    assert AgentSkill.objects.filter(agent=org.alice.agent).count() == 2
    client.patch(f"/api/v1/agents/{org.alice.pk}/", {"capacity": {"sms": 3}}, format="json")
    assert AuditLog.objects.filter(action="agent.routing").count() == 2


def test_an_agent_may_not_change_routing_settings_even_their_own(org: Org) -> None:
    response = h.client_for(org.alice).patch(f"/api/v1/agents/{org.alice.pk}/", {"capacity": {"webchat": 9}},
                                             format="json")
    assert response.status_code == 403
    assert AgentProfile.objects.get(user=org.alice).capacity in ({}, None)


@pytest.mark.parametrize(("body", "field", "reason"), [
    ({"skills": {"billing": 6}}, "skills", "from 1 to 5"),
    ({"skills": {"billing": 0}}, "skills", "from 1 to 5"),
    ({"skills": {"": 3}}, "skills", "1 to 64 characters"),
    ({"skills": ["billing"]}, "skills", ""),
    ({"capacity": {"fax": 2}}, "capacity", "unknown channel 'fax'"),
    ({"capacity": {"webchat": -1}}, "capacity", "from 0 to 100"),
    ({"capacity": {"webchat": 101}}, "capacity", "from 0 to 100"),
    ({"capacity": {"webchat": "many"}}, "capacity", ""),
    ({"capacity": {"voice": 2}}, "capacity", "0 or 1"),
    ({"teams": [999999]}, "teams", "no team with id 999999"),
    ({"teams": "Team A"}, "teams", ""),
])
def test_bad_routing_settings_are_400_with_the_reason_and_change_nothing(org: Org, body: dict[str, object],
                                                                         field: str, reason: str) -> None:
    AgentSkill.objects.create(agent=org.alice.agent, skill="spanish", level=4)
    response = h.client_for(org.sue).patch(f"/api/v1/agents/{org.alice.pk}/", body, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert field in errors and reason in str(errors[field])
    assert list(AgentSkill.objects.filter(agent=org.alice.agent).values_list("skill", "level")) == [("spanish", 4)]
    assert list(org.alice.agent.teams.values_list("id", flat=True)) == [org.team_a.pk]
    assert not AuditLog.objects.filter(action="agent.routing").exists()


def test_routing_settings_of_an_unknown_agent_is_404(org: Org) -> None:
    assert h.client_for(org.sue).patch("/api/v1/agents/999999/", {"capacity": {"sms": 1}},
                                       format="json").status_code == 404
