"""The Elasticsearch search backend (HUB_ELASTICSEARCH_URL), on the official `elasticsearch` client 8.x.

Layout on the cluster, for an `index` of "hub-messages":
    hub-messages                   an ALIAS: every read and live write goes through it
    hub-messages-v<timestamp>      the real index behind it; `hub reindex` fills a new one, then swaps the alias
    hub-messages (template)        an index template (pattern hub-messages-v*): settings and mappings, so every
                                   versioned index is created alike

Analysis: `text` uses the built-in `english` analyzer (stemming, stop words; its standard tokenizer cuts
Chinese into single characters) with a `text.cjk` subfield on the built-in `cjk` analyzer (overlapping
bigrams). A run of two or more CJK characters is searched as a phrase of bigrams on `text.cjk`, which finds
exactly the documents holding those characters next to each other, like the embedded backend ("账单" finds
"我的账单有问题", "退款" does not find "退货"). The `smartcn` plugin is not used even where present: a word
segmenter decides where words end, so a query for part of a segmented word would find nothing, and changing
the analyzer of an existing field needs a reindex; bigrams keep both backends' answers the same.

Every document is written with external versioning (`version_type=external_gte`, the change number): an
older state never replaces a newer one, and the same state may be sent again (reindex, a retried batch).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ApiError, ConnectionTimeout, Elasticsearch, NotFoundError
from elasticsearch import ConnectionError as TransportConnectionError
from elasticsearch.helpers import streaming_bulk

from search import query as q
from search.backend import (
    FACET_FIELDS,
    BackendHit,
    BackendQuery,
    BackendResult,
    BackendUnavailable,
    Health,
    Rebuild,
    SearchBackend,
    SearchDocument,
)

logger = logging.getLogger(__name__)

KEYWORDS = ("id", "channel", "direction", "agents", "team", "tags", "status", "sentiment", "month")
LONGS = ("conversation_id", "customer_id", "team_id", "assignee_id", "sort_key", "version")
BOOLEANS = ("public", "note", "has_attachment")
# Elasticsearch's index.max_result_window: from + size past it is refused. Deep pages sort by date and go on
# with search_after, which has no such limit (search/service.py stops relevance pages well before it).
MAX_RESULT_WINDOW = 10_000
SNIPPET_CHARS = 160
FACET_SIZE = 50
# Exact up to 40,000 distinct conversations per bucket (the most Elasticsearch allows), approximate past it.
CARDINALITY_PRECISION = 40_000
BULK_CHUNK_DOCS = 500
# Well under http.max_content_length (100 MB): a long e-mail thread must not make one request too large.
BULK_CHUNK_BYTES = 10 * 1024 * 1024
# Filters that never score: they go in a bool's filter context, where Elasticsearch can cache them.
_FILTER_NODES = (q.Keyword, q.KeywordIn, q.Flag, q.DateRange, q.SortKeyRange, q.Not)


# --- Index layout ---------------------------------------------------------------------------------------

def mappings() -> dict[str, Any]:
    """The mapping of every versioned index. Strict: a field the code forgot to map is an error at write
    time, not a silently unsearchable dynamic field."""
    cjk = {"cjk": {"type": "text", "analyzer": "cjk"}}
    properties: dict[str, Any] = {
        "text": {"type": "text", "analyzer": "english", "fields": cjk},
        "customer": {"type": "text", "analyzer": "standard", "fields": cjk},
        # Shown in results only, never searched or counted.
        "author": {"type": "keyword", "index": False, "doc_values": False},
        "created_at": {"type": "date"},
    }
    properties.update({name: {"type": "keyword"} for name in KEYWORDS})
    properties.update({name: {"type": "long"} for name in LONGS})
    properties.update({name: {"type": "boolean"} for name in BOOLEANS})
    return {"dynamic": "strict", "properties": properties}


def index_settings(*, shards: int, replicas: int, refresh_interval: str) -> dict[str, Any]:
    return {"index": {"number_of_shards": shards, "number_of_replicas": replicas,
                      "refresh_interval": refresh_interval}}


def versioned_name(alias: str) -> str:
    return f"{alias}-v{datetime.now(UTC).strftime('%Y%m%d%H%M%S%f')}"


# --- Documents ------------------------------------------------------------------------------------------

def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def to_source(doc: SearchDocument) -> dict[str, Any]:
    """Every field of the document (so the strict mapping catches a new one), and the date sort key."""
    source: dict[str, Any] = {}
    for f in dataclasses.fields(doc):
        value = getattr(doc, f.name)
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, datetime):
            value = _iso(value)
        source[f.name] = value
    source["sort_key"] = doc.sort_value
    return source


def from_source(source: dict[str, Any]) -> dict[str, Any]:
    fields = dict(source)
    created = fields.get("created_at")
    if isinstance(created, str):
        parsed = datetime.fromisoformat(created)
        fields["created_at"] = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    for name in ("agents", "tags"):
        value = fields.get(name)
        fields[name] = list(value) if isinstance(value, list) else ([value] if value else [])
    return fields


def _index_actions(docs: Iterable[SearchDocument], target: str) -> Iterator[dict[str, Any]]:
    for doc in docs:
        # `_source` given explicitly: the helper would otherwise take the document's own `version` field
        # for the action's metadata.
        yield {"_op_type": "index", "_index": target, "_id": doc.id, "_version": doc.version,
               "_version_type": "external_gte", "_source": to_source(doc)}


# --- Query compilation ----------------------------------------------------------------------------------

def _text(text: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    for cjk, run in q.split_scripts(text):
        if not run.strip():
            continue
        if cjk and len(run) >= 2:
            parts.append({"match_phrase": {"text.cjk": {"query": run, "zero_terms_query": "all"}}})
        elif cjk:
            # The cjk analyzer makes bigrams only: a lone character is a unigram of `text`'s standard tokenizer.
            parts.append({"match": {"text": {"query": run}}})
        else:
            # Stop words alone analyse to nothing: match everything, as the embedded backend does, not nothing.
            parts.append({"match": {"text": {"query": run, "operator": "and", "zero_terms_query": "all"}}})
    if not parts:
        return {"match_all": {}}
    return parts[0] if len(parts) == 1 else {"bool": {"must": parts}}


def compile_query(node: q.Node) -> dict[str, Any]:
    """The query DSL for a tree (search/query.py)."""
    if isinstance(node, q.MatchAll):
        return {"match_all": {}}
    if isinstance(node, q.Text):
        return _text(node.text)
    if isinstance(node, q.Phrase):
        return {"match_phrase": {"text": {"query": node.text, "zero_terms_query": "all"}}}
    if isinstance(node, q.CustomerName):
        return {"match_phrase": {"customer": {"query": node.text, "zero_terms_query": "all"}}}
    if isinstance(node, (q.Keyword, q.Flag)):
        return {"term": {node.field: node.value}}
    if isinstance(node, q.KeywordIn):
        return {"terms": {node.field: list(node.values)}}
    if isinstance(node, q.DateRange):
        bounds: dict[str, Any] = {}
        if node.start is not None:
            bounds["gte"] = _iso(node.start)
        if node.end is not None:
            bounds["lt"] = _iso(node.end)
        return {"range": {"created_at": bounds}} if bounds else {"match_all": {}}
    if isinstance(node, q.SortKeyRange):
        keys: dict[str, Any] = {}
        if node.above is not None:
            keys["gt"] = node.above
        if node.below is not None:
            keys["lt"] = node.below
        return {"range": {"sort_key": keys}} if keys else {"match_all": {}}
    if isinstance(node, q.Not):
        return {"bool": {"must_not": [compile_query(node.node)]}}
    if isinstance(node, q.And):
        must = [compile_query(n) for n in node.nodes if not isinstance(n, _FILTER_NODES)]
        filters = [compile_query(n) for n in node.nodes if isinstance(n, _FILTER_NODES)]
        clauses: dict[str, Any] = {}
        if must:
            clauses["must"] = must
        if filters:
            clauses["filter"] = filters
        return {"bool": clauses}
    if isinstance(node, q.Or):
        return {"bool": {"should": [compile_query(n) for n in node.nodes], "minimum_should_match": 1}}
    raise TypeError(f"cannot compile {node!r}")


def visibility_filter(request: BackendQuery) -> dict[str, Any] | None:
    """hub/access.py as a filter: the user's teams, conversations of no team, and their own."""
    vis = request.visibility
    if vis.team_ids is None:
        return None
    return {"bool": {"should": [{"terms": {"team_id": [*vis.team_ids, 0]}},
                                {"term": {"assignee_id": vis.user_id}}],
                     "minimum_should_match": 1}}


