"""The embedded search backend: tantivy (a Rust engine, BM25, from PyPI) in a local folder.

Layout of the folder (HUB_DATA_DIR/search):
    CURRENT          the name of the index searched now (written atomically: the embedded "alias")
    v<timestamp>/    one tantivy index per build; `hub reindex` fills a new one, then swaps CURRENT

Chinese, Japanese and Korean characters are indexed one per token in `text`, and as overlapping pairs
in `text_cjk` (a run 退款申请 gives 退款 款申 申请; the Elasticsearch backend's `cjk` analyzer does the
same). A query run of two characters or more is searched in the pairs: "账单" is one term there, and a
longer run a phrase of pairs, so it matches those characters next to each other and nothing else (not "账"
and "单" apart, nor "退货" for "退款"), about ten times cheaper than a phrase of single characters. A
one-character query is a term of `text`. A run is what the single-character tokens give: consecutive CJK
characters, punctuation between them or not, ended by a word of another script, so both fields agree on
what is "next to each other". Other scripts are split into words, lower-cased, stripped of English stop
words and stemmed. The query side (`_terms`) cuts words exactly as the index does, with the same analyzer,
so positions line up for phrases. Highlighting marks the single characters in `text`.

One process writes (tantivy's lock): the one running the indexer. Any process can search; a searcher
reloads when the index's meta.json or CURRENT changes.
"""

from __future__ import annotations

import contextlib
import html
import logging
import os
import re
import shutil
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tantivy
from tantivy import Filter, Occur, Order, Query, TextAnalyzerBuilder, Tokenizer

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

_CJK_CLASS = "".join(f"\\x{{{lo:X}}}-\\x{{{hi:X}}}" for lo, hi in q._CJK_RANGES)
# One CJK character, or a run of letters and digits of any other script.
_RUST_TOKEN = f"[{_CJK_CLASS}]|[\\p{{L}}\\p{{N}}--{_CJK_CLASS}]+"
_PY_CJK = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in q._CJK_RANGES)
_PY_TOKEN = re.compile(f"[{_PY_CJK}]|(?:(?![{_PY_CJK}])[^\\W_])+")
TOKENIZER = "hub_text"
CJK_TOKENIZER = "hub_cjk_pairs"
# Between two runs in `text_cjk`: a token nobody searches, so that the last pair of a run and the first of
# the next are never next to each other (a phrase of pairs could otherwise match across them).
RUN_BREAK = "|"
KEYWORDS = ("id", "channel", "direction", "agents", "team", "tags", "status", "sentiment", "month", "author")
INTEGERS = ("conversation_id", "customer_id", "team_id", "assignee_id", "sort_key", "version")
BOOLEANS = ("public", "note", "has_attachment")
SNIPPET_CHARS = 160
LIVE_WRITER_HEAP = 48_000_000
REBUILD_WRITER_HEAP = 256_000_000


def analyzer() -> tantivy.TextAnalyzer:
    return (TextAnalyzerBuilder(Tokenizer.regex(_RUST_TOKEN))
            .filter(Filter.remove_long(64))
            .filter(Filter.lowercase())
            .filter(Filter.stopword("english"))
            .filter(Filter.stemmer("english"))
            .build())


