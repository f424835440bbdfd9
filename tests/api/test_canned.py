"""Canned responses: who sees which (global + own teams'), and supervisors' create / edit / delete."""

from __future__ import annotations

import pytest

from hub.models import AuditLog, CannedResponse
from tests.api import helpers as h
from tests.api.conftest import Org

pytestmark = pytest.mark.django_db


@pytest.fixture
def canned(org: Org) -> dict[str, CannedResponse]:
    return {
        "hello": CannedResponse.objects.create(shortcut="hello", title="Greeting", text="Hello {{customer.name}}"),
        "refund": CannedResponse.objects.create(shortcut="refund", title="Refund policy", text="...",
                                                team=org.team_a),
        "vip": CannedResponse.objects.create(shortcut="vip", title="VIP line", text="...", team=org.team_b),
    }


def shortcuts(response: object) -> list[str]:
    assert response.status_code == 200, response.content  # type: ignore[attr-defined]
    return [row["shortcut"] for row in response.json()]  # type: ignore[attr-defined]


def test_agents_see_global_and_their_teams_responses(org: Org, canned: dict[str, CannedResponse]) -> None:
    assert shortcuts(h.client_for(org.alice).get("/api/v1/canned-responses/")) == ["hello", "refund"]
    assert shortcuts(h.client_for(org.bob).get("/api/v1/canned-responses/")) == ["hello", "vip"]
    assert shortcuts(h.client_for(org.sue).get("/api/v1/canned-responses/")) == ["hello", "refund", "vip"]


def test_q_filters_by_shortcut_or_title(org: Org, canned: dict[str, CannedResponse]) -> None:
    client = h.client_for(org.alice)
    assert shortcuts(client.get("/api/v1/canned-responses/?q=ref")) == ["refund"]
    assert shortcuts(client.get("/api/v1/canned-responses/?q=GREET")) == ["hello"]
    assert shortcuts(client.get("/api/v1/canned-responses/?q=/he")) == ["hello"]
    assert shortcuts(client.get("/api/v1/canned-responses/?q=vip")) == []  # another team's


def test_another_teams_response_is_404(org: Org, canned: dict[str, CannedResponse]) -> None:
    assert h.client_for(org.alice).get(f"/api/v1/canned-responses/{canned['vip'].pk}/").status_code == 404
    assert h.client_for(org.bob).get(f"/api/v1/canned-responses/{canned['vip'].pk}/").status_code == 200


def test_supervisor_creates_edits_and_deletes(org: Org) -> None:
    client = h.client_for(org.sue)
    created = client.post("/api/v1/canned-responses/", {"shortcut": "/Thanks", "title": "Thanks",
                                                        "text": "Thank you, {{customer.name}}!",
                                                        "team": org.team_a.pk}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["shortcut"], body["team_id"], body["team_name"]) == ("thanks", org.team_a.pk, "Team A")
    changed = client.patch(f"/api/v1/canned-responses/{body['id']}/", {"title": "Thank you"}, format="json")
    assert changed.status_code == 200 and changed.json()["title"] == "Thank you"
    assert changed.json()["text"] == "Thank you, {{customer.name}}!"
    assert client.delete(f"/api/v1/canned-responses/{body['id']}/").status_code == 204
    assert not CannedResponse.objects.exists()
    assert list(AuditLog.objects.filter(action__startswith="canned.").values_list("action", flat=True)
                .order_by("id")) == ["canned.created", "canned.updated", "canned.deleted"]


def test_agents_may_not_write(org: Org, canned: dict[str, CannedResponse]) -> None:
    client = h.client_for(org.alice)
    assert client.post("/api/v1/canned-responses/", {"shortcut": "x", "title": "x", "text": "x"},
                       format="json").status_code == 403
    assert client.patch(f"/api/v1/canned-responses/{canned['hello'].pk}/", {"title": "x"},
                        format="json").status_code == 403
    assert client.delete(f"/api/v1/canned-responses/{canned['refund'].pk}/").status_code == 403
    assert CannedResponse.objects.count() == 3


@pytest.mark.parametrize(("body", "field"), [
    ({"title": "x", "text": "x"}, "shortcut"),
    ({"shortcut": "has space", "title": "x", "text": "x"}, "shortcut"),
    ({"shortcut": "ok", "title": "  ", "text": "x"}, "title"),
    ({"shortcut": "ok", "title": "x"}, "text"),
    ({"shortcut": "hello", "title": "x", "text": "x"}, "shortcut"),  # already exists for everyone
    ({"shortcut": "ok", "title": "x", "text": "x", "team": 999999}, "team"),
])
def test_bad_input_is_400_with_the_field(org: Org, canned: dict[str, CannedResponse], body: dict[str, object],
                                         field: str) -> None:
    response = h.client_for(org.sue).post("/api/v1/canned-responses/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()


def test_same_shortcut_may_exist_per_team(org: Org, canned: dict[str, CannedResponse]) -> None:
    response = h.client_for(org.sue).post("/api/v1/canned-responses/", {
        "shortcut": "refund", "title": "B's refunds", "text": "...", "team": org.team_b.pk}, format="json")
    assert response.status_code == 201, response.content
    clash = h.client_for(org.sue).patch(f"/api/v1/canned-responses/{response.json()['id']}/",
                                        {"team": org.team_a.pk}, format="json")
    assert clash.status_code == 400 and "shortcut" in clash.json()