def _highlight(request: BackendQuery) -> dict[str, Any]:
    # Only what the user looks for is marked: not excluded words (a Not's text), not filters.
    parts = [compile_query(q.Text(t)) for t in q.text_parts(request.query)]
    marked: dict[str, Any] = ({"bool": {"should": parts}} if len(parts) > 1 else parts[0]) if parts \
        else {"match_none": {}}
    return {
        "pre_tags": ["<mark>"], "post_tags": ["</mark>"],
        "encoder": "html",   # message text is untrusted: everything but the marks comes back escaped
        "fragment_size": SNIPPET_CHARS, "number_of_fragments": 1,
        "no_match_size": SNIPPET_CHARS,   # a hit found by filters alone still gets the start of its text
        "highlight_query": marked,
        "fields": {"text": {}, "text.cjk": {}},
    }


def search_body(request: BackendQuery) -> dict[str, Any]:
    """The body of the _search request for `request`."""
    query = compile_query(request.query)
    visible = visibility_filter(request)
    if visible is not None:
        # Part of the query itself: totals, facets and snippets never see what the user may not open.
        query = {"bool": {"must": [query], "filter": [visible]}}
    body: dict[str, Any] = {"query": query, "track_total_hits": True}
    if request.sort == "relevance":
        body["sort"] = [{"_score": {"order": "desc"}}, {"sort_key": {"order": "desc"}}]
        start = min(max(request.offset, 0), MAX_RESULT_WINDOW)
        body["from"] = start
        body["size"] = max(0, min(request.limit, MAX_RESULT_WINDOW - start))
    else:
        body["sort"] = [{"sort_key": {"order": "desc" if request.sort == "newest" else "asc"}}]
        body["size"] = max(0, min(request.limit, MAX_RESULT_WINDOW))
        if request.after:
            body["search_after"] = list(request.after)
    aggs: dict[str, Any] = {}
    for name in request.facets:
        terms: dict[str, Any] = {"field": FACET_FIELDS[name],
                                 "size": max(request.limit, 1) if name == "conversation" else FACET_SIZE}
        agg: dict[str, Any] = {"terms": terms}
        if request.facets_by_conversation:
            agg["aggs"] = {"conversations": {"cardinality": {"field": "conversation_id",
                                                             "precision_threshold": CARDINALITY_PRECISION}}}
            # Rank buckets by what is shown (conversations), not by message count.
            terms["order"] = [{"conversations": "desc"}, {"_key": "asc"}]
        aggs[f"facet_{name}"] = agg
    if request.count_conversations:
        aggs["conversation_count"] = {"cardinality": {"field": "conversation_id",
                                                      "precision_threshold": CARDINALITY_PRECISION}}
    if aggs:
        body["aggs"] = aggs
    if request.highlight:
        body["highlight"] = _highlight(request)
    return body


