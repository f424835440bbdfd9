"""The requests the Elasticsearch backend (search/elastic.py) builds, sent by the official client to a fake
Elasticsearch on 127.0.0.1 that records each one and answers like a tiny cluster (aliases, indices, bulk
items). The contract suite checks answers against a real server when HUB_ELASTICSEARCH_URL is set; these
check what is asked of it, and how its answers and failures are read, without one."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from elasticsearch import BadRequestError, Elasticsearch

from search import query as q
from search.backend import BackendQuery, BackendUnavailable, SearchDocument, Visibility
from search.elastic import MAX_RESULT_WINDOW, ElasticsearchBackend, compile_query, mappings

FIXTURES = Path(__file__).parent / "fixtures" / "elastic"
ALIAS = "hub-messages"
VERSIONED = re.compile(r"^hub-messages-v\d{20}$")
EVERYONE = Visibility(team_ids=None, user_id=1)
FULL_WIDTH_COMMA = "\uff0c"


@dataclasses.dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any   # a dict (JSON), a list of dicts (NDJSON), or None


Reply = tuple[int, Any]


class FakeElasticsearch:
    """Answers the APIs the backend uses, keeping just enough state (indices, aliases) for the index
    lifecycle to be followed; `routes` overrides an answer for one method and path."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.indices: dict[str, dict[str, Any]] = {}
        self.aliases: dict[str, set[str]] = {}
        self.routes: dict[tuple[str, str], Callable[[Recorded], Reply]] = {}
        self.bulk_items: dict[str, tuple[int, dict[str, Any] | None]] = {}   # _id -> status, error
        self.search_reply: dict[str, Any] = {"hits": {"total": {"value": 0, "relation": "eq"}, "hits": []}}
        self.health_status = "green"
        self.delay = 0.0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- what was asked ---

    def find(self, method: str, pattern: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]

    def one(self, method: str, pattern: str) -> Recorded:
        found = self.find(method, pattern)
        assert len(found) == 1, f"{method} {pattern}: {[(r.method, r.path) for r in self.requests]}"
        return found[0]

    def bulks(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/_bulk"]   # the client sends them as PUT

    def add_index(self, name: str, *aliases: str) -> None:
        self.indices[name] = {}
        for alias in aliases:
            self.aliases.setdefault(alias, set()).add(name)

    # --- answers ---

    def answer(self, req: Recorded) -> Reply:
        route = self.routes.get((req.method, req.path))
        if route is not None:
            return route(req)
        parts = [p for p in req.path.split("/") if p]
        if parts and parts[-1] == "_bulk":
            return 200, self._bulk(req)
        if parts[:1] == ["_alias"] and len(parts) == 2:
            indices = self.aliases.get(parts[1], set())
            if not indices:
                return 404, _error("aliases_not_found_exception", f"alias [{parts[1]}] missing", 404)
            return 200, {name: {"aliases": {parts[1]: {}}} for name in indices}
        if parts == ["_aliases"] and req.method == "POST":
            for action in req.body["actions"]:
                (kind, spec), = action.items()
                if kind == "add":
                    self.aliases.setdefault(spec["alias"], set()).add(spec["index"])
                else:
                    self.aliases.get(spec["alias"], set()).discard(spec["index"])
            return 200, {"acknowledged": True}
        if parts == ["_cluster", "health"]:
            return 200, {"cluster_name": "fake", "status": self.health_status, "number_of_nodes": 1}
        if len(parts) == 1 and not parts[0].startswith("_") and req.method == "PUT":
            self.indices[parts[0]] = req.body or {}
            for alias in (req.body or {}).get("aliases", {}):
                self.aliases.setdefault(alias, set()).add(parts[0])
            return 200, {"acknowledged": True, "shards_acknowledged": True, "index": parts[0]}
        if len(parts) == 1 and req.method == "DELETE":
            for name in parts[0].split(","):
                self.indices.pop(name, None)
                for members in self.aliases.values():
                    members.discard(name)
            return 200, {"acknowledged": True}
        if parts[-1:] == ["_search"]:
            return 200, self.search_reply
        if parts[-1:] == ["_count"]:
            return 200, {"count": 42, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0}}
        if parts[-1:] == ["_delete_by_query"]:
            return 200, {"took": 1, "timed_out": False, "deleted": 3, "failures": []}
        return 200, {"acknowledged": True}

    def _bulk(self, req: Recorded) -> dict[str, Any]:
        items: list[dict[str, Any]] = []
        lines = list(req.body)
        while lines:
            (op, meta), = lines.pop(0).items()
            if op in ("index", "create", "update"):
                lines.pop(0)
            target = meta.get("_index", "")
            status, error = self.bulk_items.get(meta["_id"], (201 if op == "index" else 200, None))
            if req.query.get("require_alias") == "true" and not self.aliases.get(target):
                status, error = 404, {"type": "index_not_found_exception",
                                      "reason": f"no such index [{target}] and [require_alias] request flag "
                                                f"is [true] and [{target}] is not an alias"}
            item: dict[str, Any] = {"_index": target, "_id": meta["_id"], "status": status}
            if error:
                item["error"] = error
            items.append({op: item})
        return {"took": 1, "errors": any("error" in next(iter(i.values())) for i in items), "items": items}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                req = Recorded(self.command, unquote(split.path), dict(parse_qsl(split.query)), _decode(raw))
                fake.requests.append(req)
                if fake.delay:
                    time.sleep(fake.delay)
                status, body = fake.answer(req)
                data = b"" if self.command == "HEAD" else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("X-Elastic-Product", "Elasticsearch")   # or the client refuses the answer
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass   # the client gave up first (the timeout test)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

        return Handler


