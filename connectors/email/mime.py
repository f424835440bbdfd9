"""Parsing of inbound mail (RFC 5322 / MIME) into a `ParsedMail`. Pure: bytes in, dataclass out.

The MIME structure is parsed by the stdlib (`BytesParser(policy=email.policy.default)`), which records
defects instead of raising. Header *values* are read raw and decoded here, not through the policy's header
registry: that parser is quadratic on crafted values (4 KB of quotes in an address header: 0.4 s; 64 KB:
a minute) and raises RecursionError on a few hundred nested parentheses, and it decodes a GB2312-labelled
encoded-word holding GBK bytes to U+FFFD. The MIME headers the stdlib itself must read while parsing
(Content-Type for the boundaries, Content-Transfer-Encoding for the payload) are put in a safe shape first
by `_guard_mime_headers`. Every step is linear in the input. See docs/_drafts/email-parsing.md.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import functools
import html as html_lib
import logging
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy as email_policy
from email.generator import BytesGenerator
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from email.policy import EmailPolicy
from email.utils import parsedate_to_datetime
from io import BytesIO
from typing import Any, cast

from connectors.email.quotes import split_reply

logger = logging.getLogger(__name__)


class MailParseError(ValueError):
    """Not a mail we can read at all (no headers, no From address...). Message says why."""


@dataclass(frozen=True)
class ParsedAttachment:
    name: str
    content_type: str
    data: bytes
    inline: bool  # Content-Disposition inline with a Content-ID (an image in the HTML)
    content_id: str  # without <>


@dataclass(frozen=True)
class ParsedMail:
    message_id: str  # without <>, "" when absent
    in_reply_to: tuple[str, ...]  # message ids without <>
    references: tuple[str, ...]
    from_address: str  # lower-cased addr-spec, "" if none (only ever for auto-replies and bounces)
    from_name: str  # decoded display name
    reply_to: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    delivered_to: tuple[str, ...]  # lower-cased addresses (Delivered-To, X-Original-To, Envelope-To)
    subject: str  # decoded (encoded-words)
    date: datetime | None  # aware
    text: str  # only the NEW text: quoted reply and signature removed
    full_text: str  # the whole plain-text body as sent (derived from HTML when there is no text part)
    quoted_text: str  # what was removed as quote ("" if none)
    signature: str  # what was removed as signature ("" if none)
    html: str  # the raw HTML body ("" if none); the hub sanitizes it
    attachments: tuple[ParsedAttachment, ...]
    skipped_attachments: tuple[dict[str, object], ...]  # {"name", "reason": "too_large"|"too_many"|"too_deep", "size"?}
    is_auto_reply: bool  # auto-replies and bounces: recorded, never answered automatically
    auto_reply_reason: str  # e.g. "Auto-Submitted: auto-replied", "delivery status notification", "X-Autoreply"
    language_hint: str  # e.g. "zh" when the body/charset is Chinese, "" otherwise (cheap heuristic)
    defects: tuple[str, ...]  # names of the email package's defects found


# A real mail has a handful of MIME parts; the stdlib spends ~85 µs on each, so a few MB of empty parts
# would cost minutes. Parts past this many are cut off before parsing (reported as too_many).
MAX_MIME_PARTS = 500
# Header values are cut to this length before decoding: far above any real header.
MAX_HEADER_CHARS = 64 * 1024
MAX_REFERENCES = 200
MAX_ADDRESSES = 1000
MAX_SKIPPED_ENTRIES = 100
MAX_DEFECTS = 50


@functools.lru_cache(maxsize=1024)
def _fetch_header(name: str, value: str) -> Any:
    return email_policy.default.header_fetch_parse(name, value)


class _MemoizedDefaultPolicy(EmailPolicy):
    """email.policy.default, except that a header value is parsed once, not at every access: the stdlib
    re-parses Content-Type a dozen times per part while parsing, which was 70% of the time of a 5 KB mail."""

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if hasattr(value, "name") or len(value) > 4096:
            return super().header_fetch_parse(name, value)
        return _fetch_header(name, value)


_POLICY = _MemoizedDefaultPolicy()  # EmailPolicy() with no arguments is email.policy.default
_PARSER = BytesParser(policy=_POLICY)
_HEADER_PARSER = BytesHeaderParser(policy=_POLICY)
# Sub-messages are written back out as .eml attachments exactly as received (no refolding, 8-bit kept).
_EML_POLICY = email_policy.default.clone(refold_source="none", linesep="\r\n")


# --- charsets ------------------------------------------------------------------------------------------

# Labels Python does not know, mapped to the codec mail clients mean by them.
_LABEL_ALIASES = {
    "x-gbk": "gbk", "gb_2312-80": "gb2312", "csgb2312": "gb2312", "x-gb2312": "gb2312",
    "x-mac-chinesesimp": "gb2312", "x-big5": "big5", "x-x-big5": "big5", "x-mac-chinesetrad": "big5",
    "x-sjis": "shift_jis", "windows-31j": "cp932", "x-ms-cp932": "cp932", "x-euc-jp": "euc_jp",
    "windows-874": "cp874", "x-windows-874": "cp874", "unicode-1-1-utf-8": "utf-8", "x-unicode20utf8": "utf-8",
}
# Labels are decoded with a superset first: mailers label GBK / GB18030 text "gb2312", Big5-HKSCS text
# "big5", cp932 text "shift_jis", and so on. Keys are Python's canonical codec names.
_SUPERSETS: dict[str, tuple[str, ...]] = {
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "gb18030": ("gb18030",),
    "big5": ("big5hkscs", "cp950"),
    "big5hkscs": ("big5hkscs", "cp950"),
    "cp950": ("cp950", "big5hkscs"),
    "shift_jis": ("cp932", "shift_jis_2004"),
    "cp932": ("cp932", "shift_jis_2004"),
    "shift_jis_2004": ("shift_jis_2004", "cp932"),
    "iso2022_jp": ("iso2022_jp", "iso2022_jp_ms", "iso2022_jp_2", "iso2022_jp_ext", "iso2022_jp_3"),
    "iso2022_jp_2": ("iso2022_jp_2", "iso2022_jp_ext", "iso2022_jp_3"),
    "euc_jp": ("euc_jp", "euc_jis_2004"),
    "euc_kr": ("cp949",),
    "iso8859-1": ("cp1252",),  # as browsers do: 0x80-0x9F are Windows punctuation in practice
}
# Text codecs that turn data into something else than its characters: never applied from a mail label.
_REFUSED_CODECS = {"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined"}
# cp1252 before latin-1: it decodes the same bytes except five, and 0x80-0x9F as the punctuation they are.
_FALLBACK_CODECS = ("utf-8", "gb18030", "cp1252", "latin-1")
_CHINESE_CODECS = {"gb2312", "gbk", "gb18030", "big5", "big5hkscs", "cp950", "hz"}
_JAPANESE_CODECS = {"shift_jis", "cp932", "shift_jis_2004", "iso2022_jp", "iso2022_jp_2", "euc_jp"}
_KOREAN_CODECS = {"euc_kr", "cp949", "iso2022_kr", "johab"}


def canonical_codec(label: str | None) -> str:
    """Python's codec name for a mail charset label, or "" when it names no usable text codec."""
    if not label:
        return ""
    label = label.strip().strip("\"'").lower()[:64]
    label = _LABEL_ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
    except (LookupError, ValueError):
        return ""
    if name in _REFUSED_CODECS or not getattr(codecs.lookup(name), "_is_text_encoding", True):
        return ""
    return name


