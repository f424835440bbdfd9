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
