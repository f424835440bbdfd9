"""Slack threads as hub thread keys, and the thread a reply goes into.

Every inbound message carries two keys:

- `C123:1700000000.000100`, its thread (channel and the thread's root ts), shared by everyone in the
  thread: it is what puts a reply into the conversation that owns the thread. It is also the provider id
  of the root message, so a reply to a thread the hub only knows by its first message still finds it.
- `C123:1700000000.000100/1700000042.000200`, the message within its thread. Nothing else carries it, so
  the hub stores it as a new thread key of the conversation each time a message arrives; the newest such
  key among the conversation's keys names the thread of the customer's latest message, which is where
  an agent's reply belongs (a conversation may span several threads: the customer's new top-level
  message continues their open conversation).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

TS = r"\d{1,12}\.\d{1,9}"
_MESSAGE_KEY = re.compile(rf"([A-Za-z0-9_-]{{1,64}}):({TS})/({TS})")


@dataclass(frozen=True)
class ReplyTarget:
    channel: str
    thread_ts: str | None  # None: a new top-level message (a direct message to the user)


def provider_id(channel: str, ts: str) -> str:
    return f"{channel}:{ts}"


def thread_keys(channel: str, root_ts: str, ts: str) -> list[str]:
    return [f"{channel}:{root_ts}", f"{channel}:{root_ts}/{ts}"]


def reply_target(keys: Sequence[str], user_id: str) -> ReplyTarget | None:
    """The thread of the newest message key (see above); without one, the user's direct messages with the
    app (chat.postMessage accepts a user id as channel). None when there is neither."""
    for key in reversed(keys):
        found = _MESSAGE_KEY.fullmatch(key)
        if found:
            return ReplyTarget(channel=found.group(1), thread_ts=found.group(2))
    return ReplyTarget(channel=user_id, thread_ts=None) if user_id else None