def _decode(raw: str) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return [json.loads(line) for line in raw.splitlines() if line.strip()]


def _error(kind: str, reason: str, status: int) -> dict[str, Any]:
    return {"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason},
            "status": status}


@pytest.fixture
def fake() -> Iterator[FakeElasticsearch]:
    server = FakeElasticsearch()
    yield server
    server.stop()


@pytest.fixture
def backend(fake: FakeElasticsearch) -> Iterator[ElasticsearchBackend]:
    fake.add_index("hub-messages-v20260101000000000000", ALIAS)
    engine = ElasticsearchBackend(fake.url, ALIAS, request_timeout=5)
    yield engine
    engine.close()


def make_doc(doc_id: str = "m1", version: int = 1, **fields: Any) -> SearchDocument:
    values: dict[str, Any] = {
        "id": doc_id, "conversation_id": 4, "customer_id": 9, "text": "Where is my refund? 我的账单有问题",
        "customer": "Li Wei li.wei@example.com", "channel": "sms", "direction": "in", "author": "Li Wei",
        "agents": ("alice",), "team": "billing", "team_id": 2, "assignee_id": 7, "tags": ("refund", "vip"),
        "status": "open", "sentiment": "negative", "public": True, "note": False, "has_attachment": False,
        "created_at": datetime(2026, 3, 4, 13, 6, 7, 123000, tzinfo=timezone(timedelta(hours=8))),
        "month": "2026-03", "version": version,
    }
    values.update(fields)
    return SearchDocument(**values)


def search_body(fake: FakeElasticsearch, backend: ElasticsearchBackend, **kw: Any) -> dict[str, Any]:
    """The body of the _search request the backend sends for a BackendQuery."""
    kw.setdefault("query", q.MatchAll())
    kw.setdefault("visibility", EVERYONE)
    backend.search(BackendQuery(**kw))
    req = fake.find("POST", f"/{ALIAS}/_search")[-1]
    assert isinstance(req.body, dict)
    return req.body


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- The index: template, mappings, alias ---------------------------------------------------------------

