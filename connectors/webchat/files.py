"""What a visitor may upload: images and PDFs, recognized by their first bytes (a declared type or a file
name proves nothing)."""

from __future__ import annotations

import re

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
)
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp",
               "application/pdf": "pdf"}


def sniff(head: bytes) -> str | None:
    """The accepted type these first bytes are, or None."""
    for magic, content_type in _SIGNATURES:
        if head.startswith(magic):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def clean_name(name: str, content_type: str) -> str:
    """A plain file name with the extension of its real type (never .html, .svg...)."""
    stem = name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1].rsplit(".", 1)[0]
    stem = re.sub(r"[^\w\- ]+", "", stem, flags=re.UNICODE).strip()[:100] or "file"
    return f"{stem}.{_EXTENSIONS[content_type]}"