def _candidates(label: str | None) -> list[str]:
    name = canonical_codec(label)
    first = list(_SUPERSETS.get(name, (name,) if name else ()))
    return first + [c for c in _FALLBACK_CODECS if c not in first]


_ISO2022JP_MS = "iso2022_jp_ms"  # not a Python codec: see _decode_iso2022jp_ms
_ISO2022JP_ESCAPE = re.compile(rb"\x1b(\(B|\(J|\(I|\$@|\$B)")
_ISO2022JP_MODES = {b"(B": 0, b"(J": 0, b"(I": 1, b"$@": 2, b"$B": 2}


def _decode_iso2022jp_ms(data: bytes) -> str:
    """ISO-2022-JP as Windows writes it (CP50220): JIS X 0208 plus the NEC row 13 (①, ㈱) and IBM
    characters that Python's iso2022 codecs reject. Converted to Shift_JIS bytes, decoded as cp932."""
    out = bytearray()
    mode = 0  # 0 ASCII, 1 half-width katakana, 2 JIS X 0208
    index = 0
    while index < len(data):
        byte = data[index]
        if byte == 0x1B:
            escape = _ISO2022JP_ESCAPE.match(data, index)
            if not escape:
                raise UnicodeDecodeError(_ISO2022JP_MS, data, index, index + 1, "unsupported escape")
            mode = _ISO2022JP_MODES[escape.group(1)]
            index = escape.end()
        elif byte >= 0x80:
            raise UnicodeDecodeError(_ISO2022JP_MS, data, index, index + 1, "8-bit byte")
        elif mode == 0 or byte in (0x0A, 0x0D):
            out.append(byte)
            index += 1
        elif mode == 1:
            out.append(byte + 0x80)
            index += 1
        else:
            if index + 1 >= len(data) or not (0x21 <= byte <= 0x7E and 0x21 <= data[index + 1] <= 0x7E):
                raise UnicodeDecodeError(_ISO2022JP_MS, data, index, index + 1, "bad JIS pair")
            second = data[index + 1]
            lead = ((byte + 1) >> 1) + (0x70 if byte <= 0x5E else 0xB0)
            trail = second + (0x1F + (second >= 0x60) if byte & 1 else 0x7E)
            out += bytes((lead, trail))
            index += 2
    return out.decode("cp932")


def _decode_strict(data: bytes, codec: str) -> str:
    if codec == _ISO2022JP_MS:
        return _decode_iso2022jp_ms(data)
    return data.decode(codec)


_TRUNCATED = {"unexpected end of data", "incomplete multibyte sequence"}


def decode_bytes(data: bytes, label: str | None) -> str:
    """Decode text whose charset label may be wrong: the label (as its superset), then utf-8, then gb18030,
    then cp1252 / latin-1, the first that decodes without an error. Bytes cut off at the very end (a
    truncated multibyte character) do not disqualify the declared charset: they become one U+FFFD."""
    if not data:
        return ""
    name = canonical_codec(label)
    candidates = _candidates(label)
    if name.startswith("iso2022") or name in ("hz", "utf-7"):
        # 7-bit encodings: their bytes are valid utf-8 too, so the generic fallbacks would "succeed" and
        # show escape sequences. Their own decoders, with a replacement character if all fail.
        candidates = [c for c in candidates if c not in _FALLBACK_CODECS]
    declared = set(_SUPERSETS.get(name, (name,))) if name else set()
    for codec in candidates:
        try:
            text = _decode_strict(data, codec)
        except UnicodeDecodeError as error:
            # A body cut inside its last character (a truncated mail) keeps the charset it declared.
            truncated = error.end == len(data) and error.reason in _TRUNCATED and error.start > len(data) - 4
            if codec not in declared or not truncated:
                continue
            try:
                text = _decode_strict(data[: error.start], codec) + "\ufffd"
            except UnicodeDecodeError:
                continue
        except LookupError:
            continue
        return text[1:] if text.startswith("\ufeff") else text
    if candidates and candidates[0] != _ISO2022JP_MS:
        return data.decode(candidates[0], "replace")
    return data.decode("latin-1")


