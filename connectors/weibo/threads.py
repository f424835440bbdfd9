"""Thread keys: how the connector's inbound messages thread, and how `send` finds where to answer.

The hub hands `send` the conversation's thread keys (oldest first) and the provider ids of its messages,
but not the latest customer message itself. So every inbound message registers, besides its threading
keys, one key of its own that says how to answer it:

    reply:dm:<provider id>          a private message: answer with messages/reply.json
    reply:comment:<cid>[:<post>]    a public comment (or a comment that mentions us): comments/reply.json
    reply:post:<post id>            a post that mentions us: comments/create.json on that post

The last `reply:` key is the latest customer message. Threading keys: `dm:<uid>` (private messages thread
per user), `post:<post id>` and `post:<post id>:<uid>` (public comments thread per post and per commenter:
the hub keeps each thread key on one conversation, the newest, so the per-commenter key is what brings a
commenter back to their own conversation after someone else commented on the same post).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

_OWN_PREFIXES = ("dm:", "post:", "reply:")


def dm_keys(sender: str, provider_id: str) -> list[str]:
    return [f"dm:{sender}", f"reply:dm:{provider_id}"]


def comment_keys(sender: str, comment_id: str, post_id: str) -> list[str]:
    keys = [f"post:{post_id}", f"post:{post_id}:{sender}"] if post_id else []
    return [*keys, f"reply:comment:{comment_id}:{post_id}" if post_id else f"reply:comment:{comment_id}"]


def post_keys(sender: str, post_id: str) -> list[str]:
    return [f"post:{post_id}", f"post:{post_id}:{sender}", f"reply:post:{post_id}"]


@dataclass(frozen=True)
class ReplyTarget:
    """Where an agent's reply goes: privately (dm), under a comment, or as a comment on a post."""

    kind: Literal["dm", "comment", "post"]
    comment_id: str = ""
    post_id: str = ""

    @property
    def public(self) -> bool:
        return self.kind != "dm"


PRIVATE = ReplyTarget("dm")


def target_from_metadata(metadata: Mapping[str, Any]) -> ReplyTarget | None:
    """The target named by an inbound message's metadata (as `parse` writes it), if it names one."""
    kind = metadata.get("social_kind")
    comment_id, post_id = str(metadata.get("comment_id") or ""), str(metadata.get("post_id") or "")
    if kind == "dm":
        return PRIVATE
    if kind in ("comment", "mention") and comment_id:
        return ReplyTarget("comment", comment_id, post_id)
    if kind == "mention" and post_id:
        return ReplyTarget("post", post_id=post_id)
    return None


def reply_target(thread_keys: Sequence[str], metadata: Mapping[str, Any]) -> ReplyTarget:
    """How to answer the conversation's latest customer message.

    The latest inbound message's metadata, which the hub passes as `metadata["reply_to"]["metadata"]`
    (hub/delivery.py), decides. Without it the last `reply:` key does (the hub passes the newest keys,
    oldest first). When neither names a public post or comment, answer privately: a private answer to
    a public comment is a nuisance, a public answer to a private message a leak."""
    context = metadata.get("reply_to")
    latest = context.get("metadata") if isinstance(context, Mapping) else None
    if isinstance(latest, Mapping):
        found = target_from_metadata(latest)
        if found is not None:
            return found
    own = [k for k in thread_keys if k.startswith(_OWN_PREFIXES)]
    for key in reversed(own):
        parts = key.split(":")
        if parts[0] != "reply" or len(parts) < 3:
            continue
        if parts[1] == "dm":
            return PRIVATE
        if parts[1] == "comment" and parts[2]:
            return ReplyTarget("comment", parts[2], parts[3] if len(parts) > 3 else "")
        if parts[1] == "post" and parts[2]:
            return ReplyTarget("post", post_id=parts[2])
    return PRIVATE