def test_template_holds_settings_and_strict_mappings(fake: FakeElasticsearch) -> None:
    engine = ElasticsearchBackend(fake.url, ALIAS)
    engine.ensure_index()
    req = fake.one("PUT", "/_index_template/hub-messages")
    assert req.body["index_patterns"] == ["hub-messages-v*"]
    assert "aliases" not in req.body["template"]   # a rebuild's index must not be searched before its swap
    settings = req.body["template"]["settings"]["index"]
    assert settings == {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"}
    mapping = req.body["template"]["mappings"]
    assert mapping["dynamic"] == "strict"
    props = mapping["properties"]
    assert props["text"] == {"type": "text", "analyzer": "english",
                             "fields": {"cjk": {"type": "text", "analyzer": "cjk"}}}
    assert props["customer"] == {"type": "text", "analyzer": "standard",
                                 "fields": {"cjk": {"type": "text", "analyzer": "cjk"}}}
    for name in ("id", "channel", "direction", "agents", "team", "tags", "status", "sentiment", "month"):
        assert props[name] == {"type": "keyword"}, name
    assert props["author"]["type"] == "keyword"
    for name in ("conversation_id", "customer_id", "team_id", "assignee_id", "sort_key", "version"):
        assert props[name] == {"type": "long"}, name
    for name in ("public", "note", "has_attachment"):
        assert props[name] == {"type": "boolean"}, name
    assert props["created_at"] == {"type": "date"}
    engine.close()


def test_mapping_covers_every_document_field() -> None:
    # dynamic: strict refuses an unmapped field: a field added to SearchDocument must be mapped too.
    fields = {f.name for f in dataclasses.fields(SearchDocument)} | {"sort_key"}
    assert set(mappings()["properties"]) == fields


def test_settings_follow_the_constructor(fake: FakeElasticsearch) -> None:
    engine = ElasticsearchBackend(fake.url, ALIAS, replicas=1, shards=2, refresh_interval="5s")
    engine.ensure_index()
    settings = fake.one("PUT", "/_index_template/hub-messages").body["template"]["settings"]["index"]
    assert settings == {"number_of_shards": 2, "number_of_replicas": 1, "refresh_interval": "5s"}
    engine.close()


def test_ensure_index_creates_a_versioned_index_behind_the_alias_then_migrates(fake: FakeElasticsearch) -> None:
    engine = ElasticsearchBackend(fake.url, ALIAS)
    engine.ensure_index()
    assert fake.find("HEAD", "/_alias/hub-messages")
    created = fake.one("PUT", r"/hub-messages-v\d{20}")
    assert VERSIONED.match(created.path.strip("/"))
    assert created.body == {"aliases": {ALIAS: {}}}   # settings and mappings come from the template
    assert fake.aliases[ALIAS] == {created.path.strip("/")}

    fake.requests.clear()
    engine.ensure_index()   # idempotent: the template again, no new index, the mappings added to
    assert fake.find("PUT", "/_index_template/hub-messages")
    assert not fake.find("PUT", r"/hub-messages-v\d{20}")
    put_mapping = fake.one("PUT", "/hub-messages/_mapping")
    assert put_mapping.body == mappings()
    put_settings = fake.one("PUT", "/hub-messages/_settings")
    assert put_settings.body == {"index": {"number_of_replicas": 0, "refresh_interval": "1s"}}
    assert len(fake.indices) == 1
    engine.close()


def test_a_mapping_change_only_a_reindex_can_take_is_logged_not_raised(
        fake: FakeElasticsearch, backend: ElasticsearchBackend, caplog: pytest.LogCaptureFixture) -> None:
    fake.routes[("PUT", "/hub-messages/_mapping")] = lambda req: (400, _error(
        "illegal_argument_exception", "Mapper for [text] conflicts with existing mapper", 400))
    with caplog.at_level(logging.WARNING, logger="search.elastic"):
        backend.ensure_index()
    assert "hub reindex" in caplog.text
    assert fake.find("PUT", "/hub-messages/_settings")


# --- Bulk indexing --------------------------------------------------------------------------------------

def test_bulk_lines_carry_external_versions_and_the_whole_document(
        fake: FakeElasticsearch, backend: ElasticsearchBackend) -> None:
    first, second = make_doc("m1", 7), make_doc("n2", 9, note=True, direction="note", tags=())
    backend.index([first, second])
    [req] = fake.bulks()
    assert req.query == {"require_alias": "true"}
    action, source, action2, source2 = req.body
    assert action == {"index": {"_index": ALIAS, "_id": "m1", "version": 7, "version_type": "external_gte"}}
    assert action2 == {"index": {"_index": ALIAS, "_id": "n2", "version": 9, "version_type": "external_gte"}}
    assert source == {
        "id": "m1", "conversation_id": 4, "customer_id": 9, "text": "Where is my refund? 我的账单有问题",
        "customer": "Li Wei li.wei@example.com", "channel": "sms", "direction": "in", "author": "Li Wei",
        "agents": ["alice"], "team": "billing", "team_id": 2, "assignee_id": 7, "tags": ["refund", "vip"],
        "status": "open", "sentiment": "negative", "public": True, "note": False, "has_attachment": False,
        "created_at": "2026-03-04T05:06:07.123000+00:00", "month": "2026-03", "version": 7,
        "sort_key": first.sort_value,
    }
    assert source2["tags"] == [] and source2["note"] is True and source2["sort_key"] == second.sort_value


def test_nothing_to_index_sends_nothing(fake: FakeElasticsearch, backend: ElasticsearchBackend) -> None:
    backend.index([])
    backend.delete()
    assert fake.requests == []


def test_a_version_conflict_means_a_newer_state_is_there(fake: FakeElasticsearch,
                                                         backend: ElasticsearchBackend) -> None:
    fake.bulk_items["m1"] = (409, {"type": "version_conflict_engine_exception",
                                   "reason": "[m1]: version conflict, current version [9] is higher"})
    backend.index([make_doc("m1", 3), make_doc("m2", 3)])   # no exception


@pytest.mark.parametrize("status", [429, 500, 503])
def test_an_overloaded_or_failing_node_keeps_the_backlog(fake: FakeElasticsearch, backend: ElasticsearchBackend,
                                                         status: int) -> None:
    fake.bulk_items["m2"] = (status, {"type": "es_rejected_execution_exception", "reason": "queue full"})
    with pytest.raises(BackendUnavailable, match=str(status)):
        backend.index([make_doc("m1"), make_doc("m2"), make_doc("m3")])


def test_a_whole_bulk_request_refused_keeps_the_backlog(fake: FakeElasticsearch) -> None:
    fake.add_index("hub-messages-v20260101000000000000", ALIAS)
    fake.routes[("PUT", "/_bulk")] = lambda req: (
        429, _error("circuit_breaking_exception", "[parent] Data too large", 429))
    engine = ElasticsearchBackend(fake.url, ALIAS, client=Elasticsearch(fake.url, max_retries=0))
    with pytest.raises(BackendUnavailable, match="429"):
        engine.index([make_doc()])
    engine.close()


def test_one_document_the_mapping_refuses_is_skipped_and_logged(
        fake: FakeElasticsearch, backend: ElasticsearchBackend, caplog: pytest.LogCaptureFixture) -> None:
    fake.bulk_items["m2"] = (400, {"type": "document_parsing_exception",
                                   "reason": "[1:20] failed to parse field [created_at] of type [date]"})
    with caplog.at_level(logging.ERROR, logger="search.elastic"):
        backend.index([make_doc("m1"), make_doc("m2"), make_doc("m3")])   # no exception: the backlog moves on
    sent = [line["index"]["_id"] for line in fake.bulks()[0].body if "index" in line]
    assert sent == ["m1", "m2", "m3"]
    assert len(fake.bulks()) == 1   # the others were indexed in the same request
    [record] = caplog.records
    assert "m2" in record.getMessage() and "document_parsing_exception" in record.getMessage()


def test_a_missing_alias_is_recreated_and_the_batch_sent_again(fake: FakeElasticsearch) -> None:
    engine = ElasticsearchBackend(fake.url, ALIAS)   # a wiped cluster: no alias, no index
    engine.index([make_doc("m1")])
    bulks = fake.bulks()
    assert len(bulks) == 2 and all(b.query == {"require_alias": "true"} for b in bulks)
    assert fake.find("PUT", "/_index_template/hub-messages")
    created = fake.one("PUT", r"/hub-messages-v\d{20}")
    assert fake.aliases[ALIAS] == {created.path.strip("/")}
    engine.close()


# --- Engine down ----------------------------------------------------------------------------------------

def test_connection_refused_is_unavailable_and_unhealthy() -> None:
    engine = ElasticsearchBackend(closed_port_url(), ALIAS, request_timeout=1)
    with pytest.raises(BackendUnavailable):
        engine.index([make_doc()])
    with pytest.raises(BackendUnavailable):
        engine.delete(ids=["m1"], conversation_ids=[4])
    with pytest.raises(BackendUnavailable):
        engine.search(BackendQuery(query=q.Text("refund"), visibility=EVERYONE))
    with pytest.raises(BackendUnavailable):
        engine.ensure_index()
    with pytest.raises(BackendUnavailable):
        engine.count()
    with pytest.raises(BackendUnavailable):
        engine.refresh()
    with pytest.raises(BackendUnavailable):
        engine.begin_rebuild()
    health = engine.health()
    assert health.ok is False and "unreachable" in health.detail
    engine.close()


def test_a_server_that_stops_mid_stream_is_unavailable(fake: FakeElasticsearch,
                                                       backend: ElasticsearchBackend) -> None:
    backend.index([make_doc("m1")])
    fake.stop()
    with pytest.raises(BackendUnavailable):
        backend.index([make_doc("m2")])
    assert backend.health().ok is False


def test_a_search_that_times_out_is_unavailable(fake: FakeElasticsearch) -> None:
    fake.add_index("hub-messages-v20260101000000000000", ALIAS)
    engine = ElasticsearchBackend(fake.url, ALIAS, request_timeout=0.2)
    fake.delay = 0.6
    with pytest.raises(BackendUnavailable):
        engine.search(BackendQuery(query=q.MatchAll(), visibility=EVERYONE))
    fake.delay = 0.0
    engine.close()


@pytest.mark.parametrize(("status", "ok"), [("green", True), ("yellow", True), ("red", False)])
def test_health_reads_the_cluster_status(fake: FakeElasticsearch, backend: ElasticsearchBackend,
                                         status: str, ok: bool) -> None:
    fake.health_status = status
    health = backend.health()
    assert health.ok is ok and status in health.detail
    assert fake.one("GET", "/_cluster/health")


# --- Deletes, refresh, count ----------------------------------------------------------------------------

def test_delete_by_id_and_by_query(fake: FakeElasticsearch, backend: ElasticsearchBackend) -> None:
    fake.bulk_items["m2"] = (404, None)   # already gone: fine
    backend.delete(ids=["m1", "m2"], conversation_ids=[4, 5], customer_ids=[9])
    [bulk] = fake.bulks()
    assert bulk.body == [{"delete": {"_index": ALIAS, "_id": "m1"}}, {"delete": {"_index": ALIAS, "_id": "m2"}}]
    dbq = fake.one("POST", "/hub-messages/_delete_by_query")
    assert dbq.query == {"conflicts": "proceed", "refresh": "true", "wait_for_completion": "true"}
    assert dbq.body == {"query": {"bool": {"should": [{"terms": {"conversation_id": [4, 5]}},
                                                      {"terms": {"customer_id": [9]}}],
                                           "minimum_should_match": 1}}}


def test_delete_by_customer_only(fake: FakeElasticsearch, backend: ElasticsearchBackend) -> None:
    backend.delete(customer_ids=[9])
    assert not fake.bulks()
    dbq = fake.one("POST", "/hub-messages/_delete_by_query")
    assert dbq.body["query"]["bool"]["should"] == [{"terms": {"customer_id": [9]}}]


def test_a_delete_by_query_with_failures_is_retried_later(fake: FakeElasticsearch,
                                                          backend: ElasticsearchBackend) -> None:
    fake.routes[("POST", "/hub-messages/_delete_by_query")] = lambda req: (200, {
        "took": 1, "timed_out": False, "deleted": 1,
        "failures": [{"index": "x", "id": "m1", "cause": {"type": "es_rejected_execution_exception"},
                      "status": 429}]})
    with pytest.raises(BackendUnavailable):
        backend.delete(conversation_ids=[4])


def test_refresh_and_count_use_the_alias(fake: FakeElasticsearch, backend: ElasticsearchBackend) -> None:
    backend.refresh()
    assert fake.one("POST", "/hub-messages/_refresh")
    assert backend.count() == 42
    assert fake.find("POST", "/hub-messages/_count") or fake.find("GET", "/hub-messages/_count")


def test_count_is_zero_without_an_index(fake: FakeElasticsearch, backend: ElasticsearchBackend) -> None:
    fake.routes[("POST", "/hub-messages/_count")] = fake.routes[("GET", "/hub-messages/_count")] = \
        lambda req: (404, _error("index_not_found_exception", "no such index [hub-messages]", 404))
    assert backend.count() == 0


# --- Query compilation ----------------------------------------------------------------------------------

_LEAVES = {"match_all", "match_none", "match", "match_phrase", "term", "terms", "range", "bool"}
_BOOL_KEYS = {"must", "filter", "should", "must_not", "minimum_should_match"}


def assert_valid_dsl(query: Any) -> None:
    """Each query object names exactly one known query type, and bool clauses hold lists of queries."""
    assert isinstance(query, dict) and len(query) == 1, query
    (kind, spec), = query.items()
    assert kind in _LEAVES, kind
    assert isinstance(spec, dict)
    if kind == "bool":
        assert set(spec) <= _BOOL_KEYS, spec
        for key in ("must", "filter", "should", "must_not"):
            for clause in spec.get(key, []):
                assert_valid_dsl(clause)
    elif kind in ("match", "match_phrase"):
        (field, options), = spec.items()
        assert field in ("text", "text.cjk", "customer") and isinstance(options["query"], str)
    elif kind in ("term", "terms", "range"):
        assert len(spec) == 1
        field = next(iter(spec))
        assert field in mappings()["properties"], field


NOON = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=8)))
CASES: list[tuple[q.Node, dict[str, Any]]] = [
    (q.MatchAll(), {"match_all": {}}),
    (q.Text("refund card"),
     {"match": {"text": {"query": "refund card", "operator": "and", "zero_terms_query": "all"}}}),
    (q.Text("账单"), {"match_phrase": {"text.cjk": {"query": "账单", "zero_terms_query": "all"}}}),
    (q.Text("账"), {"match": {"text": {"query": "账"}}}),
    (q.Text("我的账单 refund, please 退"), {"bool": {"must": [
        {"match_phrase": {"text.cjk": {"query": "我的账单", "zero_terms_query": "all"}}},
        {"match": {"text": {"query": " refund, please ", "operator": "and", "zero_terms_query": "all"}}},
        {"match": {"text": {"query": "退"}}},
    ]}}),
    (q.Text(f"账单{FULL_WIDTH_COMMA}退款"), {"bool": {"must": [   # full-width punctuation ends a CJK run
        {"match_phrase": {"text.cjk": {"query": "账单", "zero_terms_query": "all"}}},
        {"match": {"text": {"query": FULL_WIDTH_COMMA, "operator": "and", "zero_terms_query": "all"}}},
        {"match_phrase": {"text.cjk": {"query": "退款", "zero_terms_query": "all"}}},
    ]}}),
    (q.Text("   "), {"match_all": {}}),
    (q.Phrase("credit card"), {"match_phrase": {"text": {"query": "credit card", "zero_terms_query": "all"}}}),
    (q.Keyword("channel", "sms"), {"term": {"channel": "sms"}}),
    (q.KeywordIn("team_id", (1, 2)), {"terms": {"team_id": [1, 2]}}),
    (q.KeywordIn("tags", ("refund", "vip")), {"terms": {"tags": ["refund", "vip"]}}),
    (q.CustomerName("Li Wei"), {"match_phrase": {"customer": {"query": "Li Wei", "zero_terms_query": "all"}}}),
    (q.Flag("has_attachment", True), {"term": {"has_attachment": True}}),
    (q.Flag("public", False), {"term": {"public": False}}),
    (q.DateRange(start=NOON, end=NOON + timedelta(days=31)),
     {"range": {"created_at": {"gte": "2025-12-31T16:00:00+00:00", "lt": "2026-01-31T16:00:00+00:00"}}}),
    (q.DateRange(start=NOON), {"range": {"created_at": {"gte": "2025-12-31T16:00:00+00:00"}}}),
    (q.DateRange(end=NOON), {"range": {"created_at": {"lt": "2025-12-31T16:00:00+00:00"}}}),
    (q.DateRange(), {"match_all": {}}),
    (q.SortKeyRange(above=10, below=20), {"range": {"sort_key": {"gt": 10, "lt": 20}}}),
    (q.SortKeyRange(below=20), {"range": {"sort_key": {"lt": 20}}}),
    (q.Not(q.Text("chargeback")), {"bool": {"must_not": [
        {"match": {"text": {"query": "chargeback", "operator": "and", "zero_terms_query": "all"}}}]}}),
    (q.And((q.Text("refund"), q.Keyword("channel", "sms"), q.Not(q.Flag("note", True)))),
     {"bool": {"must": [{"match": {"text": {"query": "refund", "operator": "and", "zero_terms_query": "all"}}}],
               "filter": [{"term": {"channel": "sms"}}, {"bool": {"must_not": [{"term": {"note": True}}]}}]}}),
    (q.Or((q.Keyword("status", "open"), q.Keyword("status", "pending"))),
     {"bool": {"should": [{"term": {"status": "open"}}, {"term": {"status": "pending"}}],
               "minimum_should_match": 1}}),
    (q.And((q.Or((q.Text("退款"), q.Phrase("money back"))), q.Not(q.Or((q.Keyword("tags", "spam"),
                                                                         q.CustomerName("Bot")))))),
     {"bool": {"must": [{"bool": {"should": [
         {"match_phrase": {"text.cjk": {"query": "退款", "zero_terms_query": "all"}}},
         {"match_phrase": {"text": {"query": "money back", "zero_terms_query": "all"}}}],
         "minimum_should_match": 1}}],
         "filter": [{"bool": {"must_not": [{"bool": {"should": [
             {"term": {"tags": "spam"}},
             {"match_phrase": {"customer": {"query": "Bot", "zero_terms_query": "all"}}}],
             "minimum_should_match": 1}}]}}]}}),
]


