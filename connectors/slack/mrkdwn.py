"""Slack's mrkdwn, both ways: incoming text made readable for agents, outgoing text escaped so that an agent's
words are never read as Slack markup (a typed `<!channel>` must not ping a whole channel)."""

from __future__ import annotations

import re
from collections.abc import Collection

# Slack's control sequences: <@U123>, <#C123|general>, <!here>, <!subteam^S1|@team>, <https://x|label>.
_SEQUENCE = re.compile(r"<([^<>\n]*)>")


def to_text(mrkdwn: str, own_user_ids: Collection[str] = ()) -> str:
    """Readable plain text for a message's `text`. A leading mention of our own bot (how people address it
    in a channel) is dropped; other mentions become @U123 / #general, links `label (url)`."""
    text = mrkdwn
    if own_user_ids:
        lead = re.match(r"\s*<@([A-Z0-9]+)(?:\|[^>]*)?>[\s,:]*", text)
        if lead and lead.group(1) in own_user_ids:
            text = text[lead.end():]
    text = _SEQUENCE.sub(_readable, text)
    # Slack escapes exactly these three; decoding &amp; last keeps "&amp;lt;" as the literal "&lt;".
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


def _readable(match: re.Match[str]) -> str:
    target, _, label = match.group(1).partition("|")
    if target.startswith("@"):
        return "@" + (label.lstrip("@") or target[1:])
    if target.startswith("#"):
        return "#" + (label.lstrip("#") or target[1:])
    if target.startswith("!"):
        command = target[1:]
        if label:
            return label  # <!subteam^S1|@support>, <!date^1392734382^{date}|Feb 18, 2014>
        if command.startswith("subteam^"):
            return "@" + command.split("^", 1)[1]
        return "@" + command.split("^", 1)[0]  # @here, @channel, @everyone
    shown = target[len("mailto:"):] if target.startswith("mailto:") else target
    if not label or label in shown:
        return label or shown
    return f"{label} ({shown})"


def escape(text: str) -> str:
    """Plain text for chat.postMessage: Slack reads <...> as markup and wants &, < and > escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