def cjk_pairs(text: str) -> str:
    """`text`'s CJK runs as overlapping pairs, space-separated for the whitespace tokenizer of
    `text_cjk`, with RUN_BREAK between runs. A run of one character gives nothing (it is searched in
    `text`)."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if len(run) > 1:
            if out:
                out.append(RUN_BREAK)
            out.extend(run[i] + run[i + 1] for i in range(len(run) - 1))
        run.clear()

    for match in _PY_TOKEN.finditer(text):
        token = match.group()
        if len(token) == 1 and q.is_cjk(token):
            run.append(token)
        else:
            flush()
    flush()
    return " ".join(out)


def build_schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("text", stored=True, tokenizer_name=TOKENIZER)
    sb.add_text_field("text_cjk", stored=False, tokenizer_name=CJK_TOKENIZER)
    sb.add_text_field("customer", stored=True, tokenizer_name=TOKENIZER)
    for name in KEYWORDS:
        sb.add_text_field(name, stored=True, fast=name != "id" and name != "author", tokenizer_name="raw")
    for name in INTEGERS:
        sb.add_integer_field(name, stored=True, indexed=True, fast=True)
    for name in BOOLEANS:
        sb.add_boolean_field(name, stored=True, indexed=True, fast=True)
    sb.add_date_field("created_at", stored=True, indexed=True, fast=True)
    return sb.build()


class IndexOutdated(BackendUnavailable):
    """The index on disk was built by an earlier version of the hub, with other fields."""


def _open(path: Path, schema: tantivy.Schema) -> tantivy.Index:
    try:
        index = tantivy.Index(schema, path=str(path), reuse=True)
    except ValueError as exc:
        if "schema does not match" in str(exc):
            raise IndexOutdated(f"the search index in {path} was built by an earlier version of the hub: "
                                "run `hub reindex` (`hub up` does it by itself)") from exc
        raise
    index.register_tokenizer(TOKENIZER, analyzer())
    index.register_tokenizer(CJK_TOKENIZER, TextAnalyzerBuilder(Tokenizer.whitespace()).build())
    return index


def _to_document(doc: SearchDocument) -> tantivy.Document:
    # Fields read one by one: dataclasses.asdict deep-copies every value and cost four fifths of bulk
    # indexing (bench/search.py).
    out = tantivy.Document()
    pairs = cjk_pairs(doc.text)
    if pairs:
        out.add_text("text_cjk", pairs)
    for name in ("text", "customer", *KEYWORDS):
        value = getattr(doc, name)
        if isinstance(value, tuple):
            for item in value:
                out.add_text(name, item)
        else:
            out.add_text(name, value)
    for name in INTEGERS:
        out.add_integer(name, doc.sort_value if name == "sort_key" else int(getattr(doc, name)))
    for name in BOOLEANS:
        out.add_boolean(name, bool(getattr(doc, name)))
    out.add_date("created_at", doc.created_at.astimezone(UTC))
    return out


def _from_stored(stored: dict[str, list[Any]]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, values in stored.items():
        if name in ("agents", "tags"):
            fields[name] = list(values)
        elif values:
            fields[name] = values[0]
    for name in ("agents", "tags"):
        fields.setdefault(name, [])
    created = fields.get("created_at")
    if isinstance(created, datetime) and created.tzinfo is None:
        fields["created_at"] = created.replace(tzinfo=UTC)
    return fields


class _Writer:
    """Adds documents to one tantivy index, keeping the highest version of each id."""

    def __init__(self, index: tantivy.Index, schema: tantivy.Schema, heap: int, threads: int) -> None:
        self.index = index
        self.schema = schema
        try:
            self.writer = index.writer(heap_size=heap, num_threads=threads)
        except ValueError as exc:  # LockBusy: another process writes this index
            raise BackendUnavailable(f"the embedded index is being written by another process: {exc}") from exc

    def stored_versions(self, ids: list[str]) -> dict[str, int]:
        self.index.reload()
        searcher = self.index.searcher()
        if not ids or searcher.num_docs == 0:
            return {}
        found = searcher.search(Query.term_set_query(self.schema, "id", ids), limit=len(ids) * 2, count=False)
        versions: dict[str, int] = {}
        for _score, address in found.hits:
            stored = searcher.doc(address)
            doc_id, version = stored["id"][0], int(stored["version"][0])
            versions[doc_id] = max(version, versions.get(doc_id, 0))
        return versions

    def add(self, docs: Sequence[SearchDocument], check_versions: bool = True) -> int:
        newest: dict[str, SearchDocument] = {}
        for doc in docs:
            if doc.id not in newest or newest[doc.id].version <= doc.version:
                newest[doc.id] = doc
        stored = self.stored_versions(list(newest)) if check_versions else {}
        added = 0
        for doc_id, doc in newest.items():
            if stored.get(doc_id, -1) > doc.version:
                continue  # a newer state is indexed already
            if doc_id in stored:
                self.writer.delete_documents_by_term("id", doc_id)
            self.writer.add_document(_to_document(doc))
            added += 1
        return added

    def commit(self) -> None:
        try:
            self.writer.commit()
        except (ValueError, OSError) as exc:
            self.writer.rollback()
            raise BackendUnavailable(f"the embedded index could not be written: {exc}") from exc

    def close(self) -> None:
        self.writer.wait_merging_threads()


class EmbeddedRebuild(Rebuild):
    def __init__(self, backend: EmbeddedBackend) -> None:
        self.backend = backend
        self.name = "v" + datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
        self.path = backend.root / self.name
        self.path.mkdir(parents=True)
        self.tantivy_index = _open(self.path, backend.schema)
        self.writer = _Writer(self.tantivy_index, backend.schema, REBUILD_WRITER_HEAP, 2)

    def index(self, docs: Sequence[SearchDocument]) -> None:
        self.writer.add(docs, check_versions=False)  # a new index: each id is written once

    def finish(self) -> None:
        self.writer.commit()
        self.writer.close()
        self.backend.switch_to(self.name)

    def abort(self) -> None:
        try:
            self.writer.writer.rollback()
        finally:
            shutil.rmtree(self.path, ignore_errors=True)


class EmbeddedBackend(SearchBackend):
    name = "embedded"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.schema = build_schema()
        self.analyzer = analyzer()
        self._lock = threading.RLock()
        self._index: tantivy.Index | None = None
        self._current = ""
        self._writer: _Writer | None = None
        self._seen_meta: float = 0.0

    # --- the folder and the current index ---

    def _read_current(self) -> str:
        try:
            return (self.root / "CURRENT").read_text().strip()
        except FileNotFoundError:
            return ""

    def ensure_index(self) -> None:
        """Create the folder and an empty index. An index of an earlier version stays as it is: only a
        rebuild (`hub reindex`, which `hub up` runs by itself) can fill its replacement."""
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            if not self._read_current():
                name = "v" + datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
                (self.root / name).mkdir()
                _open(self.root / name, self.schema)
                self._write_current(name)
            with contextlib.suppress(IndexOutdated):
                self._current_index()

    def outdated(self) -> bool:
        with self._lock:
            if not self._read_current():
                return False
            try:
                self._current_index()
            except IndexOutdated:
                return True
            return False

    def _write_current(self, name: str) -> None:
        tmp = self.root / "CURRENT.tmp"
        tmp.write_text(name)
        os.replace(tmp, self.root / "CURRENT")

    def _current_index(self) -> tantivy.Index:
        """The index CURRENT names, reopened when another process swapped it, reloaded when committed to."""
        name = self._read_current()
        if not name:
            self.ensure_index()
            name = self._read_current()
        if self._index is None or name != self._current:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            self._index = _open(self.root / name, self.schema)
            self._current = name
            self._seen_meta = 0.0
        try:
            meta = (self.root / name / "meta.json").stat().st_mtime
        except FileNotFoundError:
            meta = 0.0
        if meta != self._seen_meta:
            self._index.reload()
            self._seen_meta = meta
        return self._index

    def switch_to(self, name: str) -> None:
        """Point CURRENT at a finished rebuild and drop the other indexes."""
        with self._lock:
            self._write_current(name)
            self._current_index()
            for path in self.root.iterdir():
                if path.is_dir() and path.name.startswith("v") and path.name != name:
                    shutil.rmtree(path, ignore_errors=True)

    def _live_writer(self) -> _Writer:
        index = self._current_index()
        if self._writer is None:
            self._writer = _Writer(index, self.schema, LIVE_WRITER_HEAP, 1)
        return self._writer

    # --- writes ---

    def index(self, docs: Sequence[SearchDocument]) -> None:
        if not docs:
            return
        with self._lock:
            writer = self._live_writer()
            writer.add(docs)
            writer.commit()

    def delete(self, *, ids: Iterable[str] = (), conversation_ids: Iterable[int] = (),
               customer_ids: Iterable[int] = ()) -> None:
        with self._lock:
            writer = self._live_writer()
            for doc_id in ids:
                writer.writer.delete_documents_by_term("id", doc_id)
            for conversation_id in conversation_ids:
                writer.writer.delete_documents_by_term("conversation_id", int(conversation_id))
            for customer_id in customer_ids:
                writer.writer.delete_documents_by_term("customer_id", int(customer_id))
            writer.commit()

    def refresh(self) -> None:
        with self._lock:
            self._current_index().reload()

    def count(self) -> int:
        with self._lock:
            return int(self._current_index().searcher().num_docs)

    def health(self) -> Health:
        try:
            docs = self.count()
        except Exception as exc:
            return Health(False, f"embedded index at {self.root} unreadable: {exc}")
        return Health(True, f"embedded index at {self.root}, {docs} documents")

    def begin_rebuild(self) -> Rebuild:
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            return EmbeddedRebuild(self)

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            self._index = None
            self._current = ""

    # --- queries ---

    def _terms(self, text: str) -> list[tuple[str, int]]:
        """The index's terms for `text`, each with its position (stop words leave a gap, as in the index)."""
        terms: list[tuple[str, int]] = []
        for position, match in enumerate(_PY_TOKEN.finditer(text)):
            analysed = self.analyzer.analyze(match.group())
            if analysed:
                terms.append((analysed[0], position))
        return terms

    def _phrase(self, field: str, text: str) -> Query | None:
        terms = self._terms(text)
        if not terms:
            return None
        if len(terms) == 1:
            return Query.term_query(self.schema, field, terms[0][0])
        start = terms[0][1]
        return Query.phrase_query(self.schema, field, [(pos - start, term) for term, pos in terms])

    def _pairs(self, run: str) -> Query | None:
        """A CJK run of two characters or more, in the pairs of `text_cjk` (None: a run of one)."""
        chars = [t for t, _ in self._terms(run)]
        if len(chars) < 2:
            return None
        pairs = [chars[i] + chars[i + 1] for i in range(len(chars) - 1)]
        if len(pairs) == 1:
            return Query.term_query(self.schema, "text_cjk", pairs[0])
        return Query.phrase_query(self.schema, "text_cjk", list(enumerate(pairs)))

    def _text(self, text: str, *, highlight: bool = False) -> Query | None:
        """Free text as a query. `highlight`: in single characters of `text` only, which is what the
        snippet generator can mark."""
        parts: list[Query] = []
        for cjk, run in q.split_scripts(text):
            if cjk:
                phrase = (None if highlight else self._pairs(run)) or self._phrase("text", run)
                if phrase is not None:
                    parts.append(phrase)
            else:
                parts.extend(Query.term_query(self.schema, "text", term) for term, _ in self._terms(run))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else Query.boolean_query([(Occur.Must, p) for p in parts])

    def compile(self, node: q.Node) -> Query:
        """The tantivy query for a tree. Filters score nothing, so relevance comes from the text alone."""
        if isinstance(node, q.MatchAll):
            return Query.all_query()
        if isinstance(node, q.Text):
            return self._text(node.text) or Query.all_query()
        if isinstance(node, q.Phrase):
            runs = q.split_scripts(node.text.strip())
            if len(runs) == 1 and runs[0][0]:  # all Chinese: the pairs say the same, cheaper
                return self._pairs(runs[0][1]) or self._phrase("text", node.text) or Query.all_query()
            return self._phrase("text", node.text) or Query.all_query()
        if isinstance(node, q.CustomerName):
            return self._phrase("customer", node.text) or Query.all_query()
        if isinstance(node, q.Keyword):
            return Query.const_score_query(Query.term_query(self.schema, node.field, node.value), 0.0)
        if isinstance(node, q.KeywordIn):
            return Query.const_score_query(Query.term_set_query(self.schema, node.field, list(node.values)), 0.0)
        if isinstance(node, q.Flag):
            return Query.const_score_query(Query.term_query(self.schema, node.field, node.value), 0.0)
        if isinstance(node, q.DateRange):
            if node.start is None and node.end is None:
                return Query.all_query()
            return Query.const_score_query(Query.range_query(
                self.schema, "created_at", tantivy.FieldType.Date,
                node.start.astimezone(UTC) if node.start else None,
                node.end.astimezone(UTC) if node.end else None,
                include_lower=True, include_upper=node.end is None), 0.0)
        if isinstance(node, q.SortKeyRange):
            if node.above is None and node.below is None:
                return Query.all_query()
            return Query.const_score_query(Query.range_query(
                self.schema, "sort_key", tantivy.FieldType.Integer, node.above, node.below,
                include_lower=node.above is None, include_upper=node.below is None), 0.0)
        if isinstance(node, q.Not):
            return Query.boolean_query([(Occur.Must, Query.all_query()), (Occur.MustNot, self.compile(node.node))])
        if isinstance(node, q.And):
            return Query.boolean_query([(Occur.Must, self.compile(n)) for n in node.nodes])
        if isinstance(node, q.Or):
            return Query.boolean_query([(Occur.Should, self.compile(n)) for n in node.nodes])
        raise TypeError(f"cannot compile {node!r}")

    def _visible(self, request: BackendQuery) -> Query | None:
        vis = request.visibility
        if vis.team_ids is None:
            return None
        # Term queries in a boolean: about half the time of a term set for an agent's few teams.
        clauses = [(Occur.Should, Query.term_query(self.schema, "team_id", team)) for team in (*vis.team_ids, 0)]
        clauses.append((Occur.Should, Query.term_query(self.schema, "assignee_id", vis.user_id)))
        return Query.const_score_query(Query.boolean_query(clauses), 0.0)

    def search(self, request: BackendQuery) -> BackendResult:
        with self._lock:
            index = self._current_index()
        searcher = index.searcher()
        text_query = self.compile(request.query)
        visible = self._visible(request)
        query = text_query if visible is None else Query.boolean_query(
            [(Occur.Must, text_query), (Occur.Must, visible)])
        page_query = query
        if request.sort != "relevance" and request.after:
            bound = int(request.after[-1])
            desc = request.sort == "newest"
            cursor = Query.range_query(self.schema, "sort_key", tantivy.FieldType.Integer,
                                       None if desc else bound, bound if desc else None,
                                       include_lower=desc, include_upper=not desc)
            page_query = Query.boolean_query([(Occur.Must, query), (Occur.Must, cursor)])
        if request.sort == "relevance":
            found = searcher.search(page_query, limit=max(request.limit, 1), count=True, offset=request.offset)
        else:
            found = searcher.search(page_query, limit=max(request.limit, 1), count=True, order_by_field="sort_key",
                                    order=Order.Desc if request.sort == "newest" else Order.Asc)
        total = found.count if page_query is query else searcher.search(query, limit=1, count=True).count  # type: ignore[attr-defined]
        snippets = None
        if request.highlight:
            # Only what the user looks for is marked: not excluded words, not filters.
            positive = [self._text(t, highlight=True) for t in q.text_parts(request.query)]
            marked = Query.boolean_query([(Occur.Should, p) for p in positive if p is not None]) \
                if any(p is not None for p in positive) else Query.empty_query()
            snippets = tantivy.SnippetGenerator.create(searcher, marked, self.schema, "text")
            snippets.set_max_num_chars(SNIPPET_CHARS)
        hits: list[BackendHit] = []
        for key, address in found.hits[:request.limit]:
            stored = searcher.doc(address)
            fields = _from_stored(stored.to_dict())
            score = float(key) if request.sort == "relevance" else 0.0
            sort_key = (score, fields["sort_key"]) if request.sort == "relevance" else (int(key),)
            highlight = _snippet_html(snippets.snippet_from_doc(stored), fields.get("text", "")) if snippets else ""
            hits.append(BackendHit(id=fields["id"], conversation_id=int(fields["conversation_id"]), score=score,
                                   sort_key=sort_key, fields=fields, highlight=highlight))
        facets: dict[str, list[tuple[str, int]]] = {}
        conversations = None
        if request.facets or request.count_conversations:
            # One pass over the matching documents for both (the query is evaluated once).
            facets, conversations = self._aggregate(searcher, query, request)
        return BackendResult(total=int(total or 0), hits=hits, facets=facets, conversations=conversations)

    def _aggregate(self, searcher: tantivy.Searcher, query: Query, request: BackendQuery
                   ) -> tuple[dict[str, list[tuple[str, int]]], int | None]:
        spec: dict[str, Any] = {}
        if request.count_conversations:
            spec["_conversations"] = {"cardinality": {"field": "conversation_id"}}
        for name in request.facets:
            size = request.limit if name == "conversation" else 50
            agg: dict[str, Any] = {"terms": {"field": FACET_FIELDS[name], "size": size}}
            if request.facets_by_conversation:
                agg["aggs"] = {"conversations": {"cardinality": {"field": "conversation_id"}}}
            spec[name] = agg
        result = searcher.aggregate(query, spec)
        facets: dict[str, list[tuple[str, int]]] = {}
        for name in request.facets:
            buckets = [(_key(b["key"]), int(b["conversations"]["value"]) if request.facets_by_conversation
                        else int(b["doc_count"])) for b in result.get(name, {}).get("buckets", []) if b["key"] != ""]
            if name == "month":
                buckets.sort(key=lambda kv: kv[0])
            else:
                buckets.sort(key=lambda kv: (-kv[1], kv[0]))
            facets[name] = buckets
        conversations = int(result["_conversations"]["value"] or 0) if request.count_conversations else None
        return facets, conversations