@pytest.mark.parametrize(("node", "expected"), CASES, ids=[repr(n)[:60] for n, _ in CASES])
def test_every_node_kind_compiles(fake: FakeElasticsearch, backend: ElasticsearchBackend, node: q.Node,
                                  expected: dict[str, Any]) -> None:
    body = search_body(fake, backend, query=node, highlight=False)
    assert body["query"] == expected
    assert_valid_dsl(body["query"])


def test_parsed_queries_compile_to_valid_dsl() -> None:
    for text in ['refund "credit card" -chargeback channel:sms OR channel:email after:2026-01-01',
                 '账单 customer:"Li Wei" tag:refund has:attachment (status:open OR status:pending)',
                 '-(agent:alice OR team:billing) is:note is:private before:2026-02 direction:in sentiment:negative',
                 f"我的账单{FULL_WIDTH_COMMA}refund 退 the", "the"]:
        assert_valid_dsl(compile_query(q.parse(text, UTC)))


def test_an_unknown_node_is_a_bug() -> None:
    with pytest.raises(TypeError):
        compile_query(q.Node())


def test_visibility_is_a_filter_of_the_query(fake: FakeElasticsearch, backend: ElasticsearchBackend) -> None:
    assert search_body(fake, backend, query=q.Text("refund"))["query"] == compile_query(q.Text("refund"))
    body = search_body(fake, backend, query=q.Text("refund"), visibility=Visibility(team_ids=(2, 3), user_id=7),
                       facets=("channel",))
    assert body["query"] == {"bool": {
        "must": [compile_query(q.Text("refund"))],
        "filter": [{"bool": {"should": [{"terms": {"team_id": [2, 3, 0]}}, {"term": {"assignee_id": 7}}],
                             "minimum_should_match": 1}}]}}
    assert "post_filter" not in body   # the same query counts totals and facets: nothing hidden is counted
    assert_valid_dsl(body["query"])


