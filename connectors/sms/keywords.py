"""SMS consent keywords: the ones Twilio's default opt-out handling acts on, so that the hub's view of who
opted out agrees with what Twilio itself will refuse to deliver."""

from __future__ import annotations

from typing import Literal

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
OPT_IN = frozenset({"START", "YES", "UNSTOP"})
HELP = frozenset({"HELP", "INFO"})

KeywordKind = Literal["opt_out", "opt_in", "help"]


def classify(body: str) -> tuple[KeywordKind, str] | None:
    """The keyword a message consists of, and its kind; None for any other text.

    Only a message that is the keyword alone counts (case and surrounding whitespace aside): "stop" opts
    out, "please don't stop" is an ordinary message."""
    word = " ".join(body.split()).upper()
    if word in OPT_OUT:
        return "opt_out", word
    if word in OPT_IN:
        return "opt_in", word
    if word in HELP:
        return "help", word
    return None
