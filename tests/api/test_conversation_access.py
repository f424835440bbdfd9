"""Per-conversation permissions: what an agent may not see answers 404 everywhere, as if it did not exist."""

from __future__ import annotations

import pytest

from hub.actions.conversations import do_assign
from hub.models import AuditLog, Conversation, Message, Note
from tests.api import helpers as h
from tests.api.conftest import Org

pytestmark = pytest.mark.django_db

READS = ["", "messages/", "notes/"]
WRITES = [
    ("assign/", {"assignee": None}),
    ("transfer/", {"team": None, "assignee": None}),
    ("resolve/", {}),
    ("reopen/", {}),
    ("snooze/", {"snoozed_until": "2999-01-01T00:00:00Z"}),
    ("tags/", {"tags": ["x"]}),
    ("priority/", {"priority": 3}),
    ("messages/", {"text": "hello"}),
    ("notes/", {"text": "hello"}),
]


@pytest.fixture
def theirs(org: Org) -> Conversation:
    return h.conversation(org.team_b)


@pytest.mark.parametrize("suffix", READS)
def test_other_teams_conversation_is_404_to_read(org: Org, theirs: Conversation, suffix: str) -> None:
    response = h.client_for(org.alice).get(f"/api/v1/conversations/{theirs.pk}/{suffix}")
    assert response.status_code == 404
    assert response.json() == {"detail": "No such conversation"}


@pytest.mark.parametrize(("suffix", "body"), WRITES)
def test_other_teams_conversation_is_404_to_act_on(org: Org, theirs: Conversation, suffix: str,
                                                    body: dict[str, object]) -> None:
    before = AuditLog.objects.count(), Message.objects.count(), Note.objects.count()
    response = h.client_for(org.alice).post(f"/api/v1/conversations/{theirs.pk}/{suffix}", body, format="json")
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "open" and theirs.assignee_id is None and theirs.priority == 1
    assert (AuditLog.objects.count(), Message.objects.count(), Note.objects.count()) == before


@pytest.mark.parametrize("suffix", READS)
def test_supervisor_reads_any_conversation(org: Org, theirs: Conversation, suffix: str) -> None:
    assert h.client_for(org.sue).get(f"/api/v1/conversations/{theirs.pk}/{suffix}").status_code == 200


def test_assignment_makes_another_teams_conversation_visible(org: Org, theirs: Conversation) -> None:
    client = h.client_for(org.alice)
    assert client.get(f"/api/v1/conversations/{theirs.pk}/").status_code == 404
    do_assign(None, theirs, org.alice)
    assert client.get(f"/api/v1/conversations/{theirs.pk}/").status_code == 200


def test_shared_inbox_is_visible_to_every_agent(org: Org) -> None:
    shared = h.conversation(None)
    for user in (org.alice, org.bob):
        assert h.client_for(user).get(f"/api/v1/conversations/{shared.pk}/").status_code == 200


def test_missing_and_non_numeric_ids_are_404(org: Org) -> None:
    client = h.client_for(org.sue)
    for path in ["/api/v1/conversations/999999/", "/api/v1/conversations/abc/", "/api/v1/conversations/1.5/",
                 f"/api/v1/conversations/{'9' * 40}/", f"/api/v1/conversations/{'9' * 40}/messages/",
                 "/api/v1/customers/x/", f"/api/v1/agents/{'9' * 40}/", f"/api/v1/attachments/{'9' * 40}/",
                 "/api/v1/nothing-here/"]:
        response = client.get(path)
        assert response.status_code == 404, path
        assert "detail" in response.json()


def test_transfer_away_hides_it_from_the_agent(org: Org) -> None:
    conv = h.conversation(org.team_a)
    client = h.client_for(org.alice)
    response = client.post(f"/api/v1/conversations/{conv.pk}/transfer/", {"team": org.team_b.pk}, format="json")
    assert response.status_code == 200 and response.json()["team_id"] == org.team_b.pk
    assert client.get(f"/api/v1/conversations/{conv.pk}/").status_code == 404
    assert conv.pk not in h.ids(client.get("/api/v1/conversations/"))
