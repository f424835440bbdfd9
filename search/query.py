"""The search query language (docs/search.md), parsed into a small tree that every backend compiles.

    refund "credit card" -chargeback channel:sms OR channel:email after:2026-01-01
    账单 customer:"Li Wei" tag:refund has:attachment (status:open OR status:pending)

Words next to each other must all match (AND); `OR` (upper case) between two parts matches either; a
leading `-` excludes; parentheses group. A malformed query raises QueryError with the position of the
problem, which the API returns as a 400.

Backends never see the text of a query: only these nodes. Free text stays raw in `Text` and `Phrase`, for
each backend to analyse the way it analysed the documents; `split_scripts` gives both the same notion of
where a run of Chinese (or Japanese, Korean) characters begins and ends, so that a run is always matched as
a phrase ("账单" finds "我的账单有问题"; "退款" does not find "退货").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, tzinfo
from typing import Literal

# Keyword fields of the document (search/documents.py) that a filter can name, and how a filter name
# maps to them. Values are compared lower-cased.
KEYWORD_FILTERS: dict[str, str] = {
    "channel": "channel",
    "agent": "agents",
    "team": "team",
    "tag": "tags",
    "status": "status",
    "sentiment": "sentiment",
    "direction": "direction",
}
CLOSED_VALUES: dict[str, tuple[str, ...]] = {
    "status": ("open", "pending", "snoozed", "resolved"),
    "sentiment": ("negative", "neutral"),
    "direction": ("in", "out", "note"),
    "has": ("attachment",),
    "is": ("public", "private", "note", "message"),
}
DATE_FILTERS = ("after", "before")
FILTER_NAMES: tuple[str, ...] = (*KEYWORD_FILTERS, "customer", "has", "is", *DATE_FILTERS)

MAX_QUERY_CHARS = 1000
MAX_CLAUSES = 64
MAX_DEPTH = 8


class QueryError(ValueError):
    """A query that cannot be run; `position` is the 0-based character offset of the problem."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.position = position

    def __str__(self) -> str:
        return f"{self.message} (at character {self.position + 1})"


# --- The tree -------------------------------------------------------------------------------------------

class Node:
    """Base of the query tree. Nodes are immutable and comparable (tests compare parsed trees)."""


@dataclass(frozen=True)
class MatchAll(Node):
    pass


@dataclass(frozen=True)
class Text(Node):
    """Free text: every word must occur (in any order); a run of CJK characters must occur as written."""

    text: str


@dataclass(frozen=True)
class Phrase(Node):
    """"exact phrase": the words in this order, next to each other."""

    text: str


@dataclass(frozen=True)
class Keyword(Node):
    """An exact (lower-cased) value of a keyword field, e.g. channel=sms, tags contains refund."""

    field: str
    value: str


@dataclass(frozen=True)
class KeywordIn(Node):
    """One of several exact values of a field; ints for the numeric fields (team_id, conversation_id...)."""

    field: str
    values: tuple[int | str, ...]


@dataclass(frozen=True)
class CustomerName(Node):
    """customer:"Li Wei": the words of a customer's name or of one of their addresses, as a phrase."""

    text: str


@dataclass(frozen=True)
class Flag(Node):
    """A boolean field of the document: has_attachment, public, note."""

    field: Literal["has_attachment", "public", "note"]
    value: bool


@dataclass(frozen=True)
class DateRange(Node):
    """created_at in [start, end): either side may be open. Timezone-aware datetimes."""

    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class SortKeyRange(Node):
    """Documents whose `sort_key` (search/backend.py sort_value) lies strictly between the bounds; either
    may be open. Built by the search service for pages of conversations, never by the parser."""

    above: int | None = None
    below: int | None = None


@dataclass(frozen=True)
class Not(Node):
    node: Node


