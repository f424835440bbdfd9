"""The query language's parser (search/query.py): the trees it builds and the errors it explains."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from search.query import (
    And,
    CustomerName,
    DateRange,
    Flag,
    Keyword,
    MatchAll,
    Not,
    Or,
    Phrase,
    QueryError,
    Text,
    has_free_text,
    parse,
    split_scripts,
    text_parts,
)


def p(text: str) -> object:
    return parse(text, UTC)


def test_words_side_by_side_are_one_text() -> None:
    assert p("refund my bill") == Text("refund my bill")
    assert p("  ") == MatchAll()
    assert p("") == MatchAll()


def test_phrases_exclusions_and_or() -> None:
    assert p('"credit card" -declined') == And((Phrase("credit card"), Not(Text("declined"))))
    assert p("declined OR 退货") == Or((Text("declined"), Text("退货")))
    assert p("a b OR c") == Or((Text("a b"), Text("c")))  # AND binds first
    assert p('-"credit card"') == Not(Phrase("credit card"))
    assert p("-channel:sms") == Not(Keyword("channel", "sms"))
    assert p("e-mail") == Text("e-mail")  # a hyphen inside a word is not an exclusion
    assert p("or") == Text("or")  # only upper-case OR is the operator


def test_parentheses() -> None:
    assert p("(channel:sms OR channel:email) refund") == And((
        Or((Keyword("channel", "sms"), Keyword("channel", "email"))), Text("refund")))


def test_every_filter() -> None:
    assert p("channel:SMS") == Keyword("channel", "sms")
    assert p("agent:alice") == Keyword("agents", "alice")
    assert p('team:"Tier 2"') == Keyword("team", "tier 2")
    assert p("tag:refund") == Keyword("tags", "refund")
    assert p("status:resolved") == Keyword("status", "resolved")
    assert p("sentiment:negative") == Keyword("sentiment", "negative")
    assert p("direction:in") == Keyword("direction", "in")
    assert p('customer:"Li Wei"') == CustomerName("Li Wei")
    assert p("has:attachment") == Flag("has_attachment", True)
    assert p("is:note") == Flag("note", True)
    assert p("is:public") == Flag("public", True)
    assert p("is:private") == Flag("public", False)


def test_dates_are_days_in_the_hub_time_zone_and_merge() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    assert parse("after:2026-01-01", shanghai) == DateRange(start=datetime(2026, 1, 1, tzinfo=shanghai))
    assert p("before:2026-02") == DateRange(end=datetime(2026, 2, 1, tzinfo=UTC))
    assert p("after:2025 before:2026") == DateRange(datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    assert p("refund after:2026-01-01 before:2026-03-01") == And((
        Text("refund"), DateRange(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))))


def test_full_width_quotes_and_spaces() -> None:
    assert p("\u201c信用卡\u201d") == Phrase("信用卡")
    assert p("账单\u3000退款") == Text("账单 退款")


def test_urls_and_times_are_words() -> None:
    assert p("https://example.com/a") == Text("https://example.com/a")
    assert p("10:30") == Text("10:30")


@pytest.mark.parametrize(("query", "position", "words"), [
    ('refund "credit card', 7, "unterminated quote"),
    ("channel:", 0, "needs a value"),
    ("refund frobnicate:1", 7, "unknown filter frobnicate:"),
    ("after:yesterday", 0, "not a date"),
    ("after:2026-13-01", 0, "not a date"),
    ("status:lost", 0, "status:open"),
    ("has:pdf", 0, "has:attachment"),
    ("(a OR b", 0, "unclosed ("),
    ("a OR b)", 6, "unmatched )"),
    ("OR b", 0, "OR needs something"),
    ("a OR", 2, "OR needs something"),
    ("a OR OR b", 2, "OR needs something"),
    ("()", 0, "empty group"),
    ('""', 0, "empty quotes"),
    ("(a -)", 3, "followed by what to exclude"),
    ("after:2026-02-01 before:2026-01-01", 0, "nothing can match"),
    ("x" * 1001, 1000, "longer than"),
    ("(" * 9 + "a" + ")" * 9, 8, "too deeply nested"),
])
def test_malformed_queries_say_what_and_where(query: str, position: int, words: str) -> None:
    with pytest.raises(QueryError) as caught:
        p(query)
    assert words in caught.value.message
    assert caught.value.position == position
    assert f"(at character {position + 1})" in str(caught.value)


def test_too_many_parts_is_refused() -> None:
    with pytest.raises(QueryError, match="too many parts"):
        p(" ".join(f"-w{i}" for i in range(70)))


def test_helpers() -> None:
    tree = p('refund -declined "credit card" channel:sms')
    assert has_free_text(tree)
    assert text_parts(tree) == ["refund", "credit card"]  # not the excluded word
    assert not has_free_text(p("channel:sms -tag:x"))
    assert split_scripts("bill账单，退款 ok") == [(False, "bill"), (True, "账单"), (False, "，"), (True, "退款"),
                                                (False, " ok")]


@given(st.text(max_size=200))
def test_any_text_parses_or_raises_a_query_error(text: str) -> None:
    try:
        p(text)
    except QueryError as exc:
        assert 0 <= exc.position <= max(len(text), 1000)
