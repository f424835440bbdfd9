"""Signed values the widget holds: its visitor token, references to its uploads, links to attachments.

All are signed with the account's own key (`AccountInfo.signing_key`), so a token of one account is
worthless on another, and none can be forged without the hub's secret key.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from django.core import signing

_VISITOR_SALT = "webchat.visitor"
_UPLOAD_SALT = "webchat.upload"
_ATTACHMENT_SALT = "webchat.attachment"
# An upload must be sent in a message soon after; older references are refused.
UPLOAD_MAX_AGE_SECONDS = 24 * 3600
VISITOR_ID = re.compile(r"^wv-[0-9a-f]{24}$")


def new_visitor_id() -> str:
    return f"wv-{secrets.token_hex(12)}"


def _key(signing_key: bytes) -> str:
    return signing_key.hex()


def issue_visitor_token(signing_key: bytes, account_id: int, visitor_id: str) -> str:
    return signing.dumps({"a": account_id, "v": visitor_id}, key=_key(signing_key), salt=_VISITOR_SALT)


def read_visitor_token(signing_key: bytes, account_id: int, token: str) -> str | None:
    """The visitor id in a valid token of this account; None for anything else."""
    try:
        data: Any = signing.loads(token, key=_key(signing_key), salt=_VISITOR_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("a") != account_id:
        return None
    visitor = data.get("v")
    return visitor if isinstance(visitor, str) and VISITOR_ID.match(visitor) else None


@dataclass(frozen=True)
class UploadRef:
    visitor_id: str
    path: str
    name: str
    content_type: str
    size: int


def sign_upload(signing_key: bytes, ref: UploadRef) -> str:
    return signing.dumps({"v": ref.visitor_id, "p": ref.path, "n": ref.name, "t": ref.content_type,
                          "s": ref.size}, key=_key(signing_key), salt=_UPLOAD_SALT)


def read_upload(signing_key: bytes, visitor_id: str, value: str) -> UploadRef | None:
    """The upload a reference names, if it is valid, recent and this visitor's own."""
    try:
        data: Any = signing.loads(value, key=_key(signing_key), salt=_UPLOAD_SALT, max_age=UPLOAD_MAX_AGE_SECONDS)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("v") != visitor_id:
        return None
    try:
        return UploadRef(visitor_id, str(data["p"]), str(data["n"]), str(data["t"]), int(data["s"]))
    except (KeyError, TypeError, ValueError):
        return None


def sign_attachment(signing_key: bytes, visitor_id: str, attachment_id: int) -> str:
    """The capability in a visitor's attachment link; the view also checks that the visitor still may
    see it (a conversation moved to another customer takes its files along)."""
    return signing.Signer(key=_key(signing_key), salt=_ATTACHMENT_SALT).sign(f"{visitor_id}:{attachment_id}")


def read_attachment(signing_key: bytes, value: str) -> tuple[str, int] | None:
    try:
        unsigned = signing.Signer(key=_key(signing_key), salt=_ATTACHMENT_SALT).unsign(value)
    except signing.BadSignature:
        return None
    visitor, _, raw_id = unsigned.rpartition(":")
    try:
        return visitor, int(raw_id)
    except ValueError:
        return None
