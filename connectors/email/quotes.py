"""Separate the new text of a mail reply from the quoted message and the signature.

One forward pass over the lines, each line looked at a bounded number of times, and every pattern is
anchored and bounded: linear in the body, whatever it holds.

What counts as quote:
- an attribution line and everything after it, when the quote is not a "> " block followed by more new
  text ("On Tue, 3 May 2026 at 10:00, X wrote:", "在 2026年5月3日 10:00 张三 写道", "X 于 ... 写道");
- a separator line ("-----Original Message-----", "------------------ 原始邮件 ------------------") or an
  Outlook-style header block ("From: / Sent:", "发件人: / 发送时间:") and everything after it;
- an attribution followed by a "> " block that new text follows (bottom-posting): the attribution and the
  block only;
- a "> " block at the end of the text. A "> " block between new paragraphs (an inline answer) stays: it is
  the context of the answer below it.
Forwarded messages ("---------- Forwarded message ---------", "Begin forwarded message:", an Outlook header
block whose subject starts with "FW:" / "转发:") are NOT quotes: what a customer forwards is what they want
us to read, so from there on the text is kept whole (quotes inside the forwarded mail included).

The signature is what follows the last "-- " line (at most 30 lines), or a client's "Sent from my iPhone" /
"发自我的iPhone" line near the end, in what remains of the new text.
"""

from __future__ import annotations

import re
from typing import NamedTuple


class Reply(NamedTuple):
    text: str
    quoted: str
    signature: str


MAX_HEADER_LINE = 400  # attribution and header lines are short; longer lines are never tested
# Lines that look like the start of an attribution or header block but are not one cost a few lookahead
# checks each; past this many (a log dump, or a crafted body) the rest of the text is not searched for
# them, which keeps a 2 MB body of such lines well under a second.
MAX_CANDIDATES = 2000

_SEPARATOR = re.compile(
    r"^[-=_*\s]{0,30}(?:-{2,}|_{2,}|={2,})\s*"
    r"(?:original message|original|ursprüngliche nachricht|message d'origine|mensaje original|"
    r"messaggio originale|oorspronkelijk bericht|原始邮件|原始郵件|原邮件|原郵件|元のメッセージ)"
    r"\s*(?:-{2,}|_{2,}|={2,})[-=_*\s]{0,30}$",
    re.IGNORECASE,
)
_RULE = re.compile(r"^(?:_{8,}|-{8,})$")
_EN_ATTRIBUTION_START = re.compile(r"^(?:on|le|am|el|il|op|em|w dniu|den|på)\s", re.IGNORECASE)
# German and Dutch put the name after the verb: "Am ... schrieb Name <address>:".
_ATTRIBUTION_END = re.compile(
    r"(?:wrote|writes|a écrit|schrieb|escribió|ha scritto|schreef|escreveu|napisał|skrev)\b[^:]{0,120}:$",
    re.IGNORECASE,
)
# Forwarded mail is what the customer wants us to read: from such a line on, nothing is quote or signature.
_FORWARD_MARKER = re.compile(
    r"^(?:-{2,}\s*(?:forwarded message|original forwarded message|forwarded mail|weitergeleitete nachricht|"
    r"message transféré|mensaje reenviado|转发邮件信息|转发的邮件|轉寄郵件|轉寄的郵件|転送メッセージ)\s*-{2,}|"
    r"begin forwarded message:|下面是被转发的邮件[:\uff1a]?)$",
    re.IGNORECASE,
)
_FORWARD_SUBJECT = re.compile(
    r"^\*?(?:subject|主题|主題|主旨|件名)\s*\*?\s*[:\uff1a]\s*(?:fw|fwd|转发|轉寄|転送)\s*[:\uff1a]", re.IGNORECASE
)
_FULLWIDTH_COLON = "\uff1a"
_CJK_ATTRIBUTION_END = tuple(
    word + colon for word in ("写道", "寫道", "書きました", "wrote") for colon in (":", _FULLWIDTH_COLON)
)
# "From:"-style header blocks that mail clients put above a quoted message.
_FROM_FIELD = re.compile(r"^\*?(?:from|von|de|van|da|发件人|寄件者|寄件人|差出人)\s*\*?\s*[:\uff1a]", re.IGNORECASE)
_DATE_FIELD = re.compile(
    r"^\*?(?:sent|date|gesendet|datum|envoyé|enviado|fecha|inviato|data|verzonden|发送时间|发送日期|日期|时间|"
    r"寄件日期|傳送時間|時間|送信日時|日時)\s*\*?\s*[:\uff1a]",
    re.IGNORECASE,
)
_MOBILE_SIGNATURE = re.compile(
    r"^(?:sent from my .{1,40}|sent from (?:mail|outlook|yahoo mail|gmail|samsung).{0,40}|"
    r"get outlook for .{1,30}|sent via .{1,40}|sent from my mobile.{0,20}|"
    r"发自我的.{1,20}|来自我的.{1,20}|从我的\s?.{1,20}发送|發自我的.{1,20}|從我的\s?.{1,20}傳送|"
    r"由我的.{1,20}傳送|发自网易邮箱.{0,20}|发自\s?qq邮箱.{0,10}|来自\s?qq邮箱.{0,10}|发自手机.{0,20}|"
    r".{1,20}から送信)$",
    re.IGNORECASE,
)


def _stripped(line: str) -> str:
    return line.strip().replace("\xa0", " ")


def _is_quote_line(line: str) -> bool:
    return line.lstrip().startswith(">")


class _Budget:
    """How many more look-alike lines may be examined (see MAX_CANDIDATES)."""

    def __init__(self) -> None:
        self.left = MAX_CANDIDATES

    def spend(self) -> bool:
        self.left -= 1
        return self.left >= 0


