"""The embedded engine's Chinese pairs (search/embedded.py): a run of two characters or more is searched as
overlapping pairs in `text_cjk`, with the same hits as a phrase of single characters; and an index built
by an earlier version of the hub (without those pairs) is recognised and rebuilt by `hub up`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import tantivy

from search import query as q
from search.backend import BackendQuery, SearchDocument, Visibility
from search.embedded import EmbeddedBackend, IndexOutdated, cjk_pairs

EVERYONE = Visibility(None, 0)


def doc(n: int, text: str) -> SearchDocument:
    return SearchDocument(
        id=f"m{n}", conversation_id=n, customer_id=n, text=text, customer="", channel="sms", direction="in",
        author="", agents=(), team="", team_id=0, assignee_id=0, tags=(), status="open", sentiment="",
        public=False, note=False, has_attachment=False, created_at=datetime(2026, 11, 1, tzinfo=UTC),
        month="2026-11", version=1)


TEXTS = {
    1: "我要退款申请",                # the run 退款申请
    2: "退款，申请已经提交",           # punctuation inside: still one run for both fields
    3: "退货 refund 款申",            # 款申 only across an English word: two runs
    4: "账单有问题",
    5: "账 and 单",                   # the characters apart
    6: "账单 refund 单退",            # 单退 starts another run: 账单退 must not match across it
    7: "退",
}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[EmbeddedBackend]:
    backend = EmbeddedBackend(tmp_path / "search")
    backend.ensure_index()
    backend.index([doc(n, text) for n, text in TEXTS.items()])
    yield backend
    backend.close()


def hits(engine: EmbeddedBackend, text: str) -> set[int]:
    node = q.parse(text, UTC)
    result = engine.search(BackendQuery(query=node, visibility=EVERYONE, sort="newest", limit=50))
    return {hit.conversation_id for hit in result.hits}


def unigram_hits(engine: EmbeddedBackend, text: str) -> set[int]:
    """What the single-character phrase finds: the meaning the pairs must keep."""
    query = engine._phrase("text", text)
    assert query is not None
    searcher = engine._current_index().searcher()
    found = searcher.search(query, limit=50)
    return {int(searcher.doc(address)["conversation_id"][0]) for _score, address in found.hits}


def test_pairs_of_each_run_with_a_break_between_runs() -> None:
    # Spaces and punctuation do not end a run (the single characters are next to each other in `text`).
    assert cjk_pairs("你好，我的账单 refund 退款申请 单") == "你好 好我 我的 的账 账单 | 退款 款申 申请 请单"
    assert cjk_pairs("单 refund") == "" and cjk_pairs("refund only") == ""


@pytest.mark.parametrize("text", ["退款申请", "退款", "款申", "账单", "账单有问题", "单退", "账单退", "申请已经"])
def test_pairs_find_what_a_phrase_of_single_characters_finds(engine: EmbeddedBackend, text: str) -> None:
    assert hits(engine, text) == unigram_hits(engine, text)


def test_words_are_matched_whole_and_never_across_runs(engine: EmbeddedBackend) -> None:
    assert hits(engine, "退款申请") == {1, 2}
    assert hits(engine, "账单") == {4, 6}
    assert hits(engine, "账单退") == set()  # 账单 and 单退 are two runs in conversation 6
    assert hits(engine, "退") == {1, 2, 3, 6, 7}  # one character: a term of `text`
    assert hits(engine, '"退款申请"') == {1, 2}
    assert hits(engine, "退款 OR 账单") == {1, 2, 4, 6}


def test_chinese_matches_are_still_highlighted(engine: EmbeddedBackend) -> None:
    result = engine.search(BackendQuery(query=q.parse("账单", UTC), visibility=EVERYONE, sort="newest", limit=5))
    marked = {hit.conversation_id: hit.highlight for hit in result.hits}
    assert marked[4] == "<mark>账单</mark>有问题"


def _old_index(root: Path) -> None:
    """An index as an earlier hub wrote it: the same folder layout, without `text_cjk`."""
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("text", stored=True)
    (root / "v20260101000000000000").mkdir(parents=True)
    tantivy.Index(sb.build(), path=str(root / "v20260101000000000000"))
    (root / "CURRENT").write_text("v20260101000000000000")


def test_an_index_of_an_earlier_version_is_recognised(tmp_path: Path) -> None:
    _old_index(tmp_path / "search")
    backend = EmbeddedBackend(tmp_path / "search")
    assert backend.outdated()
    backend.ensure_index()  # tolerated: only a rebuild can replace it
    with pytest.raises(IndexOutdated, match="hub reindex"):
        backend.count()
    rebuild = backend.begin_rebuild()
    rebuild.index([doc(1, "账单有问题")])
    rebuild.finish()
    assert not backend.outdated() and backend.count() == 1
    backend.close()


@pytest.mark.django_db
def test_hub_up_rebuilds_an_outdated_index_before_serving(settings: Any, tmp_path: Path) -> None:
    from search.backend import reset_backend
    from search.indexer import rebuild_if_outdated
    from tests import factories as f

    settings.DATA_DIR = tmp_path
    settings.ELASTICSEARCH_URL = ""
    from hub.actions.ingestion import do_ingest_message

    do_ingest_message(f.account("sms"), f.inbound("账单有问题"))
    _old_index(tmp_path / "search")
    reset_backend()
    said: list[str] = []
    done = rebuild_if_outdated(said.append)
    assert done is not None and done.documents >= 1
    assert "earlier version" in said[0]
    assert rebuild_if_outdated(said.append) is None  # current now: nothing to do
    reset_backend()