# --- Sort, pages, facets, highlight ---------------------------------------------------------------------

def test_relevance_pages_by_offset(fake: FakeElasticsearch, backend: ElasticsearchBackend) -> None:
    body = search_body(fake, backend, query=q.Text("refund"), limit=20, offset=40)
    assert body["sort"] == [{"_score": {"order": "desc"}}, {"sort_key": {"order": "desc"}}]
    assert (body["from"], body["size"]) == (40, 20)
    assert body["track_total_hits"] is True
    assert "search_after" not in body


def test_relevance_pages_stop_at_the_result_window(fake: FakeElasticsearch, backend: ElasticsearchBackend) -> None:
    body = search_body(fake, backend, limit=50, offset=MAX_RESULT_WINDOW - 10)
    assert (body["from"], body["size"]) == (MAX_RESULT_WINDOW - 10, 10)
    body = search_body(fake, backend, limit=50, offset=MAX_RESULT_WINDOW + 500)
    assert (body["from"], body["size"]) == (MAX_RESULT_WINDOW, 0)


@pytest.mark.parametrize(("sort", "order"), [("newest", "desc"), ("oldest", "asc")])
def test_date_sorts_continue_with_search_after(fake: FakeElasticsearch, backend: ElasticsearchBackend,
                                               sort: str, order: str) -> None:
    first = search_body(fake, backend, sort=sort, limit=25)
    assert first["sort"] == [{"sort_key": {"order": order}}]
    assert first["size"] == 25 and "search_after" not in first and "from" not in first
    later = search_body(fake, backend, sort=sort, limit=25, after=(3708858608386048024,))
    assert later["search_after"] == [3708858608386048024]
    assert "from" not in later


