"""Twilio's REST API as the SMS connector uses it: the Messages resource through the official client, and
MMS media downloads.

Everything here is safe to call from several threads at once: clients are shared per credentials and base
URL, and no call keeps per-request state on a shared object.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

from connectors.base import FetchedMedia, PermanentFailure, TemporaryFailure
from connectors.sms.error_codes import READABLE

logger = logging.getLogger("connectors.sms")

DEFAULT_API_BASE = "https://api.twilio.com"
CONNECT_TIMEOUT = 5.0
API_READ_TIMEOUT = 20.0
MEDIA_READ_TIMEOUT = 30.0
MAX_REDIRECTS = 5
_CHUNK = 64 * 1024
# Codes whose Twilio message does not tell the agent what to do about it.
_EXPLAIN_ON_SEND = frozenset({"20003", "21408", "21610", "21612", "30032", "30034"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class Credentials:
    account_sid: str
    auth_token: str
    api_base: str = DEFAULT_API_BASE


class _ThreadSafeHttpClient(HttpClient):
    """The transport under twilio's Client. twilio's own TwilioHttpClient parks each response on the
    instance and returns it from there (a second thread can swap it in between), has no timeout by
    default, and would need per-scheme adapters to keep urllib3 from retrying on its own."""

    def __init__(self) -> None:
        super().__init__(logger, is_async=False, timeout=API_READ_TIMEOUT)
        self.session = requests.Session()
        self.session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        # No transport-level retries: a POST that reached Twilio but whose answer was lost would send the
        # SMS twice. The hub's delivery task retries with backoff, and only for failures we classify.
        adapter = HTTPAdapter(max_retries=0, pool_maxsize=8)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def request(self, method: str, uri: str, params: dict[str, object] | None = None,
                data: dict[str, object] | None = None, headers: dict[str, str] | None = None,
                auth: tuple[str, str] | None = None, timeout: float | None = None,
                allow_redirects: bool = False) -> Response:
        kwargs: dict[str, Any] = {"params": params, "headers": headers, "auth": auth,
                                  "allow_redirects": allow_redirects,
                                  "timeout": (CONNECT_TIMEOUT, timeout or self.timeout)}
        if headers and headers.get("Content-Type", "").endswith("json"):
            kwargs["json"] = data
        else:
            kwargs["data"] = data
        answer = self.session.request(method.upper(), uri, **kwargs)
        return Response(int(answer.status_code), answer.text, answer.headers)


@lru_cache(maxsize=32)
def client(account_sid: str, auth_token: str, api_base: str) -> Client:
    """One client per (credentials, base URL), shared by every thread sending for that account."""
    twilio = Client(account_sid, auth_token, http_client=_ThreadSafeHttpClient())
    # The account's config decides where requests go: TWILIO_EDGE / TWILIO_REGION in the process
    # environment would rewrite the host of a configured base URL (a proxy, a test server).
    twilio.edge = None
    twilio.region = None
    twilio.api.base_url = api_base.rstrip("/")
    return twilio


def create_message(creds: Credentials, *, to: str, body: str, from_: str = "", messaging_service_sid: str = "",
                   status_callback: str = "") -> str:
    """POST /2010-04-01/Accounts/{sid}/Messages.json; returns the new message's sid."""
    params: dict[str, Any] = {"to": to, "body": body}
    if messaging_service_sid:
        params["messaging_service_sid"] = messaging_service_sid
    else:
        params["from_"] = from_
    if status_callback:
        params["status_callback"] = status_callback
    try:
        created = client(creds.account_sid, creds.auth_token, creds.api_base).messages.create(**params)
    except TwilioRestException as exc:
        raise _api_failure(exc.status, str(exc.code or ""), _without_prefix(exc.msg)) from exc
    except TwilioServiceException as exc:
        raise _api_failure(exc.status, str(exc.code or ""), exc.detail or exc.title) from exc
    except requests.Timeout as exc:
        raise TemporaryFailure("Twilio did not answer in time") from exc
    except requests.ConnectionError as exc:
        raise TemporaryFailure(f"Twilio could not be reached: {type(exc).__name__}") from exc
    except (requests.RequestException, TwilioException, ValueError) as exc:
        # A 2xx we cannot read may still mean the message went out: never retry into a double send.
        raise PermanentFailure(f"Twilio's answer could not be read ({type(exc).__name__}); the message may "
                               "or may not have been sent") from exc
    sid = getattr(created, "sid", None)
    if not sid:
        raise PermanentFailure("Twilio accepted the request but returned no message sid")
    return str(sid)