# --- Responses ------------------------------------------------------------------------------------------

def _key(bucket: dict[str, Any]) -> str:
    return str(bucket.get("key_as_string", bucket["key"]))


def parse_response(request: BackendQuery, body: dict[str, Any]) -> BackendResult:
    hits: list[BackendHit] = []
    for raw in body.get("hits", {}).get("hits", []):
        fields = from_source(raw.get("_source", {}))
        highlight = raw.get("highlight", {})
        cjk = (highlight.get("text.cjk") or [""])[0]
        snippet = cjk if "<mark>" in cjk else (highlight.get("text") or [""])[0]
        hits.append(BackendHit(id=str(raw["_id"]), conversation_id=int(fields["conversation_id"]),
                               score=float(raw.get("_score") or 0.0), sort_key=tuple(raw.get("sort", ())),
                               fields=fields, highlight=snippet))
    total = body.get("hits", {}).get("total", {})
    aggs = body.get("aggregations", {})
    facets: dict[str, list[tuple[str, int]]] = {}
    for name in request.facets:
        buckets = [(_key(b), int(b["conversations"]["value"]) if request.facets_by_conversation
                    else int(b["doc_count"]))
                   for b in aggs.get(f"facet_{name}", {}).get("buckets", []) if _key(b) != ""]
        if name == "month":
            buckets.sort(key=lambda kv: kv[0])
        else:
            buckets.sort(key=lambda kv: (-kv[1], kv[0]))
        facets[name] = buckets
    conversations = None
    if request.count_conversations:
        conversations = int(aggs.get("conversation_count", {}).get("value") or 0)
    return BackendResult(total=int(total.get("value", 0) if isinstance(total, dict) else total),
                         hits=hits, facets=facets, conversations=conversations)