def test_facets_count_messages_or_conversations(fake: FakeElasticsearch, backend: ElasticsearchBackend) -> None:
    body = search_body(fake, backend, facets=("channel", "agent", "month"))
    assert body["aggs"] == {
        "facet_channel": {"terms": {"field": "channel", "size": 50}},
        "facet_agent": {"terms": {"field": "agents", "size": 50}},
        "facet_month": {"terms": {"field": "month", "size": 50}},
    }
    body = search_body(fake, backend, facets=("tag", "conversation"), facets_by_conversation=True, limit=30,
                       count_conversations=True)
    by_conversation = {"conversations": {"cardinality": {"field": "conversation_id",
                                                         "precision_threshold": 40000}}}
    assert body["aggs"] == {
        "facet_tag": {"terms": {"field": "tags", "size": 50,
                                "order": [{"conversations": "desc"}, {"_key": "asc"}]},
                      "aggs": by_conversation},
        "facet_conversation": {"terms": {"field": "conversation_id", "size": 30,
                                         "order": [{"conversations": "desc"}, {"_key": "asc"}]},
                               "aggs": by_conversation},
        "conversation_count": {"cardinality": {"field": "conversation_id", "precision_threshold": 40000}},
    }
    assert "aggs" not in search_body(fake, backend)