def _key(value: Any) -> str:
    """Bucket keys as text; numeric fields come back as floats (3.0 -> "3")."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _snippet_html(snippet: tantivy.Snippet, text: str) -> str:
    """Escaped HTML of the snippet with <mark> around the matches; neighbouring matches (the characters of
    a Chinese word) become one mark. Offsets from tantivy are UTF-8 byte offsets into the fragment."""
    fragment = snippet.fragment()
    if not fragment:
        short = text[:SNIPPET_CHARS]
        return html.escape(short) + ("…" if len(text) > SNIPPET_CHARS else "")
    data = fragment.encode()
    ranges = sorted((r.start, r.end) for r in snippet.highlighted())
    merged: list[list[int]] = []
    for start, end in ranges:
        if merged and (start <= merged[-1][1] or (start == merged[-1][1] and _is_cjk_bytes(data, start))):
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out: list[str] = []
    pos = 0
    for start, end in merged:
        out.append(html.escape(data[pos:start].decode(errors="replace")))
        out.append("<mark>" + html.escape(data[start:end].decode(errors="replace")) + "</mark>")
        pos = end
    out.append(html.escape(data[pos:].decode(errors="replace")))
    prefix = "…" if not text.startswith(fragment) else ""
    suffix = "…" if not text.endswith(fragment) else ""
    return prefix + "".join(out) + suffix


def _is_cjk_bytes(data: bytes, start: int) -> bool:
    char = data[start:start + 4].decode(errors="ignore")[:1]
    return bool(char) and q.is_cjk(char)
