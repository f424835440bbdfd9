"""Bounding and sanitizing untrusted message content before it is stored."""

from __future__ import annotations

import nh3
from django.conf import settings

TRUNCATION_MARK = "\n[… truncated]"

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "small", "span", "strong", "sub", "sup",
    "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "blockquote": {"type"},
}


def bound_text(text: str, limit: int | None = None) -> tuple[str, bool]:
    """`text` cut to the configured size, and whether it was cut. NUL characters are dropped because
    PostgreSQL text cannot hold them."""
    limit = limit or settings.HUB_MAX_MESSAGE_CHARS
    text = text.replace("\x00", "")
    if len(text) <= limit:
        return text, False
    return text[: limit - len(TRUNCATION_MARK)] + TRUNCATION_MARK, True


def sanitize_html(html: str) -> str:
    """Safe HTML to render in the agent's browser: no scripts, styles, event handlers or javascript: URLs;
    links open with rel=noopener; only http(s), mailto, tel and inline cid: images survive."""
    if not html:
        return ""
    html, _ = bound_text(html, settings.HUB_MAX_MESSAGE_CHARS * 4)
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "tel", "cid"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