def test_highlight_settings(fake: FakeElasticsearch, backend: ElasticsearchBackend) -> None:
    node = q.And((q.Text("账单 refund"), q.Not(q.Text("chargeback")), q.Keyword("channel", "sms")))
    highlight = search_body(fake, backend, query=node)["highlight"]
    assert highlight["pre_tags"] == ["<mark>"] and highlight["post_tags"] == ["</mark>"]
    assert highlight["encoder"] == "html"
    assert set(highlight["fields"]) == {"text", "text.cjk"}
    assert (highlight["fragment_size"], highlight["number_of_fragments"], highlight["no_match_size"]) == (160, 1, 160)
    # What is marked: the words looked for, not the excluded ones.
    assert highlight["highlight_query"] == compile_query(q.Text("账单 refund"))
    assert "chargeback" not in json.dumps(highlight)
    filters_only = search_body(fake, backend, query=q.Keyword("channel", "sms"))["highlight"]
    assert filters_only["highlight_query"] == {"match_none": {}}   # no marks, the start of the text
    assert "highlight" not in search_body(fake, backend, highlight=False)


# --- Reading answers ------------------------------------------------------------------------------------

def test_a_search_response_becomes_a_result(fake: FakeElasticsearch, backend: ElasticsearchBackend) -> None:
    fake.search_reply = json.loads((FIXTURES / "search_response.json").read_text())
    result = backend.search(BackendQuery(query=q.Text("账单 refund"), visibility=EVERYONE,
                                         facets=("channel", "team", "month", "conversation"),
                                         facets_by_conversation=True, count_conversations=True))
    assert result.total == 3 and result.conversations == 2
    # By conversations, most first, ties by key; the empty team left out; months in order of time.
    assert result.facets["channel"] == [("email", 3), ("chat", 2), ("sms", 2)]
    assert result.facets["team"] == [("billing", 1)]
    assert result.facets["month"] == [("2026-01", 1), ("2026-02", 2), ("2026-03", 1)]
    assert result.facets["conversation"] == [("4", 1), ("5", 1)]
    first, second, third = result.hits
    assert (first.id, first.conversation_id, first.score) == ("m11", 4, 2.5)
    assert first.sort_key == (2.5, 3717413243973533718)
    assert first.highlight == "我的<mark>账单</mark>有问题 &lt;b&gt;refund&lt;/b&gt;"   # the CJK field's marks
    assert second.highlight == "call back about the <mark>refund</mark>"   # no CJK marks: the text field's
    assert third.highlight == "" and third.score == 0.0
    created = first.fields["created_at"]
    assert created == datetime(2026, 3, 4, 5, 6, 7, 123000, tzinfo=UTC) and created.tzinfo is not None
    assert first.fields["agents"] == ["alice"] and second.fields["tags"] == []
    assert second.fields["note"] is True and first.fields["sort_key"] == 3717413243973533718


