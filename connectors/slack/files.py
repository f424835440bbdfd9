"""Downloading a file a customer shared (its `url_private`), after the message is stored.

The bot token goes only to Slack's file host (or the API base's host, which is where a test double or a
proxy serves them): a URL or a redirect elsewhere is refused, so a crafted payload cannot make the hub
hand its token to another server.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from connectors.base import FetchedMedia, PermanentFailure, TemporaryFailure
from connectors.slack.web_api import DEFAULT_API_BASE, DEFAULT_TIMEOUT_SECONDS

FILE_HOSTS = frozenset({"files.slack.com"})


def allowed(url: str, config: Mapping[str, Any]) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname in FILE_HOSTS and parts.port is None:
        return True
    api = urlsplit(str(config.get("api_base") or DEFAULT_API_BASE))
    return bool(parts.hostname) and (parts.scheme, parts.netloc) == (api.scheme, api.netloc)


class _SameHostsOnly(urllib.request.HTTPRedirectHandler):
    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        if not allowed(newurl, self.config):
            raise PermanentFailure("Slack redirected the file download away from Slack (the bot token may lack "
                                   "the files:read scope)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch(config: Mapping[str, Any], url: str, max_bytes: int) -> FetchedMedia:
    if not allowed(url, config):
        raise PermanentFailure("not a Slack file URL: the file was not downloaded")
    token = str(config.get("bot_token") or "")
    if not token:
        raise PermanentFailure("no Slack bot token is configured to download files")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310 - checked above
    opener = urllib.request.build_opener(_SameHostsOnly(config))
    timeout = int(config.get("timeout") or DEFAULT_TIMEOUT_SECONDS)
    try:
        with opener.open(request, timeout=timeout) as response:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise PermanentFailure(f"the file is larger than the {max_bytes}-byte limit")
            data = response.read(max_bytes + 1)
            content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip()
    except urllib.error.HTTPError as exc:
        if exc.code == 429 or exc.code >= 500:
            raise TemporaryFailure(f"Slack's file server answered HTTP {exc.code}") from exc
        if exc.code in (401, 403):
            raise PermanentFailure("Slack refused the download: the bot token needs the files:read scope") from exc
        raise PermanentFailure(f"Slack has no such file any more (HTTP {exc.code})") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise TemporaryFailure(f"Slack's file server could not be reached: {exc}") from exc
    if len(data) > max_bytes:
        raise PermanentFailure(f"the file is larger than the {max_bytes}-byte limit")
    if content_type == "text/html" and not urlsplit(url).path.lower().endswith((".html", ".htm")):
        # Without a valid token Slack answers 200 with its sign-in page instead of the file.
        raise PermanentFailure("Slack answered with a sign-in page: the bot token needs the files:read scope")
    return FetchedMedia(data=data, content_type=content_type or "application/octet-stream")
