"""Turning failures into one-line CLI messages: the `hub` command never shows a traceback for a problem
the operator can fix (an unreachable database, a missing broker, an unknown user)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


class CliError(Exception):
    """A problem to report as `hub: <message>` with `exit_code`."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def redact_url(url: str) -> str:
    """`url` without its password, fit for messages and banners."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def one_line(exc: BaseException) -> str:
    """The first meaningful line of an exception's message (driver errors span several lines)."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__
