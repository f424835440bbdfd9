"""Searching as a user: the query parsed, the user's permissions made part of it, results grouped by
conversation or listed per message, pages continued with a cursor, and every hit checked against the
database before it is shown (the index may lag a change of team or an erasure by a moment).

Pages of conversations: conversations are ordered by their best message (the most relevant, or the newest
or oldest with a date sort). Date-sorted pages continue from the sort key of the last message read, so they
go as deep as the results do; a conversation that already led an earlier page is recognised by having a
matching message before that point, and skipped. Relevance-sorted pages go MAX_RELEVANCE_CONVERSATIONS
conversations (or MAX_RELEVANCE_HITS messages) deep: past that, ranking is noise and a date sort serves.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User

from hub.access import agent_of, sees_everything, visible_conversations
from hub.models import Conversation
from search import query as q
from search.backend import BackendHit, BackendQuery, BackendResult, Sort, Visibility, get_backend

Mode = Literal["conversations", "messages"]
FACETS = ("channel", "agent", "team", "tag", "month")
MATCHES_PER_CONVERSATION = 3
MAX_RELEVANCE_HITS = 5000
MAX_RELEVANCE_CONVERSATIONS = 500
MAX_PAGE_SIZE = 100
EXPORT_BATCH = 500


class CursorError(ValueError):
    pass


@dataclass(frozen=True)
class Params:
    q: str = ""
    mode: Mode = "conversations"
    sort: Sort = "relevance"
    page_size: int = 20
    cursor: str = ""
    facets: bool = True


@dataclass
class Match:
    id: str
    kind: Literal["message", "note"]
    row_id: int
    direction: str
    channel: str
    author: str
    public: bool
    created_at: datetime
    snippet: str
    score: float
    text: str = ""  # the whole text (CSV export); the API shows the snippet


@dataclass
class Result:
    conversation_id: int
    conversation: dict[str, Any]
    matches: list[Match] = field(default_factory=list)
    score: float = 0.0


@dataclass
class Page:
    query: str
    mode: Mode
    sort: Sort
    total: int                       # messages matching (mode messages) or conversations (mode conversations)
    results: list[Result]
    facets: dict[str, list[tuple[str, int]]]
    next_cursor: str | None
    backend: str


def visibility_for(user: User | AnonymousUser) -> Visibility:
    """The permission part of every query of `user` (hub/access.py, as index fields)."""
    if sees_everything(user):
        return Visibility(None, int(user.pk or 0))
    agent = agent_of(user)
    return Visibility(tuple(sorted(agent.teams.values_list("id", flat=True))), int(user.pk or 0))


def _fingerprint(params: Params) -> str:
    return hashlib.sha256(f"{params.q}\x00{params.mode}\x00{params.sort}".encode()).hexdigest()[:12]


def encode_cursor(params: Params, state: dict[str, Any]) -> str:
    raw = json.dumps({"f": _fingerprint(params), **state}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(params: Params) -> dict[str, Any]:
    if not params.cursor:
        return {}
    try:
        padded = params.cursor + "=" * (-len(params.cursor) % 4)
        state = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise CursorError("cursor is not one this search gave out") from None
    if not isinstance(state, dict) or state.get("f") != _fingerprint(params):
        raise CursorError("cursor belongs to another search (query, mode or sort changed): start again without it")
    return state


def parse(text: str) -> q.Node:
    return q.parse(text, ZoneInfo(settings.TIME_ZONE))


def search(user: User | AnonymousUser, params: Params) -> Page:
    """Raises QueryError (a malformed query), CursorError, NotAnAgent, BackendUnavailable."""
    node = parse(params.q)
    sort: Sort = params.sort
    if sort == "relevance" and not q.has_free_text(node):
        sort = "newest"  # nothing to rank by: the newest first
    visibility = visibility_for(user)
    size = max(1, min(params.page_size, MAX_PAGE_SIZE))
    state = decode_cursor(params)
    if params.mode == "messages":
        page = _messages_page(node, visibility, sort, size, state, params)
    else:
        page = _conversations_page(node, visibility, sort, size, state, params)
    return _hydrate(user, page)


def _request(node: q.Node, visibility: Visibility, sort: Sort, **kw: Any) -> BackendQuery:
    return BackendQuery(query=node, visibility=visibility, sort=sort, **kw)


def _match(hit: BackendHit) -> Match:
    f = hit.fields
    return Match(id=hit.id, kind="note" if f.get("note") else "message", row_id=int(hit.id[1:]),
                 direction=f.get("direction", ""), channel=f.get("channel", ""), author=f.get("author", ""),
                 public=bool(f.get("public")), created_at=f["created_at"], snippet=hit.highlight, score=hit.score,
                 text=f.get("text", ""))


def _messages_page(node: q.Node, visibility: Visibility, sort: Sort, size: int, state: dict[str, Any],
                   params: Params) -> Page:
    backend = get_backend()
    offset = int(state.get("o", 0))
    after = tuple(state["a"]) if "a" in state else None
    if sort == "relevance":
        size = min(size, max(0, MAX_RELEVANCE_HITS - offset))
    result = backend.search(_request(node, visibility, sort, limit=max(size, 1), offset=offset, after=after,
                                     facets=FACETS if params.facets and not state else ()))
    hits = result.hits[:size]
    results = [Result(h.conversation_id, {}, [_match(h)], h.score) for h in hits]
    next_cursor = None
    if hits and len(hits) == size:
        if sort == "relevance":
            if offset + size < min(result.total, MAX_RELEVANCE_HITS):
                next_cursor = encode_cursor(params, {"o": offset + size})
        else:
            next_cursor = encode_cursor(params, {"a": list(hits[-1].sort_key)})
    return Page(params.q, "messages", sort, result.total, results, result.facets, next_cursor, backend.name)


def _stream(node: q.Node, visibility: Visibility, sort: Sort, after: tuple[Any, ...] | None, offset: int,
            batch: int) -> Iterator[tuple[BackendHit, int]]:
    """Matching messages in order, from `after` (date sorts) or `offset` (relevance), with the index of
    each in the whole stream."""
    backend = get_backend()
    position = offset
    while True:
        if sort == "relevance" and position >= MAX_RELEVANCE_HITS:
            return
        result = backend.search(_request(node, visibility, sort, limit=batch, after=after,
                                         offset=position if sort == "relevance" else 0))
        for hit in result.hits:
            yield hit, position
            position += 1
        if len(result.hits) < batch:
            return
        after = result.hits[-1].sort_key


def _conversations_page(node: q.Node, visibility: Visibility, sort: Sort, size: int, state: dict[str, Any],
                        params: Params) -> Page:
    backend = get_backend()
    # Facets cover the whole result, so the first page brings them and later pages do not repeat them.
    first = backend.search(_request(node, visibility, sort, limit=1, highlight=False,
                                    facets=FACETS if params.facets and not state else (),
                                    facets_by_conversation=True, count_conversations=True))
    groups: dict[int, Result] = {}
    order: list[int] = []
    skip = set(int(c) for c in state.get("seen", []))  # relevance: conversations of earlier pages
    after = tuple(state["a"]) if "a" in state else None
    offset = int(state.get("o", 0))
    last_key: tuple[Any, ...] | None = after
    last_position = offset
    exhausted = True
    checked: set[int] = set()
    for hit, position in _stream(node, visibility, sort, after, offset, batch=max(50, size * 5)):
        conv = hit.conversation_id
        if conv in skip:
            last_key, last_position = hit.sort_key, position + 1
            continue
        if conv in groups:
            if len(groups[conv].matches) < MATCHES_PER_CONVERSATION:
                groups[conv].matches.append(_match(hit))
            last_key, last_position = hit.sort_key, position + 1
            continue
        if len(order) >= size:
            exhausted = False
            break
        groups[conv] = Result(conv, {}, [_match(hit)], hit.score)
        order.append(conv)
        last_key, last_position = hit.sort_key, position + 1
        if sort != "relevance" and after is not None and len(order) % size == 0:
            _drop_earlier(node, visibility, sort, after, groups, order, checked, skip)
    if sort != "relevance" and after is not None:
        _drop_earlier(node, visibility, sort, after, groups, order, checked, skip)
    results = [groups[c] for c in order[:size]]
    next_cursor = None
    if not exhausted and results:
        if sort == "relevance":
            seen = [*state.get("seen", []), *order[:size]]
            if len(seen) < MAX_RELEVANCE_CONVERSATIONS:
                next_cursor = encode_cursor(params, {"o": last_position, "seen": seen})
        else:
            assert last_key is not None
            next_cursor = encode_cursor(params, {"a": list(last_key)})
    return Page(params.q, "conversations", sort, first.conversations or 0, results, first.facets, next_cursor,
                backend.name)


def _drop_earlier(node: q.Node, visibility: Visibility, sort: Sort, after: tuple[Any, ...],
                  groups: dict[int, Result], order: list[int], checked: set[int], skip: set[int]) -> None:
    """Remove the conversations that have a matching message before `after`: an earlier page showed them."""
    fresh = [c for c in order if c not in checked]
    if not fresh:
        return
    bound = int(after[-1])
    before = q.SortKeyRange(above=bound) if sort == "newest" else q.SortKeyRange(below=bound)
    check = q.and_(node, q.KeywordIn("conversation_id", tuple(fresh)), before)
    result: BackendResult = get_backend().search(_request(check, visibility, sort, limit=len(fresh), highlight=False,
                                                          facets=("conversation",)))
    earlier = {int(key) for key, _count in result.facets.get("conversation", [])}
    checked.update(fresh)
    for conv in earlier:
        skip.add(conv)
        groups.pop(conv, None)
    order[:] = [c for c in order if c not in earlier]


def _hydrate(user: User | AnonymousUser, page: Page) -> Page:
    """Attach each conversation's current state, and drop what the user may no longer open."""
    ids = [r.conversation_id for r in page.results]
    rows = {c.pk: c for c in visible_conversations(user).filter(pk__in=ids)
            .select_related("customer", "team", "assignee")}
    kept: list[Result] = []
    for result in page.results:
        conv = rows.get(result.conversation_id)
        if conv is None:
            continue
        result.conversation = {
            "id": conv.pk, "subject": conv.subject, "status": conv.status, "channel": conv.channel,
            "customer_id": conv.customer_id, "customer_name": conv.customer.display_name,
            "team": conv.team.name if conv.team else None,
            "assignee": conv.assignee.username if conv.assignee else None,
            "priority": conv.priority, "created_at": conv.created_at, "last_message_at": conv.last_message_at,
            "url": f"/inbox/#conversation/{conv.pk}",
        }
        kept.append(result)
    page.results = kept
    return page


def iter_export(user: User | AnonymousUser, text: str, limit: int) -> Iterator[tuple[Conversation, Match]]:
    """Every matching message the user may see, newest first, up to `limit` (CSV export). Conversations are
    loaded (and permissions checked) once per batch of hits, not once per hit."""
    node = parse(text)
    visibility = visibility_for(user)
    sent = 0
    batch: list[BackendHit] = []
    stream = _stream(node, visibility, "newest", None, 0, batch=EXPORT_BATCH)
    while sent < limit:
        batch = [hit for hit, _ in itertools.islice(stream, EXPORT_BATCH)]
        if not batch:
            return
        convs = visible_conversations(user).select_related("customer", "team", "assignee").in_bulk(
            {hit.conversation_id for hit in batch})
        for hit in batch:
            conv = convs.get(hit.conversation_id)
            if conv is None or sent >= limit:
                continue
            sent += 1
            yield conv, _match(hit)