@dataclass(frozen=True)
class And(Node):
    nodes: tuple[Node, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Or(Node):
    nodes: tuple[Node, ...] = field(default_factory=tuple)


def and_(*nodes: Node) -> Node:
    """And of `nodes`, flattened, without MatchAll parts."""
    parts: list[Node] = []
    for node in nodes:
        if isinstance(node, And):
            parts.extend(node.nodes)
        elif not isinstance(node, MatchAll):
            parts.append(node)
    if not parts:
        return MatchAll()
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def has_free_text(node: Node) -> bool:
    """Whether the query scores by text (otherwise relevance sort falls back to newest first)."""
    if isinstance(node, (Text, Phrase, CustomerName)):
        return True
    if isinstance(node, (And, Or)):
        return any(has_free_text(n) for n in node.nodes)
    return False


def text_parts(node: Node) -> list[str]:
    """The positive free-text parts of a query (for highlighting)."""
    if isinstance(node, (Text, Phrase)):
        return [node.text]
    if isinstance(node, (And, Or)):
        return [t for n in node.nodes for t in text_parts(n)]
    return []


# --- Scripts -------------------------------------------------------------------------------------------

_CJK_RANGES = (
    (0x3040, 0x30FF),    # Hiragana, Katakana
    (0x3400, 0x4DBF),    # CJK Extension A
    (0x4E00, 0x9FFF),    # CJK Unified Ideographs
    (0xAC00, 0xD7AF),    # Hangul syllables
    (0xF900, 0xFAFF),    # CJK Compatibility Ideographs
    (0x20000, 0x2FA1F),  # Extensions B-F, compatibility supplement
)


def is_cjk(char: str) -> bool:
    code = ord(char)
    return any(lo <= code <= hi for lo, hi in _CJK_RANGES)


def split_scripts(text: str) -> list[tuple[bool, str]]:
    """`text` cut into runs of CJK characters (True) and of everything else (False), in order. Punctuation
    and spaces end a CJK run: "账单" + a full-width comma + "退款" is two runs."""
    runs: list[tuple[bool, str]] = []
    current: list[str] = []
    current_cjk = False
    for char in text:
        cjk = is_cjk(char)
        if current and cjk != current_cjk:
            runs.append((current_cjk, "".join(current)))
            current = []
        current_cjk = cjk
        current.append(char)
    if current:
        runs.append((current_cjk, "".join(current)))
    return runs


# --- The parser ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Token:
    kind: Literal["word", "quoted", "lparen", "rparen", "or", "minus", "field"]
    value: str
    position: int
    field: str = ""        # for kind == "field": the filter name
    quoted: bool = False   # for kind == "field": whether the value was quoted


_FIELD_RE = re.compile(r"([A-Za-z_]+):")
_SPACE = re.compile(r"\s+")


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """The text of a quoted string starting at `start` (a quote), and the index after its closing quote."""
    end = text.find('"', start + 1)
    if end < 0:
        raise QueryError("unterminated quote: add the closing \"", start)
    return text[start + 1:end], end + 1


def _read_word(text: str, start: int) -> tuple[str, int]:
    end = start
    while end < len(text) and not text[end].isspace() and text[end] not in '()"':
        end += 1
    return text[start:end], end


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i = _SPACE.match(text, i).end()  # type: ignore[union-attr]
            continue
        if char == "(":
            tokens.append(_Token("lparen", char, i))
            i += 1
            continue
        if char == ")":
            tokens.append(_Token("rparen", char, i))
            i += 1
            continue
        if char == '"':
            value, i2 = _read_quoted(text, i)
            tokens.append(_Token("quoted", value, i))
            i = i2
            continue
        if char == "-" and (not tokens or tokens[-1].kind != "minus") and i + 1 < len(text) \
                and not text[i + 1].isspace() and (i == 0 or text[i - 1].isspace() or text[i - 1] == "("):
            tokens.append(_Token("minus", char, i))
            i += 1
            continue
        match = _FIELD_RE.match(text, i)
        if match and match.group(1).lower() in FILTER_NAMES:
            name = match.group(1).lower()
            j = match.end()
            if j >= len(text) or text[j].isspace() or text[j] in "()":
                raise QueryError(f"{name}: needs a value, e.g. {_example(name)}", i)
            if text[j] == '"':
                value, end = _read_quoted(text, j)
                tokens.append(_Token("field", value, i, field=name, quoted=True))
            else:
                value, end = _read_word(text, j)
                tokens.append(_Token("field", value, i, field=name))
            i = end
            continue
        if match and not text.startswith("//", match.end()):
            name = match.group(1)
            raise QueryError(f"unknown filter {name}: (filters: {', '.join(f + ':' for f in FILTER_NAMES)}); "
                             f"put the word in quotes to search for it as text", i)
        word, end = _read_word(text, i)
        tokens.append(_Token("or" if word == "OR" else "word", word, i))
        i = end
    return tokens


def _example(name: str) -> str:
    if name in CLOSED_VALUES:
        return f"{name}:{CLOSED_VALUES[name][0]}"
    return {"after": "after:2026-01-01", "before": "before:2026-02-01", "customer": 'customer:"Li Wei"',
            "agent": "agent:alice", "team": "team:billing", "tag": "tag:refund", "channel": "channel:sms"}[name]


class _Parser:
    def __init__(self, text: str, tokens: list[_Token], tz: tzinfo) -> None:
        self.text = text
        self.tokens = tokens
        self.i = 0
        self.tz = tz
        self.clauses = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def parse(self) -> Node:
        node = self.or_expr(0)
        token = self.peek()
        if token is not None:  # only a stray ")" can stop the top level early
            raise QueryError("unmatched ) : remove it or add a ( before it", token.position)
        return node

    def or_expr(self, depth: int) -> Node:
        parts = [self.and_expr(depth)]
        while (token := self.peek()) is not None and token.kind == "or":
            self.i += 1
            nxt = self.peek()
            if nxt is None or nxt.kind in ("or", "rparen"):
                raise QueryError("OR needs something on both sides", token.position)
            parts.append(self.and_expr(depth))
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_expr(self, depth: int) -> Node:
        parts: list[Node] = []
        words: list[str] = []  # consecutive plain words become one Text node
        while (token := self.peek()) is not None and token.kind not in ("or", "rparen"):
            if token.kind == "word":
                self.i += 1
                words.append(token.value)
                continue
            if words:
                parts.append(Text(" ".join(words)))
                words = []
            parts.append(self.unary(depth))
        if words:
            parts.append(Text(" ".join(words)))
        if not parts:
            token = self.peek()
            position = token.position if token else len(self.text)
            if token is not None and token.kind == "or":
                raise QueryError("OR needs something on both sides", position)
            raise QueryError("empty group: put something between ( and )", position)
        self.clauses += len(parts)
        if self.clauses > MAX_CLAUSES:
            raise QueryError(f"too many parts (more than {MAX_CLAUSES}): simplify the query", self.tokens[-1].position)
        return and_(*parts) if len(parts) > 1 else parts[0]

    def unary(self, depth: int) -> Node:
        token = self.peek()
        assert token is not None
        if token.kind == "minus":
            self.i += 1
            nxt = self.peek()
            if nxt is None or nxt.kind in ("or", "rparen", "minus"):
                raise QueryError("- must be followed by what to exclude, e.g. -refund", token.position)
            if nxt.kind == "word":
                self.i += 1
                return Not(Text(nxt.value))
            return Not(self.unary(depth))
        return self.atom(depth)

    def atom(self, depth: int) -> Node:
        token = self.peek()
        assert token is not None
        self.i += 1
        if token.kind == "lparen":
            if depth >= MAX_DEPTH:
                raise QueryError(f"too deeply nested (more than {MAX_DEPTH} levels of parentheses)", token.position)
            nxt = self.peek()
            if nxt is not None and nxt.kind == "rparen":
                raise QueryError("empty group: put something between ( and )", token.position)
            node = self.or_expr(depth + 1)
            close = self.peek()
            if close is None or close.kind != "rparen":
                raise QueryError("unclosed ( : add the matching )", token.position)
            self.i += 1
            return node
        if token.kind == "quoted":
            if not token.value.strip():
                raise QueryError("empty quotes: put the phrase between them", token.position)
            return Phrase(token.value.strip())
        if token.kind == "field":
            return self.filter(token)
        if token.kind == "word":
            return Text(token.value)
        raise QueryError(f"unexpected {token.value}", token.position)  # pragma: no cover - grammar covers all

    def filter(self, token: _Token) -> Node:
        name, raw = token.field, token.value.strip()
        value = unicodedata.normalize("NFKC", raw).lower()
        if not value:
            raise QueryError(f"{name}: needs a value, e.g. {_example(name)}", token.position)
        if name in CLOSED_VALUES and value not in CLOSED_VALUES[name]:
            raise QueryError(f"{name}:{raw} is not a known value; use one of "
                             f"{', '.join(name + ':' + v for v in CLOSED_VALUES[name])}", token.position)
        if name in KEYWORD_FILTERS:
            return Keyword(KEYWORD_FILTERS[name], value)
        if name == "customer":
            return CustomerName(raw)
        if name == "has":
            return Flag("has_attachment", True)
        if name == "is":
            if value in ("public", "private"):
                return Flag("public", value == "public")
            return Flag("note", value == "note")
        start = self.date(name, raw, token.position)
        if name == "after":
            return DateRange(start=start)
        return DateRange(end=start)

    def date(self, name: str, raw: str, position: int) -> datetime:
        """The start of the day (or month, or year) `raw` names, in the hub's time zone."""
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
                day = date.fromisoformat(raw)
            elif re.fullmatch(r"\d{4}-\d{2}", raw):
                day = date.fromisoformat(raw + "-01")
            elif re.fullmatch(r"\d{4}", raw):
                day = date(int(raw), 1, 1)
            else:
                raise ValueError
        except ValueError:
            raise QueryError(f"{name}:{raw} is not a date; write YYYY-MM-DD, YYYY-MM or YYYY, "
                             f"e.g. {_example(name)}", position) from None
        return datetime.combine(day, time.min, tzinfo=self.tz)


def parse(text: str, tz: tzinfo) -> Node:
    """Parse a query; an empty query matches everything. Raises QueryError."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is longer than {MAX_QUERY_CHARS} characters", MAX_QUERY_CHARS)
    text = text.replace("\u201c", '"').replace("\u201d", '"').replace("\uff02", '"')  # curly and full-width quotes
    text = text.replace("\u3000", " ")  # the ideographic space separates words too
    tokens = _tokenize(text)
    if not tokens:
        return MatchAll()
    node = _Parser(text, tokens, tz).parse()
    return _merge_dates(node)


def _merge_dates(node: Node) -> Node:
    """after: and before: side by side become one range, and an empty range is an error the user sees."""
    if isinstance(node, And):
        ranges = [n for n in node.nodes if isinstance(n, DateRange)]
        if len(ranges) > 1:
            starts = [r.start for r in ranges if r.start]
            ends = [r.end for r in ranges if r.end]
            merged = DateRange(max(starts) if starts else None, min(ends) if ends else None)
            others = [_merge_dates(n) for n in node.nodes if not isinstance(n, DateRange)]
            node = and_(*others, merged)
        else:
            node = And(tuple(_merge_dates(n) for n in node.nodes))
    elif isinstance(node, Or):
        node = Or(tuple(_merge_dates(n) for n in node.nodes))
    elif isinstance(node, Not):
        node = Not(_merge_dates(node.node))
    if isinstance(node, DateRange) and node.start and node.end and node.start >= node.end:
        raise QueryError(f"after:{node.start.date()} is not before before:{node.end.date()}: nothing can match", 0)
    return node