def _attribution_end(lines: list[str], index: int, first: str, budget: _Budget) -> int:
    """If an attribution starts at `index`, the index after its last line, else -1. Clients wrap long
    attributions ("On ..., Name <address>\nwrote:"), so up to three lines are joined."""
    if first.endswith(_CJK_ATTRIBUTION_END) and (
        first.startswith(("在", "於", "于")) or "于" in first or "於" in first or "@" in first
        or any(c.isdigit() for c in first) or first in _CJK_ATTRIBUTION_END
    ):
        return index + 1
    if budget.left <= 0 or not _EN_ATTRIBUTION_START.match(first) or not budget.spend():
        return -1
    joined = first
    for extra in range(3):
        # The (bounded) regex only runs on the tail of a line that ends with a colon.
        if joined.endswith(":") and _ATTRIBUTION_END.search(joined[-160:]) and len(joined) <= MAX_HEADER_LINE:
            # A real attribution carries a date or an address; "On Monday I wrote:" in prose does not.
            if "@" in joined or any(c.isdigit() for c in joined):
                return index + 1 + extra
            return -1
        if index + 1 + extra >= len(lines):
            break
        following = _stripped(lines[index + 1 + extra])
        if not following or following.startswith(">") or len(joined) > MAX_HEADER_LINE:
            break
        joined += " " + following
    return -1


def _quoted_message_at(lines: list[str], index: int, stripped: str, budget: _Budget) -> str:
    """"quote" for a separator line or an Outlook / QQ / Foxmail style header block (a From line, then a
    Sent / Date line within the next five lines); "forward" for a header block whose subject is a forward
    (Outlook writes forwards exactly like replies); "" otherwise."""
    if stripped[0] in "-_=*" and len(stripped) >= 6 and stripped.strip("-_=* ") and _SEPARATOR.match(stripped):
        return "quote"
    head = stripped[:24]
    if budget.left <= 0 or not (":" in head or _FULLWIDTH_COLON in head) or not _FROM_FIELD.match(stripped):
        return ""
    if not budget.spend():
        return ""
    date_seen = forward = False
    for following in lines[index + 1 : index + 7]:
        text = _stripped(following)
        if not text:
            continue
        if len(text) > MAX_HEADER_LINE:
            break
        if _DATE_FIELD.match(text):
            date_seen = True
        elif _FORWARD_SUBJECT.match(text):
            forward = True
    if not date_seen:
        return ""
    return "forward" if forward else "quote"


def _quote_block_end(lines: list[str], index: int) -> int:
    """Index after a run of "> " lines (blank lines inside the run included, trailing ones not)."""
    end = index
    position = index
    while position < len(lines):
        line = lines[position]
        if _is_quote_line(line):
            end = position + 1
        elif line.strip():
            break
        position += 1
    return end


def split_reply(text: str) -> Reply:
    if not text.strip():
        return Reply("", "", "")
    lines = text.split("\n")
    count = len(lines)
    last_text = count - 1  # index of the last non-blank line: "only blank lines follow" in O(1)
    while last_text >= 0 and not lines[last_text].strip():
        last_text -= 1
    new: list[str] = []
    quoted: list[str] = []
    forwarded: list[str] = []
    budget = _Budget()
    index = 0
    while index < count:
        line = lines[index]
        stripped = _stripped(line)
        if not stripped or len(stripped) > MAX_HEADER_LINE:
            new.append(line)
            index += 1
            continue
        if stripped.startswith(">"):
            end = _quote_block_end(lines, index)
            if end > last_text:  # the quote closes the mail
                quoted.extend(lines[index:])
                break
            new.extend(lines[index:end])  # an inline answer's context
            index = end
            continue
        if _FORWARD_MARKER.match(stripped):
            forwarded = lines[index:]
            break
        attribution = _attribution_end(lines, index, stripped, budget)
        if attribution >= 0:
            block = attribution
            while block < count and not lines[block].strip():
                block += 1
            if block < count and _is_quote_line(lines[block]):
                end = _quote_block_end(lines, block)
                if end <= last_text:  # bottom-posting: new text follows the quote
                    quoted.extend(lines[index:end])
                    index = end
                    continue
            quoted.extend(lines[index:])
            break
        kind = _quoted_message_at(lines, index, stripped, budget)
        if kind:
            # An underscore / dash rule just above the block belongs to it (Outlook on the web).
            previous = len(new) - 1
            while previous >= 0 and not new[previous].strip():
                previous -= 1
            start = len(new)
            if previous >= 0 and _RULE.match(_stripped(new[previous])):
                start = previous
            target = forwarded if kind == "forward" else quoted
            target.extend(new[start:])
            del new[start:]
            target.extend(lines[index:])
            break
        new.append(line)
        index += 1
    body, signature = _split_signature(new)
    return Reply(_tidy(body + forwarded), _tidy(quoted), _tidy(signature))


def _split_signature(lines: list[str]) -> tuple[list[str], list[str]]:
    cut = len(lines)
    seen = 0
    for position in range(len(lines) - 1, -1, -1):
        line = lines[position]
        if line.rstrip() == "--" or line == "-- ":
            if seen <= 30:
                cut = position
            break
        if line.strip():
            seen += 1
            if seen > 30:
                break
    # A client's one-line "Sent from" signature, among the last few lines.
    seen = 0
    for position in range(min(cut, len(lines)) - 1, -1, -1):
        text = _stripped(lines[position])
        if not text:
            continue
        seen += 1
        if seen > 3:
            break
        if len(text) <= 80 and _MOBILE_SIGNATURE.match(text):
            cut = position
    return lines[:cut], lines[cut:]


def _tidy(lines: list[str]) -> str:
    return "\n".join(line.rstrip() for line in lines).strip("\n").rstrip()
