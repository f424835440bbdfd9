"""Who may call the API at all: token and session users with an agent profile, and superusers."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient
from rest_framework.throttling import UserRateThrottle

from hub.actions import ActionError
from hub.api.tokens import token_for
from tests.api import helpers as h
from tests.api.conftest import Org

pytestmark = pytest.mark.django_db

EVERY_GET = [f"/api/v1/{path}" for path in [
    "me/", "conversations/", "conversations/1/", "conversations/1/messages/", "conversations/1/notes/", "customers/",
    "customers/1/", "agents/", "agents/1/", "teams/", "teams/1/", "attachments/1/"]]
EVERY_POST = [f"/api/v1/{path}" for path in [
    "conversations/1/assign/", "conversations/1/transfer/", "conversations/1/resolve/", "conversations/1/reopen/",
    "conversations/1/snooze/", "conversations/1/tags/", "conversations/1/priority/", "conversations/1/messages/",
    "conversations/1/notes/", "customers/1/merge/", "customers/merges/1/undo/", "agents/1/presence/"]]


def test_token_auth(org: Org) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for('alice')}")
    response = client.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["user"]["username"] == "alice"


def test_token_is_stable_and_unknown_user_is_an_error(org: Org) -> None:
    assert token_for("alice") == token_for("alice")
    with pytest.raises(ActionError):
        token_for("nobody")


def test_session_auth(org: Org) -> None:
    client = APIClient()
    assert client.login(username="alice", password="pw-alice")
    assert client.get("/api/v1/conversations/").status_code == 200


@pytest.mark.parametrize("path", EVERY_GET)
def test_no_credentials_is_401(path: str) -> None:
    response = APIClient().get(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("path", EVERY_POST)
def test_no_credentials_is_401_on_actions(path: str) -> None:
    assert APIClient().post(path, {}, format="json").status_code == 401


def test_bad_token_is_401(org: Org) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get("/api/v1/me/").status_code == 401


@pytest.mark.parametrize("path", EVERY_GET)
def test_user_without_agent_profile_is_403_everywhere(path: str) -> None:
    plain = User.objects.create_user("plain", password="pw")
    response = h.client_for(plain).get(path)
    assert response.status_code == 403
    assert response.json() == {"detail": "this account has no agent profile"}


@pytest.mark.parametrize("path", EVERY_POST)
def test_user_without_agent_profile_is_403_on_actions(path: str) -> None:
    plain = User.objects.create_user("plain", password="pw")
    assert h.client_for(plain).post(path, {}, format="json").status_code == 403


def test_inactive_agent_is_refused(org: Org) -> None:
    org.alice.is_active = False
    org.alice.save()
    assert h.client_for(org.alice).get("/api/v1/me/").status_code == 403


def test_superuser_without_profile_sees_everything(org: Org) -> None:
    conv = h.conversation(org.team_b)
    root = User.objects.create_superuser("root", password="pw")
    client = h.client_for(root)
    me = client.get("/api/v1/me/").json()
    assert me["agent"] is None and me["sees_everything"] is True
    assert h.ids(client.get("/api/v1/conversations/")) == [conv.pk]


def test_me_returns_profile_and_last_seq(org: Org) -> None:
    h.conversation(org.team_a)  # conversation.created + message.created reach alice
    me = h.client_for(org.alice).get("/api/v1/me/").json()
    assert me["user"]["id"] == org.alice.pk
    assert me["agent"]["display_name"] == "Alice" and me["agent"]["teams"] == [{"id": org.team_a.pk,
                                                                                   "name": "Team A"}]
    assert me["last_seq"] == 2 and me["sees_everything"] is False


def test_requests_are_throttled_per_user(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/min"})
    alice, bob = h.client_for(org.alice), h.client_for(org.bob)
    assert [alice.get("/api/v1/me/").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert bob.get("/api/v1/me/").status_code == 200


def _profile_lookups(queries: list[dict[str, str]]) -> list[str]:
    """Queries that read an agent profile by its user on their own (not joined to the user's read)."""
    return [q["sql"] for q in queries if q["sql"].startswith("SELECT")
            and 'FROM "hub_agentprofile" WHERE "hub_agentprofile"."user_id" =' in q["sql"]]


def test_a_token_request_reads_the_user_with_their_profile(org: Org) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for('alice')}")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/conversations/").status_code == 200
    assert _profile_lookups(queries.captured_queries) == []


def test_a_session_request_reads_the_user_with_their_profile(org: Org) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = APIClient()
    assert client.login(username="alice", password="pw-alice")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/conversations/").status_code == 200
    assert _profile_lookups(queries.captured_queries) == []


def test_a_session_signed_in_with_the_previous_backend_still_works(org: Org) -> None:
    """Sessions name the backend that signed them in; those from before the hub's own stay valid."""
    client = APIClient()
    client.force_login(org.alice, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/api/v1/me/").json()["user"]["username"] == "alice"


def test_an_inactive_users_token_is_401_with_the_reason(org: Org) -> None:
    key = token_for("alice")
    org.alice.is_active = False
    org.alice.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.get("/api/v1/me/")
    assert response.status_code == 401 and response.json() == {"detail": "User inactive or deleted."}
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get("/api/v1/me/").json() == {"detail": "Invalid token."}
