"""The search backend interface the rest of the hub speaks to, and the choice of backend.

Two implementations: search/embedded.py (tantivy in a local folder, the default) and search/elastic.py
(Elasticsearch, when HUB_ELASTICSEARCH_URL is set). Both index the same documents (`SearchDocument`: one per
message or internal note, with its conversation's fields copied in) and compile the same query tree
(search/query.py), so search/service.py gives the same answers on either; tests/search/ holds them to it.

Every document carries `version`, the change number (hub/models/changes.py) of the state it was built
from: a backend keeps the document with the higher version, so an indexer that is late can never put back
an older state over a newer one.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from django.conf import settings

from search.query import Node

# Facets a search can ask for: the keyword field each counts.
FACET_FIELDS: dict[str, str] = {
    "channel": "channel", "agent": "agents", "team": "team", "tag": "tags", "month": "month",
    "status": "status", "direction": "direction",
    "conversation": "conversation_id",  # used by search/service.py to page through conversations
}
Sort = Literal["relevance", "newest", "oldest"]


@dataclass(frozen=True)
class SearchDocument:
    """One message or internal note as the index holds it. Keyword values are lower-cased."""

    id: str                     # "m<message id>" or "n<note id>"
    conversation_id: int
    customer_id: int
    text: str
    customer: str               # the customer's name and addresses, for customer:"..."
    channel: str
    direction: Literal["in", "out", "note"]
    author: str                 # display name of who wrote it (shown in results)
    agents: tuple[str, ...]     # usernames: the conversation's assignee, and the author if an agent
    team: str                   # team name, "" when none
    team_id: int                # 0 when none: permissions
    assignee_id: int            # 0 when none: permissions
    tags: tuple[str, ...]
    status: str
    sentiment: str
    public: bool
    note: bool
    has_attachment: bool
    created_at: datetime
    month: str                  # "2026-11", in the hub's time zone
    version: int

    @property
    def row_id(self) -> int:
        return int(self.id[1:])

    @property
    def sort_value(self) -> int:
        return sort_value(self.created_at, self.id)


def sort_value(created_at: datetime, doc_id: str) -> int:
    """The one integer both backends sort by date on, unique in practice: the millisecond of creation, with
    the document's id in the low 21 bits, so that documents of the same millisecond still have an order and
    a page that ends among them continues at the right one (fits in a signed 64-bit integer)."""
    uid = int(doc_id[1:]) * 2 + (1 if doc_id[0] == "n" else 0)
    return (int(created_at.timestamp() * 1000) << 21) | (uid & 0x1FFFFF)


@dataclass(frozen=True)
class Visibility:
    """Who is searching: None team_ids means everything; otherwise their teams, unassigned-team
    conversations and their own (hub/access.py), compiled into the query by the backend."""

    team_ids: tuple[int, ...] | None
    user_id: int


@dataclass(frozen=True)
class BackendQuery:
    query: Node
    visibility: Visibility
    sort: Sort = "relevance"
    limit: int = 20
    after: tuple[Any, ...] | None = None   # the sort key of the last hit of the previous page (newest/oldest)
    offset: int = 0                        # relevance pages
    facets: tuple[str, ...] = ()
    facets_by_conversation: bool = False   # count conversations instead of messages
    highlight: bool = True
    count_conversations: bool = False      # also count the distinct conversations matching


@dataclass(frozen=True)
class BackendHit:
    id: str
    conversation_id: int
    score: float
    sort_key: tuple[Any, ...]   # pass back as `after` to continue after this hit
    fields: dict[str, Any]      # the stored document fields (text, channel, created_at...)
    highlight: str              # HTML: escaped text with <mark> around matches; "" when none


@dataclass(frozen=True)
class BackendResult:
    total: int
    hits: list[BackendHit]
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    conversations: int | None = None       # with count_conversations


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str


class BackendUnavailable(Exception):
    """The engine cannot be reached or refused a write: the indexer keeps its backlog and retries."""


class Rebuild(ABC):
    """A new index being filled while the current one keeps serving (hub reindex)."""

    @abstractmethod
    def index(self, docs: Sequence[SearchDocument]) -> None: ...

    @abstractmethod
    def finish(self) -> None:
        """Make the new index the one searched (an alias swap) and drop the old one."""

    @abstractmethod
    def abort(self) -> None: ...


class SearchBackend(ABC):
    name: str

    @abstractmethod
    def ensure_index(self) -> None:
        """Create the index (or migrate its settings) if needed. Idempotent."""

    @abstractmethod
    def index(self, docs: Sequence[SearchDocument]) -> None:
        """Add or replace documents, keeping for each id the highest version. Raises BackendUnavailable."""

    @abstractmethod
    def delete(self, *, ids: Iterable[str] = (), conversation_ids: Iterable[int] = (),
               customer_ids: Iterable[int] = ()) -> None:
        """Remove documents by id, by conversation or by customer. Raises BackendUnavailable."""

    @abstractmethod
    def refresh(self) -> None:
        """Make what was written searchable now (tests, the end of an indexer batch)."""

    @abstractmethod
    def search(self, request: BackendQuery) -> BackendResult: ...

    @abstractmethod
    def count(self) -> int:
        """Documents in the index."""

    @abstractmethod
    def health(self) -> Health: ...

    def outdated(self) -> bool:
        """Whether the index was built by an earlier version of the hub and must be rebuilt before it can
        be used (`hub reindex`). Elasticsearch migrates through its template and alias instead."""
        return False

    @abstractmethod
    def begin_rebuild(self) -> Rebuild: ...

    def close(self) -> None:  # noqa: B027 - optional
        """Release files, writers and connections."""


def backend_name() -> str:
    return "elasticsearch" if settings.ELASTICSEARCH_URL else "embedded"


def index_dir() -> Path:
    return Path(settings.DATA_DIR) / "search"


_backend: SearchBackend | None = None
_backend_key: tuple[str, str] | None = None
_lock = threading.Lock()


def get_backend() -> SearchBackend:
    """The configured backend, one per process (the embedded one holds the index writer)."""
    global _backend, _backend_key
    key = (settings.ELASTICSEARCH_URL, str(index_dir()))
    with _lock:
        if _backend is None or _backend_key != key:
            if _backend is not None:
                _backend.close()
            if settings.ELASTICSEARCH_URL:
                from search.elastic import ElasticsearchBackend

                _backend = ElasticsearchBackend(settings.ELASTICSEARCH_URL, settings.HUB_SEARCH_INDEX)
            else:
                from search.embedded import EmbeddedBackend

                _backend = EmbeddedBackend(index_dir())
            _backend_key = key
        return _backend


def reset_backend() -> None:
    """Forget the process's backend (tests switch folders and engines)."""
    global _backend, _backend_key
    with _lock:
        if _backend is not None:
            _backend.close()
        _backend = None
        _backend_key = None


def health() -> Health:
    """For /readyz: can the configured engine be reached? Never raises."""
    try:
        return get_backend().health()
    except Exception as exc:
        return Health(False, f"{backend_name()} search: {exc}")