# --- header values -------------------------------------------------------------------------------------

_LINE_BREAKS = re.compile(r"\r\n|\r|\n")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _raw_to_text(value: object, limit: int = MAX_HEADER_CHARS) -> str:
    """An unfolded header value as text. The parser keeps raw 8-bit bytes as surrogate escapes: they are
    decoded as utf-8, else gb18030, else latin-1 (senders that skip RFC 2047 are mostly one or the other)."""
    text = value if isinstance(value, str) else str(value)
    text = _LINE_BREAKS.sub("", text[: limit + 64])[:limit]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = decode_bytes(text.encode("utf-8", "surrogateescape"), None)
    return text


_ENCODED_WORD = re.compile(r"=\?([^?\s*]{1,64})(?:\*[^?\s]{0,32})?\?([bBqQ])\?([^?]*)\?=")


def _b64(text: str) -> bytes:
    data = re.sub(r"[^A-Za-z0-9+/]", "", text)
    if len(data) % 4 == 1:
        data = data[:-1]
    data += "=" * (-len(data) % 4)
    try:
        return base64.b64decode(data)
    except (binascii.Error, ValueError):
        return b""


def decode_words(text: str) -> str:
    """Decode RFC 2047 encoded-words. Adjacent words of one charset are joined before decoding, since
    mailers split a multibyte character across two words; whitespace between encoded-words is dropped."""
    if "=?" not in text:
        return text
    out: list[str] = []
    pending = bytearray()
    pending_charset = ""
    last_end = 0
    previous_was_word = False

    def flush() -> None:
        nonlocal pending_charset
        if pending_charset:
            out.append(decode_bytes(bytes(pending), pending_charset))
            pending.clear()
            pending_charset = ""

    for match in _ENCODED_WORD.finditer(text):
        between = text[last_end : match.start()]
        if between and not (previous_was_word and not between.strip()):
            flush()
            out.append(between)
        charset, encoding, payload = match.group(1).lower(), match.group(2).lower(), match.group(3)
        if encoding == "b":
            data = _b64(payload)
        else:
            data = binascii.a2b_qp(payload.encode("utf-8", "surrogateescape"), header=True)
        if pending_charset and charset != pending_charset:
            flush()
        pending_charset = charset
        pending.extend(data)
        last_end = match.end()
        previous_was_word = True
    flush()
    out.append(text[last_end:])
    return "".join(out)


def _clean_text(text: str) -> str:
    return _CONTROL.sub(" ", text).strip()


def _header_text(headers: dict[str, list[str]], name: str, limit: int = MAX_HEADER_CHARS) -> str:
    values = headers.get(name)
    return _raw_to_text(values[0], limit) if values else ""


# Address lists: a linear tokenizer (quoted strings, comments, angle addresses, groups), not a grammar.
_ADDRESS_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[()<>,;:]|\\.?|\s+|[^"()<>,;:\\\s]+', re.S)
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)


@dataclass
class _AddressBuilder:
    phrase: list[str] = field(default_factory=list)
    comment: list[str] = field(default_factory=list)
    angle: list[str] | None = None  # inside <...>
    address: str | None = None  # the <...> once closed

    def result(self) -> tuple[str, str] | None:
        words = [p for p in self.phrase if p.strip()]
        if self.address is None and self.angle is not None:  # never closed
            self.address = "".join(self.angle)
        if self.address is not None:
            address = self.address.strip()
            if ":" in address:  # obsolete source route <@a,@b:user@host>
                address = address.rsplit(":", 1)[1]
        else:
            at = [i for i, w in enumerate(words) if "@" in w]
            if at:
                index = at[-1]
                address = words.pop(index)
                if address.startswith("@") and index > 0:  # "quoted local"@domain
                    address = words.pop(index - 1) + address
            elif len(words) == 1:
                address = words.pop()
            else:
                address = ""
        name = " ".join(words).strip() or " ".join(c for c in self.comment if c).strip()
        address = re.sub(r"\s+", "", address)
        if not address and not name:
            return None
        return decode_words(re.sub(r"\s+", " ", name)).strip(), address


def parse_addresses(value: str) -> list[tuple[str, str]]:
    """(display name, address) pairs of an address-list header value (already unfolded text)."""
    result: list[tuple[str, str]] = []
    current = _AddressBuilder()
    depth = 0  # comment nesting
    for token in _ADDRESS_TOKEN.findall(value):
        if depth:
            if token == "(":
                depth += 1
            elif token == ")":
                depth -= 1
            else:
                current.comment.append(token.strip())
            continue
        if current.angle is not None and current.address is None:
            if token == ">":
                current.address = "".join(current.angle)
            else:
                current.angle.append(token)
            continue
        if token == "(":
            depth = 1
        elif token == "<":
            if current.address is None:
                current.angle = []
        elif token in (",", ";"):
            item = current.result()
            if item:
                result.append(item)
                if len(result) >= MAX_ADDRESSES:
                    return result
            current = _AddressBuilder()
        elif token == ":":
            if current.address is None:
                current = _AddressBuilder()  # a group's display name ("undisclosed-recipients:")
        elif token.startswith('"'):
            inner = token[1:-1] if token.endswith('"') and len(token) > 1 else token[1:]
            current.phrase.append(_QUOTED_PAIR.sub(r"\1", inner))
        elif token.isspace():
            current.phrase.append(" ")
        elif token not in (">", ")"):
            current.phrase.append(token)
    item = current.result()
    if item:
        result.append(item)
    return result


def _is_mailbox(address: str) -> bool:
    local, _, domain = address.rpartition("@")
    return bool(local) and bool(domain) and len(address) <= 320 and not any(c in address for c in "<>,;\"")


