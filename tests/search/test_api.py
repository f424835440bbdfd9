"""GET /api/v1/search/ and its CSV export: the answer's shape, clear 400s, 503 when the engine is away,
permissions, and `hub reindex`."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from hub.models import Conversation, Team
from search import indexer
from search.backend import BackendUnavailable, SearchBackend
from tests import factories as f
from tests.api import helpers as h

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def data(search_backend: SearchBackend, settings: Any) -> dict[str, Any]:
    settings.SEARCH_AUTO_INDEX = False
    billing, sales = Team.objects.create(name="Billing"), Team.objects.create(name="Sales")
    alice, sue = f.agent("alice", teams=[billing]), f.agent("sue", role="supervisor")
    mine = h.conversation(billing, text="我的账单有问题, invoice 4521", name="Li Wei")
    theirs = h.conversation(sales, text="=HYPERLINK(\"http://evil\") 账单 <b>bold</b>", name="@Mallory")
    indexer.index_pending()
    settings.SEARCH_AUTO_INDEX = True
    return {"alice": h.client_for(alice), "sue": h.client_for(sue), "mine": mine, "theirs": theirs}


def test_search_answers_grouped_results_with_facets(data: dict[str, Any]) -> None:
    body = data["sue"].get("/api/v1/search/", {"q": "账单"}).json()
    assert body["total"] == 2 and body["mode"] == "conversations" and body["backend"] in ("embedded",
                                                                                          "elasticsearch")
    first = body["results"][0]
    assert set(first["conversation"]) >= {"id", "customer_name", "status", "url", "team", "assignee"}
    assert "<mark>账单</mark>" in first["matches"][0]["snippet"]
    assert "text" not in first["matches"][0]  # the export has whole texts; the page has snippets
    assert {b["value"]: b["count"] for b in body["facets"]["team"]} == {"billing": 1, "sales": 1}
    assert body["next_cursor"] is None


def test_an_agent_gets_only_their_teams_conversations(data: dict[str, Any]) -> None:
    body = data["alice"].get("/api/v1/search/", {"q": "账单"}).json()
    assert [r["conversation_id"] for r in body["results"]] == [data["mine"].pk]
    assert body["total"] == 1


def test_messages_mode_and_cursor(data: dict[str, Any]) -> None:
    page = data["sue"].get("/api/v1/search/", {"q": "", "mode": "messages", "sort": "newest",
                                               "page_size": 1}).json()
    assert page["total"] == 2 and len(page["results"]) == 1 and page["next_cursor"]
    nxt = data["sue"].get("/api/v1/search/", {"q": "", "mode": "messages", "sort": "newest", "page_size": 1,
                                              "cursor": page["next_cursor"]}).json()
    assert nxt["results"][0]["matches"][0]["id"] != page["results"][0]["matches"][0]["id"]


@pytest.mark.parametrize(("params", "field"), [
    ({"q": '"unclosed'}, "q"),
    ({"q": "foo:bar"}, "q"),
    ({"q": "after:someday"}, "q"),
    ({"sort": "loudest"}, "sort"),
    ({"page_size": 0}, "page_size"),
    ({"cursor": "garbage"}, "cursor"),
])
def test_bad_requests_say_why(data: dict[str, Any], params: dict[str, Any], field: str) -> None:
    response = data["sue"].get("/api/v1/search/", params)
    assert response.status_code == 400
    assert field in response.json()


def test_a_query_error_gives_its_position(data: dict[str, Any]) -> None:
    body = data["sue"].get("/api/v1/search/", {"q": 'refund "card'}).json()
    assert body["position"] == 7 and "unterminated quote" in body["q"][0]


def test_engine_down_is_a_503(data: dict[str, Any], search_backend: SearchBackend,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: Any, **kw: Any) -> Any:
        raise BackendUnavailable("connection refused")

    monkeypatch.setattr(search_backend, "search", down)
    response = data["sue"].get("/api/v1/search/", {"q": "账单"})
    assert response.status_code == 503
    assert data["sue"].get("/api/v1/search/export.csv", {"q": "账单"}).status_code == 503


def test_signed_out_is_refused(data: dict[str, Any]) -> None:
    assert APIClient().get("/api/v1/search/", {"q": "x"}).status_code == 401


def test_csv_export_streams_safe_cells_for_what_the_user_may_see(data: dict[str, Any]) -> None:
    response = data["sue"].get("/api/v1/search/export.csv", {"q": "账单"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text[1:])))
    assert len(rows) == 2
    by_conv = {int(r["conversation_id"]): r for r in rows}
    assert by_conv[data["mine"].pk]["text"] == "我的账单有问题, invoice 4521"
    assert by_conv[data["theirs"].pk]["text"].startswith("'=HYPERLINK")  # a formula stays text
    assert by_conv[data["theirs"].pk]["customer"] == "'@Mallory"
    alice_rows = b"".join(data["alice"].get("/api/v1/search/export.csv", {"q": "账单"}).streaming_content)
    assert alice_rows.decode("utf-8").count("\n") == 2  # header and her one message


def test_csv_export_refuses_a_malformed_query(data: dict[str, Any]) -> None:
    response = data["sue"].get("/api/v1/search/export.csv", {"q": "(oops"})
    assert response.status_code == 400 and "unclosed" in response.json()["q"][0]


def test_erasing_a_customer_through_the_api(data: dict[str, Any]) -> None:
    customer_id = data["theirs"].customer_id
    assert data["alice"].delete(f"/api/v1/customers/{data['mine'].customer_id}/").status_code == 403
    assert data["sue"].delete(f"/api/v1/customers/{customer_id}/").status_code == 204
    assert not Conversation.objects.filter(pk=data["theirs"].pk).exists()
    body = data["sue"].get("/api/v1/search/", {"q": "账单"}).json()
    assert [r["conversation_id"] for r in body["results"]] == [data["mine"].pk]


def test_reindex_command(data: dict[str, Any]) -> None:
    out = io.StringIO()
    call_command("reindex", "--quiet", stdout=out)
    assert "Indexed 2 documents" in out.getvalue()
    call_command("reindex", "--quiet", "--since", "2020-01-01", stdout=out)
    assert data["sue"].get("/api/v1/search/", {"q": "账单"}).json()["total"] == 2
    with pytest.raises(CommandError, match="not a date"):
        call_command("reindex", "--since", "last week")