# --- Errors ---------------------------------------------------------------------------------------------

class _MissingIndex(Exception):
    """A write found no index behind the alias (a wiped cluster): ensure_index, then write again."""


def _unavailable(exc: Exception) -> BackendUnavailable:
    if isinstance(exc, ApiError):
        return BackendUnavailable(f"Elasticsearch answered {exc.status_code}: {exc.message}")
    return BackendUnavailable(f"Elasticsearch unreachable: {exc}")


# No answer at all: refused, reset, TLS failure, or no answer within request_timeout.
_DOWN = (TransportConnectionError, ConnectionTimeout)


# --- The backend ----------------------------------------------------------------------------------------

class ElasticsearchRebuild(Rebuild):
    """A new versioned index, loaded with refresh off, then swapped in behind the alias."""

    def __init__(self, backend: ElasticsearchBackend) -> None:
        self.backend = backend
        self.name = versioned_name(backend.alias)
        client = backend.client
        try:
            backend.put_template()   # a reindex is how a mapping change reaches the data: take the current one
            # Settings here override the template's: no refresh and no replicas while bulk loading.
            client.indices.create(index=self.name, settings={"index": {"refresh_interval": "-1",
                                                                       "number_of_replicas": 0}})
        except (ApiError, *_DOWN) as exc:
            raise _unavailable(exc) from exc

    def index(self, docs: Sequence[SearchDocument]) -> None:
        if not docs:
            return
        try:
            self.backend.write(_index_actions(docs, self.name), require_alias=False)
        except _MissingIndex as exc:
            raise BackendUnavailable(f"the index being rebuilt, {self.name}, is gone: {exc}") from exc

    def finish(self) -> None:
        client = self.backend.client
        alias = self.backend.alias
        try:
            client.indices.put_settings(index=self.name, settings={"index": {
                "refresh_interval": self.backend.refresh_interval,
                "number_of_replicas": self.backend.replicas}})
            client.indices.refresh(index=self.name)
            old = [name for name in self.backend.aliased_indices() if name != self.name]
            # One request, applied atomically: searches see the old index until the new one replaces it.
            actions: list[dict[str, Any]] = [{"remove": {"index": name, "alias": alias}} for name in old]
            actions.append({"add": {"index": self.name, "alias": alias}})
            client.indices.update_aliases(actions=actions)
            if old:
                # Only what the alias pointed at: another unaliased versioned index may be a rebuild under way.
                client.options(ignore_status=404).indices.delete(index=old)
        except (ApiError, *_DOWN) as exc:
            raise _unavailable(exc) from exc

    def abort(self) -> None:
        try:
            self.backend.client.options(ignore_status=404).indices.delete(index=self.name)
        except (ApiError, *_DOWN) as exc:
            raise _unavailable(exc) from exc


