from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from hub.actions.ingestion import do_ingest_message
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    user = User.objects.create_superuser("root", password="root-pass")
    client = Client()
    client.force_login(user)
    return client


def test_channel_accounts_are_configurable(admin_client: Client) -> None:
    f.account("sms")
    assert admin_client.get("/admin/hub/channelaccount/").status_code == 200
    assert admin_client.get("/admin/hub/channelaccount/add/").status_code == 200


def test_conversation_data_is_read_only(admin_client: Client) -> None:
    conv = do_ingest_message(f.account("sms"), f.inbound("<script>alert(1)</script>")).message.conversation
    page = admin_client.get("/admin/hub/conversation/")
    assert page.status_code == 200 and b"<script>alert(1)</script>" not in page.content
    assert admin_client.get("/admin/hub/conversation/add/").status_code == 403
    assert admin_client.get(f"/admin/hub/conversation/{conv.pk}/change/").status_code == 200  # view only
    assert admin_client.post(f"/admin/hub/conversation/{conv.pk}/delete/").status_code == 403


def _agent_form(agent: object, **changes: object) -> dict[str, object]:
    from hub.models import AgentProfile

    assert isinstance(agent, AgentProfile)
    form: dict[str, object] = {
        "user": agent.user_id, "display_name": agent.display_name, "role": agent.role, "language": agent.language,
        "capacity": "{}", "teams": [t.pk for t in agent.teams.all()],
        "skills-TOTAL_FORMS": "1", "skills-INITIAL_FORMS": "0", "skills-MIN_NUM_FORMS": "0",
        "skills-MAX_NUM_FORMS": "1000", "skills-0-skill": "", "skills-0-level": "3",
    }
    form.update(changes)
    return form


def test_agent_routing_settings_are_saved_through_the_action(admin_client: Client) -> None:
    from hub.models import AgentProfile, AgentSkill, AuditLog

    sales = f.team("Sales")
    agent = f.agent("alice").agent  # type: ignore[attr-defined]
    url = f"/admin/hub/agentprofile/{agent.pk}/change/"
    assert admin_client.get(url).status_code == 200
    bad = admin_client.post(url, _agent_form(agent, capacity='{"voice": 3}'))
    assert bad.status_code == 200 and b"0 or 1" in bad.content  # the form again, with the reason
    bad = admin_client.post(url, _agent_form(agent, capacity='{"webchat": "lots"}'))
    assert bad.status_code == 200 and b"whole number" in bad.content
    assert AgentProfile.objects.get(pk=agent.pk).capacity in ({}, None)

    good = admin_client.post(url, _agent_form(agent, capacity='{"webchat": 1}', teams=[sales.pk],
                                              **{"skills-0-skill": "billing", "skills-0-level": "4"}))
    assert good.status_code == 302, good.content
    saved = AgentProfile.objects.get(pk=agent.pk)
    assert saved.capacity == {"webchat": 1} and list(saved.teams.all()) == [sales]
    assert list(AgentSkill.objects.filter(agent=saved).values_list("skill", "level")) == [("billing", 4)]
    log = AuditLog.objects.get(action="agent.routing")
    assert log.data["changed"] == ["skills", "capacity", "teams"] and log.actor is not None


def test_an_agent_profile_added_in_the_admin_gets_its_skills_and_teams(admin_client: Client) -> None:
    from hub.models import AgentProfile, AgentSkill

    sales = f.team("Sales")
    user = User.objects.create_user("newbie", password="pw-newbie")
    form = {"user": user.pk, "display_name": "Newbie", "role": "agent", "language": "zh-hans",
            "capacity": '{"email": 2}', "teams": [sales.pk],
            "skills-TOTAL_FORMS": "1", "skills-INITIAL_FORMS": "0", "skills-MIN_NUM_FORMS": "0",
            "skills-MAX_NUM_FORMS": "1000", "skills-0-skill": "language:zh", "skills-0-level": "5"}
    assert admin_client.get("/admin/hub/agentprofile/add/").status_code == 200
    response = admin_client.post("/admin/hub/agentprofile/add/", form)
    assert response.status_code == 302, response.content
    agent = AgentProfile.objects.get(user=user)
    assert agent.capacity == {"email": 2} and list(agent.teams.all()) == [sales]
    assert list(AgentSkill.objects.filter(agent=agent).values_list("skill", "level")) == [("language:zh", 5)]