def _without_prefix(msg: str) -> str:
    # twilio prefixes the API's message with what it was doing ("Unable to create record: ...").
    head, sep, rest = msg.partition(": ")
    return rest if sep and head.startswith("Unable to") else ("" if msg.startswith("Unable to") else msg)


def _api_failure(status: int, code: str, message: str) -> Exception:
    message = message.strip()
    if status == 429 or status >= 500:
        detail = f": {message}" if message else ""
        return TemporaryFailure(f"Twilio is unavailable (HTTP {status}){detail}")
    if code and code != str(status):
        text = message or READABLE.get(code, "refused by Twilio")
        if code in _EXPLAIN_ON_SEND and code in READABLE:
            text = f"{text.rstrip('.')} ({READABLE[code]})"
        return PermanentFailure(f"{code}: {text}")
    return PermanentFailure(f"Twilio refused the message (HTTP {status}){': ' + message if message else ''}")


# --- MMS media --------------------------------------------------------------------------------------


def _origin(parts: SplitResult) -> tuple[str, str, int]:
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def _is_https_under(parts: SplitResult, *suffixes: str) -> bool:
    host = (parts.hostname or "").lower()
    return parts.scheme == "https" and any(host == s.lstrip(".") or host.endswith(s) for s in suffixes)


def _may_carry_credentials(parts: SplitResult, api: SplitResult) -> bool:
    """Twilio's API itself, or the configured API base (a regional host, a proxy, a test server)."""
    return _origin(parts) == _origin(api) or _is_https_under(parts, ".twilio.com")


def _may_redirect_to(parts: SplitResult, api: SplitResult) -> bool:
    # Twilio answers a media URL with a redirect to its media CDN.
    return _may_carry_credentials(parts, api) or _is_https_under(parts, ".twiliocdn.com")


def _parse(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number
    except ValueError as exc:
        raise PermanentFailure(f"unreadable media URL {url[:200]!r}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise PermanentFailure(f"unreadable media URL {url[:200]!r}")
    return parts


def fetch_media(creds: Credentials, url: str, max_bytes: int) -> FetchedMedia:
    """Download one MediaUrl with the account's credentials, following Twilio's redirect to its CDN.

    Refuses (PermanentFailure) URLs outside Twilio and the configured API base, before any request: the
    account's auth token must never reach another host. A body over `max_bytes` is cut at max_bytes + 1
    bytes, which the hub records as too large."""
    api = urlsplit(creds.api_base)
    parts = _parse(url)
    if not _may_carry_credentials(parts, api):
        raise PermanentFailure(f"refusing to fetch media from {parts.hostname}: not Twilio's API")
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        auth = (creds.account_sid, creds.auth_token) if _may_carry_credentials(parts, api) else None
        try:
            with requests.get(current, auth=auth, stream=True, allow_redirects=False,
                              timeout=(CONNECT_TIMEOUT, MEDIA_READ_TIMEOUT)) as answer:
                if answer.status_code in _REDIRECTS:
                    target = urljoin(current, answer.headers.get("Location", ""))
                    parts = _parse(target)
                    if target == current or not _may_redirect_to(parts, api):
                        raise PermanentFailure(f"Twilio redirected the media to an unexpected place: "
                                               f"{parts.hostname}")
                    current = target
                    continue
                _check_status(answer.status_code)
                data = _read_capped(answer, max_bytes)
                content_type = answer.headers.get("Content-Type", "").split(";")[0].strip()
                return FetchedMedia(data=data, content_type=content_type or "application/octet-stream")
        except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise TemporaryFailure(f"media download from Twilio failed: {type(exc).__name__}") from exc
        except requests.RequestException as exc:
            raise PermanentFailure(f"media download refused: {type(exc).__name__}") from exc
    raise PermanentFailure(f"media URL redirected more than {MAX_REDIRECTS} times")


def _check_status(status: int) -> None:
    if status in (404, 410):
        raise PermanentFailure(f"the media no longer exists at Twilio (HTTP {status})")
    if status == 429 or status >= 500:
        raise TemporaryFailure(f"Twilio's media server is unavailable (HTTP {status})")
    if status in (401, 403):
        raise PermanentFailure(f"Twilio refused the account's credentials for this media (HTTP {status})")
    if status >= 300:
        raise PermanentFailure(f"Twilio refused the media download (HTTP {status})")


def _read_capped(answer: requests.Response, max_bytes: int) -> bytes:
    data = bytearray()
    for chunk in answer.iter_content(_CHUNK):
        data.extend(chunk)
        if len(data) > max_bytes:
            # One byte over is enough for the hub to record the attachment as too large.
            return bytes(data[: max_bytes + 1])
    return bytes(data)
