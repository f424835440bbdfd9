"""The platform's HTTP API, as far as the hub uses it: replies (private and public) and media downloads.

aiohttp is the client. `send` and `fetch_media` are synchronous and run in worker threads, so each call
runs a small coroutine with its own event loop and a fresh ClientSession (nothing is shared between
threads, nothing outlives the call).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import aiohttp

from connectors.base import FetchedMedia, PermanentFailure, TemporaryFailure
from connectors.weibo.events import MEDIA_PATH

T = TypeVar("T")

REAL_API_BASE = "https://api.weibo.com"
# On the real platform private replies and media live on their own hosts; any other api_base (a proxy, a
# compatible platform, the tests' local server) serves everything.
REAL_HOSTS = {"messages": "https://m.api.weibo.com", "upload": "https://upload.api.weibo.com"}
# The platform's image CDN, where a media download may be redirected (never sent the access token).
MEDIA_REDIRECT_HOST = re.compile(r"(^|\.)sinaimg\.cn$")

RATE_LIMIT_CODES = frozenset({10022, 10023, 10024})  # IP / user / user-per-API requests out of rate limit
# System error, service unavailable, remote service error, system busy, job expired, RPC error.
TRANSIENT_CODES = frozenset({10001, 10002, 10003, 10009, 10010, 10011})
TOKEN_CODES = frozenset({21314, 21315, 21316, 21317, 21319, 21327, 21332})
_ANSWER_LIMIT = 1 << 20
_MAX_REDIRECTS = 3


def run(call: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from synchronous code, also when this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(call())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(call())).result()


class Endpoints:
    """The account's API bases, from its config (`api_base`, optionally `messages_api_base` and
    `upload_api_base`)."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.api = str(config.get("api_base") or REAL_API_BASE).rstrip("/")
        real = self.api == REAL_API_BASE
        self.messages = str(config.get("messages_api_base") or (REAL_HOSTS["messages"] if real else self.api))
        self.upload = str(config.get("upload_api_base") or (REAL_HOSTS["upload"] if real else self.api))
        self.messages, self.upload = self.messages.rstrip("/"), self.upload.rstrip("/")
        self.token = str(config.get("access_token") or "")
        self.timeout = aiohttp.ClientTimeout(total=float(config.get("timeout_seconds") or 15))

    def media_url_allowed(self, url: str) -> bool:
        return url.startswith(f"{self.upload}{MEDIA_PATH}?")