class ElasticsearchBackend(SearchBackend):
    """`index` names the alias. `replicas` defaults to 0: docker-compose runs a single node, where a replica
    can never be allocated and would keep the cluster yellow forever; and the index holds nothing the
    database does not, so a lost shard costs a `hub reindex`, not data. A multi-node cluster can pass 1 to
    keep searching through the loss of a node."""

    name = "elasticsearch"

    def __init__(self, url: str, index: str, *, client: Elasticsearch | None = None, request_timeout: float = 10,
                 replicas: int = 0, shards: int = 1, refresh_interval: str = "1s") -> None:
        self.url = url
        self.alias = index
        self.template = index   # templates have their own namespace: the alias's name is free there
        self.replicas = replicas
        self.shards = shards
        self.refresh_interval = refresh_interval
        self.request_timeout = request_timeout
        self.client = client if client is not None else Elasticsearch(url, request_timeout=request_timeout)

    # --- the index ---

    def put_template(self) -> None:
        self.client.indices.put_index_template(
            # Priority above the built-in templates (100), should a pattern of theirs ever overlap ours.
            name=self.template, index_patterns=[f"{self.alias}-v*"], priority=200,
            template={"settings": index_settings(shards=self.shards, replicas=self.replicas,
                                                 refresh_interval=self.refresh_interval),
                      "mappings": mappings()})

    def aliased_indices(self) -> list[str]:
        """The indices behind the alias (none when it does not exist)."""
        try:
            return sorted(self.client.indices.get_alias(name=self.alias).body)
        except NotFoundError:
            return []

    def ensure_index(self) -> None:
        try:
            self.put_template()
            if not self.client.indices.exists_alias(name=self.alias):
                # The alias comes with the index in the same request: never an index without it, or the alias
                # briefly missing.
                self.client.indices.create(index=versioned_name(self.alias), aliases={self.alias: {}})
                return
            current = mappings()
            try:
                # Additive migration: new fields reach the live index without a reindex.
                self.client.indices.put_mapping(index=self.alias, dynamic=current["dynamic"],
                                                properties=current["properties"])
            except ApiError as exc:
                if exc.status_code != 400:
                    raise
                logger.warning("search: the Elasticsearch mapping of %s changed in a way only a new index can "
                               "take (run `hub reindex`): %s", self.alias, exc.message)
            # Dynamic settings follow the configuration (the template only reaches new indices).
            self.client.indices.put_settings(index=self.alias, settings={"index": {
                "number_of_replicas": self.replicas, "refresh_interval": self.refresh_interval}})
        except (ApiError, *_DOWN) as exc:
            raise _unavailable(exc) from exc

    # --- writes ---

    def write(self, actions: Iterable[dict[str, Any]], *, require_alias: bool) -> None:
        """Send bulk actions. A version conflict means a newer state is there already and a missing document
        to delete is gone already: both fine. A document the mapping refuses is logged and skipped, or it
        would block the backlog forever. Anything else (overload, a node failing, no connection) raises
        BackendUnavailable: the caller keeps its backlog and sends the whole batch again, which is safe."""
        try:
            for ok, item in streaming_bulk(self.client, actions, chunk_size=BULK_CHUNK_DOCS,
                                           max_chunk_bytes=BULK_CHUNK_BYTES, raise_on_error=False,
                                           raise_on_exception=True, require_alias=require_alias or None):
                if ok:
                    continue
                op, info = next(iter(item.items()))
                status = int(info.get("status", 500))
                error = info.get("error") or {}
                kind = error.get("type", "") if isinstance(error, dict) else str(error)
                if status == 409 or (status == 404 and op == "delete" and kind != "index_not_found_exception"):
                    continue
                if status == 404 and kind == "index_not_found_exception":
                    raise _MissingIndex(str(error))
                if status == 400:
                    reason = error.get("reason", error) if isinstance(error, dict) else error
                    logger.error("search: Elasticsearch refused document %s (%s), skipped: %s",
                                 info.get("_id"), kind, reason)
                    continue
                raise BackendUnavailable(f"Elasticsearch refused document {info.get('_id')}: {status} {error}")
        except (ApiError, *_DOWN) as exc:
            raise _unavailable(exc) from exc

    def _write_live(self, make_actions: Callable[[], Iterable[dict[str, Any]]]) -> None:
        # require_alias: a write to the alias must never auto-create a plain index of that name (with
        # dynamic mappings) when the alias is gone; recreate it properly and send the batch again instead.
        try:
            self.write(make_actions(), require_alias=True)
        except _MissingIndex:
            logger.warning("search: no Elasticsearch index behind %s: creating it (run `hub reindex` to "
                           "index what came before)", self.alias)
            self.ensure_index()
            try:
                self.write(make_actions(), require_alias=True)
            except _MissingIndex as exc:
                raise BackendUnavailable(f"no index behind the alias {self.alias}: {exc}") from exc

    def index(self, docs: Sequence[SearchDocument]) -> None:
        if docs:
            self._write_live(lambda: _index_actions(docs, self.alias))

    def delete(self, *, ids: Iterable[str] = (), conversation_ids: Iterable[int] = (),
               customer_ids: Iterable[int] = ()) -> None:
        ids = list(ids)
        conversations = [int(c) for c in conversation_ids]
        customers = [int(c) for c in customer_ids]
        if ids:
            self._write_live(lambda: ({"_op_type": "delete", "_index": self.alias, "_id": i} for i in ids))
        should: list[dict[str, Any]] = []
        if conversations:
            should.append({"terms": {"conversation_id": conversations}})
        if customers:
            should.append({"terms": {"customer_id": customers}})
        if not should:
            return
        try:
            # conflicts=proceed: a document rewritten meanwhile is skipped, not a reason to stop half-way.
            result = self.client.delete_by_query(
                index=self.alias, query={"bool": {"should": should, "minimum_should_match": 1}},
                conflicts="proceed", refresh=True, wait_for_completion=True)
        except NotFoundError:
            return   # no index: nothing to delete
        except (ApiError, *_DOWN) as exc:
            raise _unavailable(exc) from exc
        if result.body.get("failures") or result.body.get("timed_out"):
            raise BackendUnavailable(f"Elasticsearch deleted only part of the documents: "
                                     f"{result.body.get('failures') or 'timed out'}")

    def refresh(self) -> None:
        try:
            self.client.indices.refresh(index=self.alias)
        except NotFoundError:
            return
        except (ApiError, *_DOWN) as exc:
            raise _unavailable(exc) from exc

    # --- reads ---

    def search(self, request: BackendQuery) -> BackendResult:
        body = search_body(request)
        try:
            response = self.client.search(index=self.alias, body=body)
        except NotFoundError:
            # No index yet (ensure_index has not run): nothing is searchable, which is not an outage.
            return BackendResult(total=0, hits=[], facets={name: [] for name in request.facets},
                                 conversations=0 if request.count_conversations else None)
        except ApiError as exc:
            # A 400 is a query this module compiled wrongly: a bug to see, not an outage to wait out.
            if exc.status_code in (401, 403, 429) or exc.status_code >= 500:
                raise _unavailable(exc) from exc
            raise
        except _DOWN as exc:
            raise _unavailable(exc) from exc
        return parse_response(request, response.body)

    def count(self) -> int:
        try:
            return int(self.client.count(index=self.alias)["count"])
        except NotFoundError:
            return 0
        except (ApiError, *_DOWN) as exc:
            raise _unavailable(exc) from exc

    def health(self) -> Health:
        try:
            # A readiness probe must answer quickly: no retries, a short timeout.
            body = self.client.options(request_timeout=min(self.request_timeout, 5.0), max_retries=0) \
                .cluster.health().body
        except Exception as exc:  # a probe reports, it does not fail
            return Health(False, f"Elasticsearch unreachable: {exc}")
        status = str(body.get("status", "unknown"))
        return Health(status in ("green", "yellow"),
                      f"Elasticsearch cluster {body.get('cluster_name', '?')} is {status} "
                      f"({body.get('number_of_nodes', '?')} nodes), index {self.alias}")

    def begin_rebuild(self) -> Rebuild:
        return ElasticsearchRebuild(self)

    def close(self) -> None:
        self.client.close()