def _mailboxes(headers: dict[str, list[str]], *names: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for name in names:
        for value in headers.get(name, ()):
            for _display, address in parse_addresses(_raw_to_text(value)):
                address = address.lower()
                if _is_mailbox(address):
                    seen.setdefault(address, None)
    return tuple(seen)


_MSG_ID_BRACKETED = re.compile(r"<([^<>]{1,998})>")


def parse_message_ids(value: str) -> list[str]:
    """Bare ids from Message-ID / In-Reply-To / References: every <...>, or, when there are no brackets,
    the words holding an "@". Junk between ids (comments, "Your message of") is ignored."""
    ids = [re.sub(r"\s+", "", m) for m in _MSG_ID_BRACKETED.findall(value)]
    if not ids:
        ids = [w.strip("<>,;()\"'") for w in value.split() if "@" in w]
    seen: dict[str, None] = {}
    for msg_id in ids:
        if msg_id and len(msg_id) <= 998:
            seen.setdefault(msg_id, None)
    return list(seen)


def _parse_date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value[:256])
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:  # "-0000": the time is UTC, the zone unknown
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


# MIME header parameters (Content-Type / Content-Disposition): quotes, comments, RFC 2231 and encoded-words.
_PARAM_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[();=]|\\.?|[^"();=\\]+', re.S)
_RFC2231_NAME = re.compile(r"^([^*]+)\*(\d{1,3})?(\*)?$")  # name*, name*0, name*0*
MAX_PARAMS = 32


def parse_mime_header(value: str) -> tuple[str, dict[str, str]]:
    """("main/value", {param: decoded value}) of a Content-Type or Content-Disposition value (text)."""
    segments: list[list[tuple[bool, str]]] = [[]]  # per ';' segment: (quoted, text) pieces
    depth = 0
    for token in _PARAM_TOKEN.findall(value):
        if depth:
            depth += 1 if token == "(" else -1 if token == ")" else 0
            continue
        if token == "(":
            depth = 1
        elif token == ";":
            if len(segments) > MAX_PARAMS * 4:
                break
            segments.append([])
        elif token.startswith('"'):
            inner = token[1:-1] if token.endswith('"') and len(token) > 1 else token[1:]
            segments[-1].append((True, _QUOTED_PAIR.sub(r"\1", inner)))
        elif token != ")":
            segments[-1].append((False, token))
    main = "".join(text for _quoted, text in segments[0]).strip().lower()
    plain: dict[str, str] = {}
    extended: dict[str, list[tuple[int, bool, str]]] = {}
    for pieces in segments[1:]:
        split = next((i for i, (quoted, text) in enumerate(pieces) if not quoted and text == "="), None)
        if split is None:
            continue
        name = "".join(text for _q, text in pieces[:split]).strip().lower()
        raw_value = "".join(text if quoted else text.strip() for quoted, text in pieces[split + 1 :])
        if not name or len(name) > 64:
            continue
        match = _RFC2231_NAME.match(name)
        if match:
            base = match.group(1)
            sections = extended.setdefault(base, [])
            if len(sections) < 64:
                is_extended = match.group(2) is None or match.group(3) is not None
                sections.append((int(match.group(2) or 0), is_extended, raw_value))
        elif name not in plain and len(plain) < MAX_PARAMS:
            plain[name] = decode_words(raw_value) if "=?" in raw_value else raw_value
    for base, sections in extended.items():
        plain[base] = _join_rfc2231(sorted(sections, key=lambda s: s[0]))  # RFC 2231 wins over the plain one
    return main, plain


def _join_rfc2231(sections: list[tuple[int, bool, str]]) -> str:
    charset = ""
    data = bytearray()
    for index, (_number, is_extended, text) in enumerate(sections):
        if is_extended:
            if index == 0 and text.count("'") >= 2:
                charset, _language, text = text.split("'", 2)
            data.extend(urllib.parse.unquote_to_bytes(text))
        else:
            data.extend(text.encode("utf-8", "surrogateescape"))
    return decode_bytes(bytes(data), charset or None)


def _format_mime_header(main: str, params: dict[str, str]) -> str:
    """A canonical one-line form of a parsed MIME header, simple enough for the stdlib to read fast."""
    valid = re.fullmatch(r"[a-z0-9!#$&^_.+-]{1,64}/[a-z0-9!#$&^_.+-]{1,64}", main)
    out = [main if valid else "application/octet-stream"]
    for name, value in list(params.items())[:16]:
        if not re.fullmatch(r"[a-z0-9_.-]{1,40}", name):
            continue
        value = value[:1024]
        if value.isascii() and not any(c in value for c in "\r\n\x00"):
            out.append('{}="{}"'.format(name, value.replace("\\", "\\\\").replace('"', '\\"')))
        else:
            out.append(f"{name}*=utf-8''{urllib.parse.quote(value.encode('utf-8', 'surrogateescape'), safe='')}")
    return "; ".join(out)


# --- guarding the stdlib parser -----------------------------------------------------------------------

_MIME_LINE = re.compile(
    rb"^(?:(content-type|content-transfer-encoding):([^\n]*(?:\n[ \t][^\n]*)*)|--([^\n]{1,1100}))",
    re.IGNORECASE | re.MULTILINE,
)
# A Content-Type left as is is at most 1024 bytes long, so are its boundaries: all of them are seen here.
_BOUNDARY_QUOTED = re.compile(rb'boundary\s*=\s*"([^"\n]{1,1024})"', re.IGNORECASE)
_BOUNDARY_BARE = re.compile(rb"boundary\s*=\s*([^;\n]{1,1024})", re.IGNORECASE)
_SIMPLE_CTE = re.compile(rb"[ \t]*[A-Za-z0-9_-]{1,40}[ \t]*")
_CTE_WORD = re.compile(rb"[A-Za-z0-9_-]{1,40}")
MAX_REWRITES = 1000


def _is_complex(value: bytes) -> bool:
    return (
        len(value) > 1024
        or b"(" in value
        or b"\\" in value
        or b"*" in value
        or value.count(b'"') > 8
        or value.count(b";") > 12
    )


@dataclass
class _Guarded:
    raw: bytes
    parts_cut: bool = False


def _guard_mime_headers(raw: bytes) -> _Guarded:
    """Make the MIME headers the stdlib reads during parsing cheap and safe to read, and cut the mail off
    after MAX_MIME_PARTS part delimiters. Line breaks are already "\\n" only (the stdlib's own line
    splitting also breaks on a lone CR, which would hide lines from this scan)."""
    pieces: list[bytes] = []
    position = 0
    boundaries: set[bytes] = set()
    delimiters = 0
    rewrites = 0
    parts_cut = False
    for match in _MIME_LINE.finditer(raw):
        if match.group(3) is not None:
            line = match.group(3).rstrip(b" \t\r")
            if line in boundaries or (line.endswith(b"--") and line[:-2] in boundaries):
                delimiters += 1
                if delimiters > MAX_MIME_PARTS:
                    pieces.append(raw[position : match.start()])
                    position = len(raw)
                    parts_cut = True
                    break
            continue
        name, value = match.group(1).lower(), match.group(2)
        if name == b"content-type":
            if _is_complex(value):
                rewrites += 1
                if rewrites > MAX_REWRITES:
                    replacement = b"application/octet-stream"
                else:
                    main, params = parse_mime_header(_raw_to_text(value.decode("ascii", "surrogateescape")))
                    replacement = _format_mime_header(main, params).encode("utf-8")
                pieces.append(raw[position : match.start()])
                pieces.append(b"Content-Type: " + replacement)
                position = match.end()
                value = replacement
            for found in (_BOUNDARY_QUOTED.search(value), _BOUNDARY_BARE.search(value)):
                if found:
                    boundaries.add(found.group(1).strip().strip(b'"'))
                    boundaries.add(found.group(1).rstrip())
        elif not _SIMPLE_CTE.fullmatch(value):
            word = _CTE_WORD.search(value)
            pieces.append(raw[position : match.start()])
            pieces.append(b"Content-Transfer-Encoding: " + (word.group(0) if word else b"8bit"))
            position = match.end()
    if not pieces:
        return _Guarded(raw)
    pieces.append(raw[position:])
    return _Guarded(b"".join(pieces), parts_cut)


# --- HTML to text --------------------------------------------------------------------------------------

_TAG_START = re.compile(r"<(?:!--|[/!?]?[A-Za-z])")
_TAG_NAME = re.compile(r"</?([A-Za-z][A-Za-z0-9:-]{0,30})")
_SKIP_CONTENT = {"script", "style", "head", "title", "template", "noscript", "xml"}
_LINE_TAGS = {"br"}
_BLOCK_TAGS = {
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "table", "tr", "blockquote", "pre",
    "hr", "section", "article", "header", "footer", "dl", "dt", "dd", "address", "center", "form", "fieldset",
    "figure", "figcaption", "main", "nav", "aside", "tbody", "thead", "tfoot", "caption",
}
_SPACES = re.compile(r"[ \t\r\n\f\v]+")


class _TextWriter:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.line: list[str] = []
        self.quote_depth = 0
        self.pre = 0

    def text(self, data: str) -> None:
        if not data:
            return
        if self.pre:
            chunks = data.replace("\r\n", "\n").split("\n")
            for index, chunk in enumerate(chunks):
                if index:
                    self.newline(force=True)
                if chunk:
                    self._write(chunk)
            return
        data = _SPACES.sub(" ", data.replace("\xa0", " "))
        if not self.line:
            data = data.lstrip(" ")
        elif self.line[-1].endswith(" ") and data.startswith(" "):
            data = data[1:]
        if data:
            self._write(data)

    def _write(self, data: str) -> None:
        if not self.line and self.quote_depth:
            self.line.append("> " * self.quote_depth)
        self.line.append(data)

    def newline(self, force: bool = False) -> None:
        text = "".join(self.line).rstrip()
        if text or force:
            self.lines.append(text if text else ("> " * self.quote_depth).rstrip())
        self.line = []

    def block(self) -> None:
        if self.line:
            self.newline()

    def paragraph(self) -> None:
        self.block()
        if self.lines and self.lines[-1] != "" and not self.quote_depth:
            self.lines.append("")

    def result(self) -> str:
        self.newline()
        text = "\n".join(self.lines)
        return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def html_to_text(source: str) -> str:
    """Plain text of an HTML body: tags dropped, block elements and <br> as line breaks, blockquotes as
    "> " lines (so the quote detector sees them), scripts and styles dropped. Linear: one forward scan."""
    writer = _TextWriter()
    lower = source.lower()
    position = 0
    next_gt = -1
    length = len(source)
    while position < length:
        match = _TAG_START.search(source, position)
        if not match:
            writer.text(html_lib.unescape(source[position:]))
            break
        start = match.start()
        if start > position:
            writer.text(html_lib.unescape(source[position:start]))
        if source.startswith("<!--", start):
            end = source.find("-->", start + 4)
            position = length if end < 0 else end + 3
            continue
        if next_gt < start:
            next_gt = source.find(">", start)
            if next_gt < 0:
                next_gt = length
        tag_end = next_gt
        position = tag_end + 1
        name_match = _TAG_NAME.match(source, start)
        if not name_match:  # <!DOCTYPE>, <?xml?>, <![CDATA[
            continue
        name = name_match.group(1).lower()
        closing = source.startswith("</", start)
        if name in _SKIP_CONTENT and not closing and not source.startswith("/", max(start, tag_end - 1)):
            end = lower.find("</" + name, tag_end)
            if end < 0:
                break
            gt = source.find(">", end)
            position = length if gt < 0 else gt + 1
            next_gt = -1
            continue
        _apply_tag(writer, name, closing)
    return writer.result()


def _apply_tag(writer: _TextWriter, name: str, closing: bool) -> None:
    if name in _LINE_TAGS:
        writer.newline(force=True)
    elif name == "blockquote":
        writer.block()
        writer.quote_depth = max(0, writer.quote_depth + (-1 if closing else 1))
    elif name == "pre":
        writer.block()
        writer.pre = max(0, writer.pre + (-1 if closing else 1))
    elif name in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol"):
        writer.paragraph()
    elif name == "li" and not closing:
        writer.block()
        writer.text("- ")
    elif name in _BLOCK_TAGS:
        writer.block()
    elif name in ("td", "th") and not closing:
        writer.text(" ")


# --- the MIME tree -------------------------------------------------------------------------------------

# Attachments a browser would render as a page (script included) are never shown inline: the hub serves
# attachments as downloads, and an inline SVG or HTML "image" in an agent's browser is an XSS vector. Their
# content_type is kept as sent (agents and the hub see what the file is); only `inline` is forced False.
_ACTIVE_TYPES = {"text/html", "image/svg+xml", "application/xhtml+xml", "text/xml", "application/xml"}
_ACTIVE_EXTENSIONS = (".html", ".htm", ".shtml", ".svg", ".svgz", ".xhtml", ".xht", ".xml")
_EXTENSIONS = {
    "image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp", "image/bmp": ".bmp",
    "image/svg+xml": ".svg", "application/pdf": ".pdf", "text/plain": ".txt", "text/html": ".html",
    "text/calendar": ".ics", "message/rfc822": ".eml", "message/global": ".eml",
    "message/delivery-status": ".txt", "text/rfc822-headers": ".txt", "application/zip": ".zip",
    "application/pgp-signature": ".asc", "application/pkcs7-signature": ".p7s", "audio/mpeg": ".mp3",
    "video/mp4": ".mp4", "text/csv": ".csv", "application/ms-tnef": ".dat",
}
_DEFAULT_NAMES = {
    "message/delivery-status": "delivery-status.txt", "message/global-delivery-status": "delivery-status.txt",
    "message/disposition-notification": "disposition-notification.txt", "text/rfc822-headers": "headers.txt",
    "text/calendar": "invite.ics", "application/pgp-signature": "signature.asc",
    "application/pkcs7-signature": "smime.p7s", "application/ms-tnef": "winmail.dat",
}
_FILENAME_JUNK = re.compile(r"[\x00-\x1f\x7f]+")


def _safe_filename(name: str) -> str:
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _FILENAME_JUNK.sub(" ", name).strip().strip(".")
    return name[:255]


def _headers_of(part: Message) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for name, value in part.raw_items():
        headers.setdefault(str(name).strip().lower(), []).append(value)
    return headers


@dataclass
class _Collected:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[ParsedAttachment] = field(default_factory=list)
    skipped: list[dict[str, object]] = field(default_factory=list)
    defects: dict[str, None] = field(default_factory=dict)
    charsets: list[str] = field(default_factory=list)
    dsn: bool = False
    mdn: bool = False

    def skip(self, entry: dict[str, object]) -> None:
        if len(self.skipped) < MAX_SKIPPED_ENTRIES:
            self.skipped.append(entry)

    def defect(self, name: str) -> None:
        if len(self.defects) < MAX_DEFECTS:
            self.defects.setdefault(name, None)


@dataclass(frozen=True)
class _Limits:
    attachment_bytes: int
    attachments: int
    depth: int


def _children(part: Message) -> list[Message]:
    payload = part.get_payload()
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def _subtree_too_deep(part: Message, depth: int, limit: int) -> bool:
    stack = [(part, depth)]
    while stack:
        node, level = stack.pop()
        if level > limit:
            return True
        stack.extend((child, level + 1) for child in _children(node))
    return False


def _walk(root: Message, limits: _Limits, found: _Collected) -> None:
    stack: list[tuple[Message, int]] = [(root, 0)]
    while stack:
        part, depth = stack.pop()
        for defect in getattr(part, "defects", ()):
            found.defect(type(defect).__name__)
        headers = _headers_of(part)
        content_type = part.get_content_type()
        if depth > limits.depth:
            found.skip({"name": _part_name(part, _part_headers(headers).filename, content_type),
                        "reason": "too_deep"})
            continue
        if part.is_multipart() and not content_type.startswith("message/"):
            if content_type == "multipart/report":
                report = parse_mime_header(_raw_to_text(headers.get("content-type", [""])[0]))[1]
                kind = report.get("report-type", "").lower()
                found.dsn = found.dsn or kind == "delivery-status"
                found.mdn = found.mdn or kind == "disposition-notification"
            stack.extend((child, depth + 1) for child in reversed(_children(part)))
            continue
        if content_type in ("message/delivery-status", "message/global-delivery-status"):
            found.dsn = True
        if content_type == "message/disposition-notification":
            found.mdn = True
        _leaf(part, headers, content_type, depth, limits, found)


@dataclass(frozen=True)
class _PartHeaders:
    disposition: str  # "attachment", "inline" or ""
    filename: str  # decoded, not yet made safe
    type_params: dict[str, str]


def _part_headers(headers: dict[str, list[str]]) -> _PartHeaders:
    disposition, disposition_params = parse_mime_header(
        _raw_to_text(headers.get("content-disposition", [""])[0], 8192))
    type_params = parse_mime_header(_raw_to_text(headers.get("content-type", [""])[0], 8192))[1]
    filename = disposition_params.get("filename") or type_params.get("name") or ""
    return _PartHeaders(disposition, filename, type_params)


def _part_name(part: Message, filename: str, content_type: str) -> str:
    name = _safe_filename(filename)
    if name:
        return name
    if content_type.startswith("message/") and content_type != "message/delivery-status":
        children = _children(part)
        if children:
            subject = _clean_text(decode_words(_header_text(_headers_of(children[0]), "subject", 1024)))
            subject = _safe_filename(subject)[:120]
            if subject:
                return subject + ".eml"
    if content_type in _DEFAULT_NAMES:
        return _DEFAULT_NAMES[content_type]
    base = content_type.split("/", 1)[0] if content_type.startswith(("image/", "audio/", "video/")) else "attachment"
    return base + _EXTENSIONS.get(content_type, "")


def _leaf(part: Message, headers: dict[str, list[str]], content_type: str, depth: int, limits: _Limits,
          found: _Collected) -> None:
    info = _part_headers(headers)
    is_attachment = info.disposition == "attachment" or bool(info.filename)
    if content_type in ("text/plain", "text/html") and not is_attachment:
        _body(part, content_type, info.type_params, found)
        return
    if content_type.startswith("multipart/"):  # no usable boundary: the stdlib left it as text; show it as such
        _body(part, "text/plain", info.type_params, found)
        return
    name = _part_name(part, info.filename, content_type)
    if len(found.attachments) >= limits.attachments:
        found.skip({"name": name, "reason": "too_many"})
        return
    if content_type.startswith("message/"):
        if _subtree_too_deep(part, depth, limits.depth):
            found.skip({"name": name, "reason": "too_deep"})
            return
        data = _message_bytes(part, found)
    else:
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
    if len(data) > limits.attachment_bytes:
        found.skip({"name": name, "reason": "too_large", "size": len(data)})
        return
    content_id = _raw_to_text(headers.get("content-id", [""])[0], 1024).strip().strip("<>").strip()
    active = content_type in _ACTIVE_TYPES or name.lower().endswith(_ACTIVE_EXTENSIONS)
    inline = bool(content_id) and info.disposition in ("", "inline") and not active
    found.attachments.append(ParsedAttachment(name=name, content_type=content_type, data=data, inline=inline,
                                              content_id=content_id[:998]))


def _message_bytes(part: Message, found: _Collected) -> bytes:
    """The body of a message/* part (a forwarded mail, a delivery report) as it would be saved to a file."""
    out = BytesIO()
    try:
        BytesGenerator(out, mangle_from_=False, policy=_EML_POLICY).flatten(cast(EmailMessage, part))
    except Exception:  # the generator re-reads headers; a broken part is reported, not fatal
        found.defect("MessageNotSerializable")
        return b""
    data = out.getvalue()
    if data.startswith(b"\r\n"):
        return data[2:]
    _own_headers, _sep, body = data.partition(b"\r\n\r\n")
    return body


_META_CHARSET = re.compile(rb"<meta[^>]{0,300}?charset\s*=\s*[\"']?\s*([A-Za-z0-9._:-]{1,40})", re.IGNORECASE)


def _body(part: Message, content_type: str, params: dict[str, str], found: _Collected) -> None:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    label = params.get("charset", "")
    if not label and content_type == "text/html":
        meta = _META_CHARSET.search(data[:4096])
        label = meta.group(1).decode("ascii") if meta else ""
    if label:
        found.charsets.append(canonical_codec(label))
    text = decode_bytes(data, label or None).replace("\ufeff", "")  # Apple Mail starts quotes with a BOM
    if content_type == "text/html":
        found.html.append(text)
        return
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if params.get("format", "").lower() == "flowed":
        text = unflow(text, delsp=params.get("delsp", "").lower() == "yes")
    found.plain.append(text)


def unflow(text: str, *, delsp: bool = False) -> str:
    """Join RFC 3676 format=flowed soft line breaks (a line ending in a space continues on the next)."""
    out: list[str] = []
    current: list[str] = []
    current_depth = -1
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):  # space-stuffing
            content = content[1:]
        if current and depth != current_depth:
            out.append(">" * current_depth + (" " if current_depth else "") + "".join(current))
            current = []
        current_depth = depth
        if content.endswith(" ") and content != "-- ":
            current.append(content[:-1] if delsp else content)
            continue
        current.append(content)
        out.append(">" * depth + (" " if depth and current[0] else "") + "".join(current))
        current = []
    if current:
        out.append(">" * current_depth + (" " if current_depth else "") + "".join(current))
    return "\n".join(out)


