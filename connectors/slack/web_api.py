"""Posting a reply with slack_sdk's WebClient, and Slack's answers turned into the hub's failure kinds.

The hub's outbox retries with backoff, so the client's own retry handlers are switched off: a 429 or an
outage is reported at once as a TemporaryFailure instead of being retried inside one delivery attempt.
"""

from __future__ import annotations

import http.client
import logging
import re
import urllib.error
from collections.abc import Mapping
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError, SlackRequestError

from connectors.base import PermanentFailure, TemporaryFailure
from connectors.slack.threads import ReplyTarget

logger = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://slack.com/api/"
DEFAULT_TIMEOUT_SECONDS = 10
_ERROR_CODE = re.compile(r"[a-z0-9_]{1,80}")

# Errors a retry may get past (Slack's own outages and migrations).
TEMPORARY_ERRORS = frozenset({"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
                              "request_timeout", "team_added_to_org", "org_login_required"})

# What the agent reads when Slack refuses a reply for good.
PERMANENT_REASONS: Mapping[str, str] = {
    "channel_not_found": "Slack cannot find this conversation's channel (deleted, or the app cannot see it).",
    "not_in_channel": "The Slack app is not a member of this channel: invite it (/invite @app) and resend.",
    "is_archived": "The Slack channel has been archived, so nothing can be posted to it.",
    "msg_too_long": "The reply is too long for Slack (40,000 characters at most).",
    "no_text": "Slack refused an empty reply.",
    "invalid_auth": "Slack refused the app's bot token (invalid_auth): check the account's bot token.",
    "not_authed": "No Slack bot token is configured for this account.",
    "account_inactive": "The Slack app's bot user or workspace has been deactivated.",
    "token_revoked": "The Slack bot token was revoked (the app was removed from the workspace?).",
    "token_expired": "The Slack bot token has expired: reinstall the app or rotate the token.",
    "missing_scope": "The Slack bot token lacks the chat:write scope: add it and reinstall the app.",
    "no_permission": "The Slack app has no permission to post in this conversation.",
    "restricted_action": "A Slack workspace setting prevents the app from posting here.",
    "restricted_action_read_only_channel": "The Slack channel is read-only.",
    "restricted_action_thread_only_channel": "The Slack channel only takes replies in threads.",
    "restricted_action_non_threadable_channel": "The Slack channel does not allow threaded replies.",
    "ekm_access_denied": "Slack administrators have suspended posting (EKM access denied).",
    "user_not_found": "Slack cannot find this customer's user.",
    "cannot_dm_bot": "The customer is a bot user: Slack does not allow messaging it.",
    "team_access_not_granted": "The Slack app is not installed in the workspace of this conversation.",
}


def client(config: Mapping[str, Any]) -> WebClient:
    base = str(config.get("api_base") or DEFAULT_API_BASE)
    return WebClient(token=str(config.get("bot_token") or ""), base_url=base if base.endswith("/") else base + "/",
                     timeout=int(config.get("timeout") or DEFAULT_TIMEOUT_SECONDS), retry_handlers=[])


def post_message(config: Mapping[str, Any], target: ReplyTarget, text: str) -> tuple[str, str]:
    """chat.postMessage; returns the (channel, ts) Slack gives the posted message."""
    try:
        response = client(config).chat_postMessage(channel=target.channel, text=text, thread_ts=target.thread_ts)
    except SlackApiError as exc:
        raise failure(exc) from exc
    except SlackRequestError as exc:
        raise PermanentFailure(f"The Slack API could not be called: {exc}") from exc
    except (SlackClientError, urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise TemporaryFailure(f"Slack could not be reached: {exc}") from exc
    channel, ts = response.get("channel"), response.get("ts")
    return (channel if isinstance(channel, str) and channel else target.channel,
            ts if isinstance(ts, str) else "")


def failure(exc: SlackApiError) -> TemporaryFailure | PermanentFailure:
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0)
    data = getattr(response, "data", None)
    error = str(data.get("error") or "") if isinstance(data, dict) else ""
    if not _ERROR_CODE.fullmatch(error):
        error = ""  # not Slack's JSON answer (a proxy's HTML page, which slack_sdk quotes as the "error")
    if status == 429 or error in TEMPORARY_ERRORS:
        headers = {str(k).lower(): v for k, v in (getattr(response, "headers", None) or {}).items()}
        after = headers.get("retry-after")
        wait = f", retry after {after} s" if after else ""
        label = "rate limited" if status == 429 or "rate" in error else error
        return TemporaryFailure(f"Slack is unavailable for now ({label}{wait})")
    if status >= 500:
        return TemporaryFailure(f"Slack is unavailable for now (HTTP {status})")
    if error in PERMANENT_REASONS:
        return PermanentFailure(PERMANENT_REASONS[error])
    logger.warning("slack refused a message: HTTP %s %s", status, error)
    return PermanentFailure(f"Slack refused the message ({error or f'HTTP {status}'}).")
