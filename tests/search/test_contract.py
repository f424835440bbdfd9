"""The search contract: the same answers from every backend (tests/search/conftest.py), through the real path
(actions commit, the change log, the indexer after commit, the search service with permissions)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from connectors.base import InboundAttachment
from hub.actions.conversations import do_add_note, do_assign, do_set_priority, do_set_status, do_set_tags
from hub.actions.customers import do_delete_customer, do_merge_customers, do_unmerge, do_update_customer
from hub.actions.ingestion import do_ingest_message
from hub.actions.outbound import do_send_reply
from hub.models import Conversation, Customer, Message, Team
from search import indexer, service
from search.backend import BackendUnavailable, SearchBackend
from search.query import QueryError
from tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Corpus:
    billing: Team
    sales: Team
    alice: User          # agent, billing
    bob: User            # agent, sales
    sue: User            # supervisor
    li: Conversation     # Li Wei, SMS, billing, alice, tagged refund
    returns: Conversation  # 王芳, email, sales, resolved
    mixed: Conversation  # Pat, chat-like (slack), no team
    bob_own: Conversation  # billing team but assigned to bob


def _ingest(channel: str, text: str, *, address: str, name: str, kind: str = "phone", **kw: Any) -> Message:
    return do_ingest_message(f.account(channel), f.inbound(text, address=address, name=name, kind=kind, **kw)).message


@pytest.fixture
def corpus(search_backend: SearchBackend, settings: Any) -> Corpus:
    # Built with one indexer run at the end (a commit of the embedded index costs 20-30 ms); the tests then
    # index on every commit, as the hub does.
    settings.SEARCH_AUTO_INDEX = False
    built = _build_corpus()
    indexer.index_pending()
    settings.SEARCH_AUTO_INDEX = True
    return built


def _build_corpus() -> Corpus:
    billing, sales = f.team("Billing"), f.team("Sales")
    alice = f.agent("alice", teams=[billing])
    bob = f.agent("bob", teams=[sales])
    sue = f.agent("sue", role="supervisor")
    m1 = _ingest("sms", "你好，我的账单有问题", address="+8613800138000", name="Li Wei")
    li = m1.conversation
    do_assign(sue, li, alice, team=billing)
    do_send_reply(alice, li, "Sorry about the bill: a refund of the credit card charge is on its way")
    _ingest("sms", "Thanks! When will the refunds arrive?", address="+8613800138000", name="Li Wei")
    do_set_tags(alice, li, ["refund", "VIP-care"])
    do_add_note(alice, li, "Checked the ledger: double charge confirmed")

    r1 = _ingest("email", "我要退货，商品有质量问题", address="wang.fang@example.cn", name="王芳", kind="email",
                 attachments=(InboundAttachment("receipt.pdf", "application/pdf", b"%PDF-1.4 test"),))
    returns = r1.conversation
    do_assign(sue, returns, bob, team=sales)
    do_send_reply(bob, returns, "退货申请已收到 we will email a return label")
    do_set_status(bob, returns, "resolved")

    p1 = _ingest("slack", "Card declined at checkout <script>alert('x')</script>", address="U0PAT", name="Pat",
                 kind="slack")
    mixed = p1.conversation

    b1 = _ingest("sms", "Invoice number 4521 looks wrong, the card was charged twice", address="+14155550199",
                 name="Sam Jones")
    bob_own = b1.conversation
    do_assign(sue, bob_own, bob, team=billing)
    do_set_priority(sue, bob_own, escalated=True)
    return Corpus(billing, sales, alice, bob, sue, li, returns, mixed, bob_own)


def run(user: User, q: str = "", **kw: Any) -> service.Page:
    return service.search(user, service.Params(q=q, **kw))


def conv_ids(page: service.Page) -> set[int]:
    return {r.conversation_id for r in page.results}


def message_texts(page: service.Page) -> list[str]:
    return [m.text for r in page.results for m in r.matches]


# --- Languages ---------------------------------------------------------------------------------------------

def test_chinese_word_finds_the_sentence_it_is_in(corpus: Corpus) -> None:
    page = run(corpus.sue, "账单", mode="messages")
    assert message_texts(page) == ["你好，我的账单有问题"]


def test_chinese_refund_does_not_match_returns(corpus: Corpus) -> None:
    assert run(corpus.sue, "退款").total == 0  # only 退货 (returns) was written
    assert conv_ids(run(corpus.sue, "退货")) == {corpus.returns.pk}


def test_mixed_chinese_and_english(corpus: Corpus) -> None:
    assert conv_ids(run(corpus.sue, "退货 label")) == {corpus.returns.pk}
    assert run(corpus.sue, "退货 invoice").total == 0


def test_english_words_match_their_other_forms(corpus: Corpus) -> None:
    page = run(corpus.sue, "refund", mode="messages")  # finds "refunds" too
    assert sorted(message_texts(page)) == sorted([
        "Sorry about the bill: a refund of the credit card charge is on its way",
        "Thanks! When will the refunds arrive?"])


# --- The language ------------------------------------------------------------------------------------------

def test_all_words_must_match(corpus: Corpus) -> None:
    assert conv_ids(run(corpus.sue, "card twice")) == {corpus.bob_own.pk}


def test_exact_phrase(corpus: Corpus) -> None:
    assert conv_ids(run(corpus.sue, '"credit card"')) == {corpus.li.pk}
    assert run(corpus.sue, '"card credit"').total == 0


def test_exclusion(corpus: Corpus) -> None:
    assert conv_ids(run(corpus.sue, "card -declined")) == {corpus.li.pk, corpus.bob_own.pk}
    assert conv_ids(run(corpus.sue, 'card -"credit card"')) == {corpus.mixed.pk, corpus.bob_own.pk}


def test_or(corpus: Corpus) -> None:
    assert conv_ids(run(corpus.sue, "declined OR 退货")) == {corpus.mixed.pk, corpus.returns.pk}


@pytest.mark.parametrize(("q", "expected"), [
    ("channel:email", {"returns"}),
    ("channel:sms", {"li", "bob_own"}),
    ("agent:alice", {"li"}),
    ("agent:bob", {"returns", "bob_own"}),
    ("team:billing", {"li", "bob_own"}),
    ("team:sales", {"returns"}),
    ('customer:"Li Wei"', {"li"}),
    ("customer:wang.fang@example.cn", {"returns"}),
    ("customer:王芳", {"returns"}),
    ("tag:refund", {"li"}),
    ("tag:vip-care", {"li"}),
    ("status:resolved", {"returns"}),
    ("status:open", {"li", "mixed", "bob_own"}),
    ("sentiment:negative", {"bob_own"}),
    ("direction:out", {"li", "returns"}),
    ("has:attachment", {"returns"}),
    ("is:note", {"li"}),
    ("is:note ledger", {"li"}),
    ("channel:sms -tag:refund", {"bob_own"}),
    ("(channel:email OR channel:slack) -status:resolved", {"mixed"}),
])
def test_field_filters(corpus: Corpus, q: str, expected: set[str]) -> None:
    ids = {name: getattr(corpus, name).pk for name in ("li", "returns", "mixed", "bob_own")}
    assert conv_ids(run(corpus.sue, q)) == {ids[name] for name in expected}


def test_date_filters(corpus: Corpus) -> None:
    today = timezone.localdate()
    assert run(corpus.sue, f"after:{today}").total == 4
    assert run(corpus.sue, f"before:{today}").total == 0
    assert run(corpus.sue, f"after:{today - timedelta(days=1)} before:{today + timedelta(days=1)}").total == 4
    old = Message.objects.filter(conversation=corpus.mixed).first()
    assert old is not None
    Message.objects.filter(pk=old.pk).update(created_at=timezone.make_aware(datetime(2025, 3, 1)))
    do_set_tags(corpus.sue, corpus.mixed, ["backdated"])  # re-indexes the conversation
    assert conv_ids(run(corpus.sue, "before:2025-04")) == {corpus.mixed.pk}
    assert conv_ids(run(corpus.sue, "after:2025-02-28 before:2025-03-02")) == {corpus.mixed.pk}


def test_malformed_queries_raise_with_a_position(corpus: Corpus) -> None:
    for q in ('"unclosed', "channel:", "frobnicate:1", "after:yesterday", "status:lost", "(a OR", "OR b"):
        with pytest.raises(QueryError):
            run(corpus.sue, q)


# --- Results ----------------------------------------------------------------------------------------------

def test_results_are_grouped_by_conversation_with_best_matches(corpus: Corpus) -> None:
    page = run(corpus.sue, "refund")
    assert page.total == 1
    [result] = page.results
    assert result.conversation_id == corpus.li.pk
    assert result.conversation["customer_name"] == "Li Wei"
    assert len(result.matches) == 2


def test_facets_count_conversations(corpus: Corpus) -> None:
    page = run(corpus.sue, "")
    assert dict(page.facets["channel"]) == {"sms": 2, "email": 1, "slack": 1}
    assert dict(page.facets["team"]) == {"billing": 2, "sales": 1}
    assert dict(page.facets["tag"]) == {"refund": 1, "vip-care": 1}
    assert dict(page.facets["agent"]) == {"alice": 1, "bob": 2}
    assert page.facets["month"] == [(timezone.localdate().strftime("%Y-%m"), 4)]
    messages = run(corpus.sue, "", mode="messages")
    assert dict(messages.facets["channel"])["sms"] == 5  # 2 + reply + note on Li's, 1 on Sam's


def test_highlighting_marks_matches_and_escapes_content(corpus: Corpus) -> None:
    [hit] = run(corpus.sue, "账单", mode="messages").results[0].matches
    assert "<mark>账单</mark>" in hit.snippet
    [hit] = run(corpus.sue, "declined", mode="messages").results[0].matches
    assert "<mark>declined</mark>" in hit.snippet.replace("<mark>Declined</mark>", "<mark>declined</mark>")
    assert "<script>" not in hit.snippet and "&lt;script&gt;" in hit.snippet


def test_sort_by_date(corpus: Corpus) -> None:
    newest = run(corpus.sue, "", mode="messages", sort="newest")
    stamps = [m.created_at for r in newest.results for m in r.matches]
    assert stamps == sorted(stamps, reverse=True)
    oldest = run(corpus.sue, "", mode="messages", sort="oldest")
    assert [m.id for r in oldest.results for m in r.matches] == [m.id for r in reversed(newest.results)
                                                                  for m in r.matches]


# --- Permissions ------------------------------------------------------------------------------------------

def test_agents_search_only_what_they_may_open(corpus: Corpus) -> None:
    # alice (billing): billing conversations, and the shared one with no team; not sales'.
    assert conv_ids(run(corpus.alice, "")) == {corpus.li.pk, corpus.mixed.pk, corpus.bob_own.pk}
    # bob (sales): sales', the shared one, and the billing conversation assigned to him.
    assert conv_ids(run(corpus.bob, "")) == {corpus.returns.pk, corpus.mixed.pk, corpus.bob_own.pk}
    assert run(corpus.bob, "账单").total == 0
    assert run(corpus.bob, "ledger").total == 0  # alice's internal note on Li's conversation
    facets = run(corpus.bob, "").facets
    assert "alice" not in dict(facets["agent"]) and "refund" not in dict(facets["tag"])


def test_notes_are_found_by_who_may_see_them(corpus: Corpus) -> None:
    [match] = run(corpus.alice, "ledger").results[0].matches
    assert match.kind == "note" and match.direction == "note"
    assert run(corpus.sue, "ledger").total == 1


def test_a_transfer_moves_a_conversation_out_of_an_agents_search(corpus: Corpus) -> None:
    assert run(corpus.alice, "账单").total == 1
    do_assign(corpus.sue, corpus.li, corpus.bob, team=corpus.sales)
    assert run(corpus.alice, "账单").total == 0
    assert run(corpus.bob, "账单").total == 1


# --- Deep pages -------------------------------------------------------------------------------------------

@pytest.fixture
def many(search_backend: SearchBackend, settings: Any) -> User:
    settings.SEARCH_AUTO_INDEX = False
    sue = f.agent("sue", role="supervisor")
    for i in range(23):
        for j in range(2):
            _ingest("sms", f"order {i} question {j}", address=f"+1415555{i:04d}", name=f"Customer {i}")
    indexer.index_pending()
    return sue


@pytest.mark.parametrize("sort", ["newest", "oldest", "relevance"])
def test_deep_pages_of_messages_cover_every_hit_once(many: User, sort: str) -> None:
    seen: list[str] = []
    cursor = ""
    while True:
        page = run(many, "order", mode="messages", sort=sort, page_size=5, cursor=cursor)
        assert page.total == 46
        seen += [m.id for r in page.results for m in r.matches]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert len(seen) == 46 and len(set(seen)) == 46


@pytest.mark.parametrize("sort", ["newest", "oldest", "relevance"])
def test_deep_pages_of_conversations_show_each_once(many: User, sort: str) -> None:
    seen: list[int] = []
    cursor = ""
    while True:
        page = run(many, "order", sort=sort, page_size=4, cursor=cursor)
        assert page.total == 23
        seen += [r.conversation_id for r in page.results]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert len(seen) == 23 and len(set(seen)) == 23


def test_a_cursor_from_another_search_is_refused(many: User) -> None:
    page = run(many, "order", mode="messages", sort="newest", page_size=5)
    assert page.next_cursor
    with pytest.raises(service.CursorError):
        run(many, "question", mode="messages", sort="newest", cursor=page.next_cursor)
    with pytest.raises(service.CursorError):
        run(many, "order", mode="messages", sort="newest", cursor="not-a-cursor")


# --- Customers ----------------------------------------------------------------------------------------------

def test_renaming_and_merging_customers_updates_the_index(corpus: Corpus) -> None:
    pat = Customer.objects.get(pk=corpus.mixed.customer_id)
    do_update_customer(corpus.sue, pat, {"display_name": "Patricia Okafor"})
    assert conv_ids(run(corpus.sue, 'customer:"patricia okafor"')) == {corpus.mixed.pk}
    li = Customer.objects.get(pk=corpus.li.customer_id)
    merge = do_merge_customers(corpus.sue, pat, li)
    assert conv_ids(run(corpus.sue, 'customer:"li wei"')) == {corpus.li.pk, corpus.mixed.pk}
    do_unmerge(corpus.sue, merge)
    assert conv_ids(run(corpus.sue, 'customer:"li wei"')) == {corpus.li.pk}


def test_erasing_a_customer_removes_them_from_the_index(corpus: Corpus) -> None:
    do_delete_customer(corpus.sue, Customer.objects.get(pk=corpus.li.customer_id))
    assert run(corpus.sue, "账单").total == 0
    assert run(corpus.sue, "ledger").total == 0
    assert run(corpus.sue, "", mode="messages").total == 4


# --- Outage and rebuild -----------------------------------------------------------------------------------

class _Outage:
    """Makes the backend refuse every write while `down` (as an engine that went away would)."""

    def __init__(self, backend: SearchBackend, monkeypatch: pytest.MonkeyPatch) -> None:
        self.down = False
        for name in ("index", "delete"):
            real = getattr(backend, name)

            def refusing(*args: Any, _real: Any = real, **kw: Any) -> Any:
                if self.down:
                    raise BackendUnavailable("connection refused")
                return _real(*args, **kw)

            monkeypatch.setattr(backend, name, refusing)


def test_nothing_is_lost_while_the_engine_is_down(search_backend: SearchBackend,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.taskqueue import runner

    sue = f.agent("sue", role="supervisor")
    outage = _Outage(search_backend, monkeypatch)
    for i in range(5):
        _ingest("sms", f"before outage {i}", address="+14155550001", name="Ann")
    outage.down = True
    for i in range(7):  # mid-stream: these commit while the engine is down
        _ingest("sms", f"during outage {i}", address=f"+1415555{i:04d}", name="Ben")
    assert indexer.backlog() > 0
    assert run(sue, "during").total == 0
    assert indexer.status()["failing_since"] is not None
    outage.down = False
    runner.drain()  # the retries the failed runs scheduled
    assert indexer.backlog() == 0
    assert run(sue, "during", mode="messages").total == 7
    assert run(sue, "outage", mode="messages").total == 12
    assert indexer.status()["failing_since"] is None


def test_reindex_rebuilds_everything_while_search_keeps_answering(corpus: Corpus) -> None:
    answers_during: list[int] = []

    def progress(n: int) -> None:
        answers_during.append(run(corpus.sue, "账单").total)
        # A change committed mid-rebuild goes to the old index; the rebuild's replay brings it over.
        if len(answers_during) == 1:
            _ingest("sms", "mid-rebuild 发票 question", address="+8613800138000", name="Li Wei")

    result = indexer.reindex(progress=progress, batch=3)
    assert result.documents == 8
    assert answers_during and all(n == 1 for n in answers_during)
    indexer.index_pending()
    assert run(corpus.sue, "发票").total == 1
    assert run(corpus.sue, "", mode="messages").total == 9
    assert run(corpus.sue, "账单").total == 1


def test_reindex_since_rewrites_recent_documents_in_place(corpus: Corpus) -> None:
    before = run(corpus.sue, "", mode="messages").total
    result = indexer.reindex(since=timezone.now() - timedelta(hours=1))
    assert result.documents == before
    assert run(corpus.sue, "", mode="messages").total == before


def test_an_older_state_never_overwrites_a_newer_one(corpus: Corpus, search_backend: SearchBackend) -> None:
    from search import documents

    message = Message.objects.filter(conversation=corpus.li).order_by("id").first()
    assert message is not None
    work = documents.Plan(messages={message.pk})
    [newer], _ = documents.documents(work, version=10**12)
    search_backend.index([newer])
    Message.objects.filter(pk=message.pk).update(text="stale text")
    [older], _ = documents.documents(work, version=1)
    search_backend.index([older])
    search_backend.refresh()
    assert run(corpus.sue, "stale").total == 0
    assert run(corpus.sue, "账单").total == 1