# --- auto-replies --------------------------------------------------------------------------------------

_AUTO_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto[- ]?reply|autoreply|out of (the )?office( reply| autoreply)?|auto response|"
    r"自动回复|自動回覆|自动答复|自動回复|自動応答|不在通知)\s*[:\uff1a]", re.IGNORECASE)
_BOUNCE_SENDERS = {"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"}


def _auto_reply_reason(headers: dict[str, list[str]], sender: str, subject: str, found: _Collected,
                       top_type: str) -> str:
    auto_submitted = _header_text(headers, "auto-submitted", 256).split(";", 1)[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return f"Auto-Submitted: {auto_submitted}"
    for name, label in (("x-autoreply", "X-Autoreply"), ("x-autorespond", "X-Autorespond"),
                        ("x-autogenerated", "X-Autogenerated")):
        if name in headers and _header_text(headers, name, 256).strip().lower() not in ("no", "false", "0"):
            return label
    # X-Auto-Response-Suppress is deliberately not a signal: Exchange sets it on ordinary mail too.
    precedence = _header_text(headers, "precedence", 256).strip().lower()
    if precedence in ("auto_reply", "auto-reply", "bulk", "junk"):
        return f"Precedence: {precedence}"
    if found.dsn or top_type in ("message/delivery-status", "message/global-delivery-status"):
        return "delivery status notification"
    if found.mdn:
        return "disposition notification"
    local = sender.split("@", 1)[0].lower()
    if local in _BOUNCE_SENDERS:
        return f"From: {local}"
    if _AUTO_SUBJECT.match(subject):
        return "Subject: " + re.split(r"[:\uff1a]", subject, maxsplit=1)[0].strip()
    return ""


# --- language ------------------------------------------------------------------------------------------

_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")
_LATIN = re.compile(r"[A-Za-z]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ffff]")


def language_hint(text: str, charsets: Iterable[str]) -> str:
    """"zh", "ja" or "ko" from the script of the first 2000 characters, else from the body's charset."""
    sample = text[:2000]
    latin = len(_LATIN.findall(sample))
    for script, language in ((_KANA, "ja"), (_HANGUL, "ko"), (_HAN, "zh")):
        count = len(script.findall(sample))
        if count >= 2 and count * 5 >= latin:  # "Thanks 谢谢" in an English mail is not Chinese
            return language
    for charset in charsets:
        if charset in _CHINESE_CODECS:
            return "zh"
        if charset in _JAPANESE_CODECS:
            return "ja"
        if charset in _KOREAN_CODECS:
            return "ko"
    return ""


# --- the entry point -----------------------------------------------------------------------------------


def parse_mail(
    raw: bytes,
    *,
    max_attachment_bytes: int = 25 * 1024 * 1024,
    max_attachments: int = 20,
    max_depth: int = 10,
) -> ParsedMail:
    """Parse one raw message. Never raises anything but MailParseError for any bytes given."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError("parse_mail takes the raw message as bytes")
    data = bytes(raw)
    if not data.strip():
        raise MailParseError("empty message")
    limits = _Limits(max_attachment_bytes, max_attachments, max_depth)
    try:
        return _parse(data, limits)
    except MailParseError:
        raise
    except RecursionError:
        logger.info("mail nested too deep for the stdlib parser: headers only")
        try:
            return _parse(data, limits, headers_only=True)
        except MailParseError:
            raise
        except Exception as error:
            raise MailParseError(f"unreadable message ({type(error).__name__})") from error
    except Exception as error:
        # Not expected for any input: kept as a parse error so that one mail can never stop a mailbox.
        logger.warning("mail parser failed on an input", exc_info=True)
        raise MailParseError(f"unreadable message ({type(error).__name__})") from error


def _parse(data: bytes, limits: _Limits, *, headers_only: bool = False) -> ParsedMail:
    data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    guarded = _guard_mime_headers(data)
    found = _Collected()
    if headers_only:
        message = _HEADER_PARSER.parsebytes(guarded.raw)
        found.skip({"name": "", "reason": "too_deep"})
        found.defect("RecursionError")
    else:
        message = _PARSER.parsebytes(guarded.raw)
    headers = _headers_of(message)
    if not headers:
        raise MailParseError("no header section")
    if guarded.parts_cut:
        found.skip({"name": "", "reason": "too_many"})
    if not headers_only:
        _walk(message, limits, found)
    for defect in message.defects:
        found.defect(type(defect).__name__)

    sender_name, sender = _sender(headers)
    subject = _clean_text(decode_words(_header_text(headers, "subject", 16 * 1024)))
    top_type = message.get_content_type()
    reason = _auto_reply_reason(headers, sender, subject, found, top_type)
    from_address = sender.lower() if _is_mailbox(sender.lower()) else ""
    if not from_address and not reason:
        raise MailParseError("no From address" if not sender else f"From holds no address: {sender[:80]!r}")

    full_text = "\n".join(t for t in found.plain if t.strip()) if found.plain else ""
    html = "\n".join(found.html)
    if not full_text.strip() and html:
        full_text = html_to_text(html)
    full_text = full_text.strip("\n")
    reply = split_reply(full_text)
    reply_to = _mailboxes(headers, "reply-to")
    references = parse_message_ids(_header_text(headers, "references"))
    if len(references) > MAX_REFERENCES:  # keep the thread's root and the most recent
        references = references[:1] + references[-(MAX_REFERENCES - 1) :]
    message_ids = parse_message_ids(_header_text(headers, "message-id", 2048))
    return ParsedMail(
        message_id=message_ids[0] if message_ids else "",
        in_reply_to=tuple(parse_message_ids(_header_text(headers, "in-reply-to", 8192))),
        references=tuple(references),
        from_address=from_address,
        from_name=_clean_text(sender_name)[:256],
        reply_to=reply_to[0] if reply_to else "",
        to=_mailboxes(headers, "to"),
        cc=_mailboxes(headers, "cc"),
        delivered_to=_mailboxes(headers, "delivered-to", "x-original-to", "envelope-to"),
        subject=subject,
        date=_parse_date(_header_text(headers, "date", 256)),
        text=reply.text,
        full_text=full_text,
        quoted_text=reply.quoted,
        signature=reply.signature,
        html=html,
        attachments=tuple(found.attachments),
        skipped_attachments=tuple(found.skipped),
        is_auto_reply=bool(reason),
        auto_reply_reason=reason,
        # The new text says what the customer writes in; the subject and quote are often our own words.
        language_hint=language_hint(reply.text or subject + "\n" + full_text, found.charsets),
        defects=tuple(found.defects),
    )


def _sender(headers: dict[str, list[str]]) -> tuple[str, str]:
    for name in ("from", "sender"):
        for value in headers.get(name, ()):
            addresses = parse_addresses(_raw_to_text(value, 8192))
            for display, address in addresses:
                if _is_mailbox(address.lower()):
                    return display, address
            if addresses:
                return addresses[0]
    return "", ""