class ApiError(Exception):
    def __init__(self, status: int, code: int | None, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.transient = status, code, message, transient


def failure(error: ApiError, what: str) -> TemporaryFailure | PermanentFailure:
    """The platform's answer, in words for the agent: rate limits and outages are retried later."""
    code, status = error.code, error.status
    said = f"{error.message} (error {code}, HTTP {status})" if code is not None else f"{error.message} (HTTP {status})"
    if code in RATE_LIMIT_CODES:
        return TemporaryFailure(f"Weibo rate limit reached, retrying later: {said}")
    if error.transient or code in TRANSIENT_CODES or status >= 500 or status == 429:
        return TemporaryFailure(f"Weibo is unavailable, retrying later: {said}")
    if code in TOKEN_CODES:
        return PermanentFailure(f"Weibo refused {what}: {said}. The account's access token must be renewed.")
    return PermanentFailure(f"Weibo refused {what}: {said}")


def _error_code(payload: Any) -> int | None:
    if not isinstance(payload, dict):
        return None
    raw = payload.get("error_code")
    if raw is None or isinstance(raw, bool) or raw in ("", 0, "0"):
        return None
    if isinstance(raw, int) or (isinstance(raw, str) and raw.strip().isdigit()):
        return int(raw)
    return -1  # an error without a readable code is still an error


async def _read(response: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The body, or None when it is longer than `limit` bytes."""
    if response.content_length is not None and response.content_length > limit:
        return None
    data = bytearray()
    async for chunk in response.content.iter_chunked(65536):
        data.extend(chunk)
        if len(data) > limit:
            return None
    return bytes(data)


async def _answer(response: aiohttp.ClientResponse) -> Any:
    body = await _read(response, _ANSWER_LIMIT) or b""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        payload = None
    code = _error_code(payload)
    if code is not None or response.status >= 400:
        message = str(payload.get("error") or "error") if isinstance(payload, dict) else "no details"
        raise ApiError(response.status, code, message[:300])
    if payload is None:
        raise ApiError(response.status, None, "unreadable answer", transient=True)
    return payload


async def _post(endpoints: Endpoints, url: str, form: Mapping[str, str]) -> Any:
    async with aiohttp.ClientSession(timeout=endpoints.timeout) as session, \
            session.post(url, data={"access_token": endpoints.token, **form}) as response:
        return await _answer(response)


async def _get(endpoints: Endpoints, url: str, params: Mapping[str, str]) -> Any:
    async with aiohttp.ClientSession(timeout=endpoints.timeout) as session, \
            session.get(url, params={"access_token": endpoints.token, **params}) as response:
        return await _answer(response)


def call(what: str, request: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run one API request; errors become the hub's Temporary/PermanentFailure."""
    try:
        return run(request)
    except ApiError as exc:
        raise failure(exc, what) from exc
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise TemporaryFailure(f"Weibo could not be reached: {type(exc).__name__} {exc}".strip()) from exc


def reply_private(endpoints: Endpoints, receiver_id: str, text: str) -> Any:
    """messages/reply.json: a text private message (`data` is the JSON {"text": ...}, UTF-8)."""
    form = {"receiver_id": receiver_id, "type": "text",
            "data": json.dumps({"text": text}, ensure_ascii=False)}
    return call("the private message",
                lambda: _post(endpoints, f"{endpoints.messages}/2/messages/reply.json", form))


def reply_comment(endpoints: Endpoints, comment_id: str, post_id: str, text: str) -> Any:
    """comments/reply.json: a public reply under the customer's comment."""
    form = {"cid": comment_id, "id": post_id, "comment": text}
    return call("the public reply", lambda: _post(endpoints, f"{endpoints.api}/2/comments/reply.json", form))


def comment_on_post(endpoints: Endpoints, post_id: str, text: str) -> Any:
    """comments/create.json: a public comment on the customer's post (one that mentioned the account)."""
    form = {"id": post_id, "comment": text}
    return call("the public comment", lambda: _post(endpoints, f"{endpoints.api}/2/comments/create.json", form))


def post_of_comment(endpoints: Endpoints, comment_id: str) -> str:
    """comments/show_batch.json: the post a comment is under (a mention push names the comment only)."""
    found = call("looking up the comment",
                 lambda: _get(endpoints, f"{endpoints.api}/2/comments/show_batch.json", {"cids": comment_id}))
    items = found.get("comments", []) if isinstance(found, dict) else found
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and str(item.get("idstr") or item.get("id")) == comment_id:
            status = item.get("status")
            if isinstance(status, dict) and (status.get("idstr") or status.get("id")):
                return str(status.get("idstr") or status.get("id"))
    raise PermanentFailure(f"Weibo no longer shows comment {comment_id}: it may have been deleted")


async def _download(endpoints: Endpoints, url: str, max_bytes: int) -> FetchedMedia:
    params: dict[str, str] | None = {"access_token": endpoints.token}
    async with aiohttp.ClientSession(timeout=endpoints.timeout) as session:
        for _ in range(_MAX_REDIRECTS + 1):
            async with session.get(url, params=params, allow_redirects=False) as response:
                if response.status in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                    url = urljoin(url, response.headers["Location"])
                    target = urlsplit(url)
                    if target.scheme != "https" or not MEDIA_REDIRECT_HOST.search(target.hostname or ""):
                        raise PermanentFailure(f"Weibo redirected the media to {target.hostname!r}, "
                                               "outside the platform's image hosts")
                    params = None  # the CDN gets no access token
                    continue
                if response.status == 404:
                    raise PermanentFailure("Weibo no longer has this media (HTTP 404)")
                content_type = response.content_type or ""
                if response.status >= 400 or content_type in ("application/json", "text/json"):
                    await _answer(response)  # raises the platform's error (every 4xx/5xx raises)
                    raise PermanentFailure("Weibo answered with data instead of the media")
                data = await _read(response, max_bytes)
                if data is None:
                    raise PermanentFailure(f"the media is larger than {max_bytes} bytes")
                # No name: the attachment keeps the one parse gave it (image or voice, and its file id).
                return FetchedMedia(data=data, content_type=content_type)
    raise PermanentFailure("Weibo redirected the media too many times")


def download(endpoints: Endpoints, url: str, max_bytes: int) -> FetchedMedia:
    if not endpoints.media_url_allowed(url):
        host = urlsplit(url).hostname
        raise PermanentFailure(f"refusing to fetch media from {host!r}: not the platform's media API")
    return call("the media download", lambda: _download(endpoints, url, max_bytes))