def test_facets_by_message_count_use_doc_count(fake: FakeElasticsearch, backend: ElasticsearchBackend) -> None:
    fake.search_reply = json.loads((FIXTURES / "search_response.json").read_text())
    result = backend.search(BackendQuery(query=q.MatchAll(), visibility=EVERYONE, facets=("channel",)))
    assert result.facets["channel"] == [("sms", 7), ("chat", 3), ("email", 3)]
    assert result.conversations is None


def test_a_refused_query_is_a_bug_not_an_outage(fake: FakeElasticsearch, backend: ElasticsearchBackend) -> None:
    fake.routes[("POST", "/hub-messages/_search")] = lambda req: (400, _error(
        "x_content_parse_exception", "[1:10] unknown query [matchh]", 400))
    with pytest.raises(BadRequestError):
        backend.search(BackendQuery(query=q.Text("refund"), visibility=EVERYONE))


def test_a_search_before_any_index_finds_nothing(fake: FakeElasticsearch, backend: ElasticsearchBackend) -> None:
    fake.routes[("POST", "/hub-messages/_search")] = lambda req: (404, _error(
        "index_not_found_exception", "no such index [hub-messages]", 404))
    result = backend.search(BackendQuery(query=q.MatchAll(), visibility=EVERYONE, facets=("channel",)))
    assert (result.total, result.hits, result.facets) == (0, [], {"channel": []})


# --- Rebuild --------------------------------------------------------------------------------------------

def test_rebuild_loads_a_new_index_then_swaps_the_alias_in_one_request(
        fake: FakeElasticsearch, backend: ElasticsearchBackend) -> None:
    old = "hub-messages-v20260101000000000000"
    rebuild = backend.begin_rebuild()
    assert fake.find("PUT", "/_index_template/hub-messages")   # the current mappings reach it
    created = fake.one("PUT", r"/hub-messages-v\d{20}")
    new = created.path.strip("/")
    assert new != old
    assert created.body == {"settings": {"index": {"refresh_interval": "-1", "number_of_replicas": 0}}}

    rebuild.index([make_doc("m1", 5)])
    [bulk] = fake.bulks()
    assert bulk.query == {}   # the new index by name: no alias yet
    assert bulk.body[0] == {"index": {"_index": new, "_id": "m1", "version": 5, "version_type": "external_gte"}}
    assert fake.aliases[ALIAS] == {old}   # searches still go to the old index

    rebuild.finish()
    settings = fake.one("PUT", f"/{new}/_settings")
    assert settings.body == {"index": {"refresh_interval": "1s", "number_of_replicas": 0}}
    assert fake.one("POST", f"/{new}/_refresh")
    swap = fake.one("POST", "/_aliases")
    assert swap.body == {"actions": [{"remove": {"index": old, "alias": ALIAS}},
                                     {"add": {"index": new, "alias": ALIAS}}]}
    assert fake.one("DELETE", f"/{old}")
    order = [(r.method, r.path) for r in fake.requests]
    assert order.index(("POST", f"/{new}/_refresh")) < order.index(("POST", "/_aliases")) \
        < order.index(("DELETE", f"/{old}"))
    assert fake.aliases[ALIAS] == {new} and old not in fake.indices


def test_rebuild_swaps_away_from_every_old_index(fake: FakeElasticsearch, backend: ElasticsearchBackend) -> None:
    fake.add_index("hub-messages-v20250101000000000000", ALIAS)   # an alias left on two indices
    rebuild = backend.begin_rebuild()
    rebuild.finish()
    actions = fake.one("POST", "/_aliases").body["actions"]
    assert [a["remove"]["index"] for a in actions[:-1]] == ["hub-messages-v20250101000000000000",
                                                            "hub-messages-v20260101000000000000"]
    assert "add" in actions[-1]
    deleted = fake.one("DELETE", r"/hub-messages-v2025.*")
    assert deleted.path == "/hub-messages-v20250101000000000000,hub-messages-v20260101000000000000"


def test_abort_deletes_the_new_index(fake: FakeElasticsearch, backend: ElasticsearchBackend) -> None:
    rebuild = backend.begin_rebuild()
    new = fake.one("PUT", r"/hub-messages-v\d{20}").path.strip("/")
    rebuild.abort()
    assert fake.one("DELETE", f"/{new}")
    assert not fake.find("POST", "/_aliases")
    assert fake.aliases[ALIAS] == {"hub-messages-v20260101000000000000"}
