"""Whatever a client sends, the API answers 4xx, never 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hub.models import Conversation
from tests.api import helpers as h
from tests.api.conftest import Org

pytestmark = pytest.mark.django_db

JUNK_JSON: list[Any] = [
    None, [], "text", 42, True, {"": ""}, [{"text": "hi"}],
    {"text": ["a"], "client_id": {"a": 1}, "channel_account": [1]},
    {"assignee": 10**30, "team": 10**30, "source": 10**30, "channel_account": 10**30, "priority": 10**30},
    {"assignee": -1, "team": -1, "source": -1, "priority": -1, "escalated": "yes please"},
    {"snoozed_until": "9999-99-99T99:99:99Z", "tags": [None, 1, {}], "presence": {"a": "b"}},
    {"text": "\x00\ud800", "tags": ["\x00"], "display_name": "\x00", "notes": "\u202e"},
    {"value_tier": [], "language": {}, "display_name": 1.5e308},
]
RAW_BODIES = [b"{", b"\xff\xfe", b"null", b"[1,2", b'{"text": NaN}', b"\x00" * 10]


def paths(conv: Conversation, org: Org) -> list[str]:
    base = f"/api/v1/conversations/{conv.pk}/"
    return [base + suffix for suffix in ["", "messages/", "notes/", "assign/", "transfer/", "resolve/", "reopen/",
                                         "snooze/", "tags/", "priority/"]] + [
        f"/api/v1/customers/{conv.customer_id}/", f"/api/v1/customers/{conv.customer_id}/merge/",
        "/api/v1/customers/merges/1/undo/", f"/api/v1/agents/{org.alice.pk}/presence/", "/api/v1/me/",
        "/api/v1/conversations/", "/api/v1/customers/", "/api/v1/agents/", "/api/v1/teams/",
    ]


@pytest.fixture
def conv(org: Org) -> Conversation:
    return h.conversation(org.team_a, name="Ann")


@pytest.mark.parametrize("payload", JUNK_JSON, ids=range(len(JUNK_JSON)))
def test_junk_json_bodies(org: Org, conv: Conversation, payload: Any) -> None:
    client = h.client_for(org.sue)
    for path in paths(conv, org):
        for method in (client.post, client.patch, client.put, client.delete):
            response = method(path, json.dumps(payload), content_type="application/json")
            assert response.status_code < 500, (method, path, payload, response.content)


@pytest.mark.parametrize("raw", RAW_BODIES)
def test_raw_garbage_bodies(org: Org, conv: Conversation, raw: bytes) -> None:
    client = h.client_for(org.sue)
    for path in paths(conv, org):
        for content_type in ("application/json", "application/x-www-form-urlencoded", "multipart/form-data",
                             "text/plain"):
            response = client.generic("POST", path, raw, content_type=content_type)  # type: ignore[arg-type]
            assert response.status_code < 500, (path, content_type, raw, response.content)


@pytest.mark.parametrize("query", [
    {"status": "\x00"}, {"assignee": "9" * 40}, {"team": "٣"}, {"customer": "-0"}, {"channel": "x" * 500},
    {"q": "\x00"}, {"q": "%"}, {"q": "+"}, {"q": "@"}, {"page_size": "-1"}, {"page_size": "x"},
    {"page_size": "100000"}, {"cursor": "%%%"}, {"cursor": "cD0xJm89OTk5OTk5OTk5OTk5"},
])
def test_junk_query_strings(org: Org, conv: Conversation, query: dict[str, str]) -> None:
    client = h.client_for(org.alice)
    for path in ["/api/v1/conversations/", "/api/v1/customers/", f"/api/v1/conversations/{conv.pk}/messages/",
                 f"/api/v1/conversations/{conv.pk}/notes/"]:
        response = client.get(path, query)
        assert response.status_code < 500, (path, query, response.content)
