"""Conversation actions through the API: each changes state through its hub action, which audits it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from hub.models import AuditLog, Conversation
from tests.api import helpers as h
from tests.api.conftest import Org

pytestmark = pytest.mark.django_db


@pytest.fixture
def conv(org: Org) -> Conversation:
    return h.conversation(org.team_a)


def act(user: User, conv: Conversation, action: str, body: object = None) -> dict[str, object]:
    response = h.client_for(user).post(f"/api/v1/conversations/{conv.pk}/{action}/", body or {}, format="json")
    assert response.status_code == 200, response.content
    data: dict[str, object] = response.json()
    assert data["id"] == conv.pk
    return data


def audited(conv: Conversation, action: str) -> AuditLog:
    return AuditLog.objects.filter(conversation=conv, action=action).latest("id")


def test_assign_and_unassign(org: Org, conv: Conversation) -> None:
    data = act(org.alice, conv, "assign", {"assignee": org.alice.pk})
    assert data["assignee_id"] == org.alice.pk and data["assignee_name"] == "Alice"
    assert audited(conv, "conversation.assigned").actor == org.alice
    data = act(org.alice, conv, "assign", {"assignee": None})
    assert data["assignee_id"] is None
    assert audited(conv, "conversation.unassigned").data["previous"] == org.alice.pk


def test_transfer_to_an_agent_of_another_team(org: Org, conv: Conversation) -> None:
    data = act(org.sue, conv, "transfer", {"team": org.team_b.pk, "assignee": org.bob.pk})
    assert (data["team_id"], data["assignee_id"], data["team_name"]) == (org.team_b.pk, org.bob.pk, "Team B")
    log = audited(conv, "conversation.assigned")
    assert log.data["reason"] == "transfer" and log.actor == org.sue


def test_transfer_to_a_team_queue(org: Org, conv: Conversation) -> None:
    data = act(org.alice, conv, "transfer", {"team": org.team_b.pk})
    assert data["team_id"] == org.team_b.pk and data["assignee_id"] is None
    assert AuditLog.objects.filter(conversation=conv, data__reason="transfer").exists()


def test_transfer_to_an_agent_outside_the_team_is_refused(org: Org, conv: Conversation) -> None:
    response = h.client_for(org.sue).post(f"/api/v1/conversations/{conv.pk}/transfer/",
                                          {"team": org.team_a.pk, "assignee": org.bob.pk}, format="json")
    assert response.status_code == 400
    assert response.json() == {"assignee": ["that agent is not a member of that team"]}


def test_resolve_and_reopen(org: Org, conv: Conversation) -> None:
    data = act(org.alice, conv, "resolve")
    assert data["status"] == "resolved" and data["resolved_at"]
    assert audited(conv, "conversation.status").data["status"] == "resolved"
    data = act(org.alice, conv, "reopen")
    assert data["status"] == "open" and data["reopen_count"] == 1
    assert audited(conv, "conversation.status").data == {"status": "open", "previous": "resolved",
                                                         "snoozed_until": None}


def test_snooze(org: Org, conv: Conversation) -> None:
    until = timezone.now() + timedelta(hours=2)
    data = act(org.alice, conv, "snooze", {"snoozed_until": until.isoformat()})
    assert data["status"] == "snoozed"
    conv.refresh_from_db()
    assert conv.snoozed_until == until
    assert audited(conv, "conversation.status").data["snoozed_until"] == until.isoformat()


def test_tags_replace_the_list(org: Org, conv: Conversation) -> None:
    assert act(org.alice, conv, "tags", {"tags": ["refund", "vip ", "refund"]})["tags"] == ["refund", "vip"]
    assert act(org.alice, conv, "tags", {"tags": ["late"]})["tags"] == ["late"]
    log = audited(conv, "conversation.tags")
    assert log.data == {"tags": ["late"], "previous": ["refund", "vip"]}
    assert act(org.alice, conv, "tags", {"tags": []})["tags"] == []


def test_priority_and_escalation(org: Org, conv: Conversation) -> None:
    data = act(org.alice, conv, "priority", {"priority": 3})
    assert data["priority"] == 3 and data["escalated"] is False
    data = act(org.alice, conv, "priority", {"escalated": True})
    assert data["priority"] == 3 and data["escalated"] is True
    assert audited(conv, "conversation.priority").data == {"priority": 3, "escalated": True}


def test_a_no_op_writes_no_audit_row(org: Org, conv: Conversation) -> None:
    act(org.alice, conv, "priority", {"priority": 2})
    count = AuditLog.objects.count()
    act(org.alice, conv, "priority", {"priority": 2})
    assert AuditLog.objects.count() == count


@pytest.mark.parametrize(("action", "body", "expected"), [
    ("assign", {}, {"assignee": ["This field is required."]}),
    ("assign", {"assignee": "x"}, {"assignee": ["A valid integer is required."]}),
    ("assign", {"assignee": 999999}, {"assignee": ["no such active agent"]}),
    ("transfer", {}, {"detail": ["transfer needs a team or an agent"]}),
    ("transfer", {"team": 999999}, {"team": ['Invalid pk "999999" - object does not exist.']}),
    ("transfer", {"assignee": 999999}, {"assignee": ["no such active agent"]}),
    ("snooze", {}, {"snoozed_until": ["This field is required."]}),
    ("snooze", {"snoozed_until": "tomorrow"}, None),
    ("snooze", {"snoozed_until": "2001-01-01T00:00:00Z"}, {"snoozed_until": ["snoozing needs a time in the future"]}),
    ("tags", {"tags": "refund"}, None),
    ("tags", {"tags": ["x" * 65]}, None),
    ("tags", {"tags": [str(i) for i in range(51)]}, None),
    ("priority", {}, {"detail": ["give priority, escalated or both"]}),
    ("priority", {"priority": 7}, {"priority": ['"7" is not a valid choice.']}),
    ("priority", {"escalated": "maybe"}, None),
])
def test_bad_input_is_400_with_field_errors(org: Org, conv: Conversation, action: str, body: dict[str, object],
                                            expected: dict[str, list[str]] | None) -> None:
    before = AuditLog.objects.count()
    response = h.client_for(org.alice).post(f"/api/v1/conversations/{conv.pk}/{action}/", body, format="json")
    assert response.status_code == 400, response.content
    if expected is None:
        assert set(response.json()) == set(body)  # the error names the field that was wrong
    else:
        assert response.json() == expected
    assert AuditLog.objects.count() == before


def test_assigning_a_user_who_is_not_an_agent_is_400(org: Org, conv: Conversation) -> None:
    plain = User.objects.create_user("plain")
    response = h.client_for(org.alice).post(f"/api/v1/conversations/{conv.pk}/assign/", {"assignee": plain.pk},
                                            format="json")
    assert response.status_code == 400 and response.json() == {"assignee": ["no such active agent"]}


def _after_last_write(queries: list[dict[str, str]]) -> list[str]:
    statements = [q["sql"] for q in queries]
    last_write = max(i for i, sql in enumerate(statements) if sql.split()[0].upper() in ("INSERT", "UPDATE", "RELEASE"))
    return statements[last_write + 1:]


def test_the_answer_reads_only_what_the_action_did_not(org: Org, conv: Conversation) -> None:
    """The action read the conversation under its lock with the customer and the tags, and the assignee is
    the agent acting: the answer reads only the team. (It used to read the team, the assignee, their
    profile and the tags one lazy query each; then the whole conversation again, joined.)"""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from hub.models import Tag

    act(org.alice, conv, "assign", {"assignee": org.alice.pk})
    conv.tags.add(*(Tag.objects.create(name=f"t{i}") for i in range(3)))
    with CaptureQueriesContext(connection) as queries:
        data = act(org.alice, conv, "resolve")
    assert data["assignee_name"] == "Alice" and data["tags"] == ["t0", "t1", "t2"] and data["status"] == "resolved"
    assert data["team_name"] == conv.team.name and data["customer_name"] == conv.customer.display_name
    after = _after_last_write(queries.captured_queries)
    assert len(after) == 1 and 'FROM "hub_team"' in after[0], after


def test_the_answer_names_another_assignee_and_fresh_tags(org: Org, conv: Conversation) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    act(org.alice, conv, "assign", {"assignee": org.bob.pk})
    with CaptureQueriesContext(connection) as queries:
        data = act(org.alice, conv, "tags", {"tags": ["vip", "billing"]})
    assert data["assignee_name"] == org.bob.agent.display_name and data["tags"] == ["billing", "vip"]
    # The team, bob and his profile, and the tags again: setting them dropped the ones read with the lock.
    assert len(_after_last_write(queries.captured_queries)) <= 4
