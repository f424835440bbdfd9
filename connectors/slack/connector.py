"""Slack: a workspace's messages to the app's bot (Events API) in, agents' replies posted into the thread.

One conversation per Slack thread, whoever writes in it (`shared_thread`). See docs/connectors.md (Slack)
for the app's setup; threads.py for how a reply finds its thread.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from slack_sdk.signature import SignatureVerifier

from connectors.base import (
    AccountInfo,
    Capability,
    Connector,
    DeliveryKey,
    FetchedMedia,
    InboundEvent,
    InboundRequest,
    MalformedRequest,
    OutboundMessage,
    Outcome,
    PermanentFailure,
    RejectedRequest,
    SendResult,
    WebhookReply,
)
from connectors.slack import events, files, mrkdwn, payloads, threads, web_api

logger = logging.getLogger(__name__)

# Slack's own replay window, the one SignatureVerifier enforces; checked first to say why a request failed.
TIMESTAMP_WINDOW_SECONDS = 60 * 5


class SlackConnector(Connector):
    id = "slack"
    name = "Slack"
    identity_kind = "slack"
    capabilities = frozenset({Capability.TEXT, Capability.THREADS})
    # A separate Slack app (its own signing secret) gets its workspace's own Request URL: its url_verification
    # names no workspace, so the path must.
    webhooks = {"slack/events": "events", "slack/events/<str:account>": "events"}
    default_account_env = {
        "signing_secret": "HUB_SLACK_SIGNING_SECRET",
        "bot_token": "HUB_SLACK_BOT_TOKEN",
        "api_base": "HUB_SLACK_API_BASE",
    }

    def is_configured(self, account: AccountInfo) -> bool:
        return bool(account.config.get("bot_token"))

    # --- inbound: the Events API -------------------------------------------------------------------------

    def account_address(self, request: InboundRequest) -> str | None:
        return request.params.get("account") or payloads.team_id(request)

    def verify(self, account: AccountInfo, request: InboundRequest) -> bool:
        secret = str(account.config.get("signing_secret") or "")
        if not secret.strip():
            raise RejectedRequest("no signing secret is configured for this Slack account")
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        if not timestamp or not signature:
            raise RejectedRequest("X-Slack-Signature or X-Slack-Request-Timestamp is missing")
        if not timestamp.isdigit() or len(timestamp) > 12:
            raise RejectedRequest("X-Slack-Request-Timestamp is not a Unix time")
        verifier = SignatureVerifier(secret)
        if abs(verifier.clock.now() - int(timestamp)) > TIMESTAMP_WINDOW_SECONDS:
            raise RejectedRequest("X-Slack-Request-Timestamp is outside Slack's 5-minute window (a replayed "
                                  "request, or this server's clock is wrong)")
        return verifier.is_valid(body=request.body, timestamp=timestamp, signature=signature)

    def delivery_key(self, account: AccountInfo, request: InboundRequest) -> DeliveryKey | None:
        # Slack signs the body, event_id included, so a retry (X-Slack-Retry-Num) is the same event and a
        # forged body cannot reuse a signature: no replay protection needed on top.
        found = payloads.event_id(request)
        return DeliveryKey(found) if found else None

    def parse(self, account: AccountInfo, request: InboundRequest) -> Sequence[InboundEvent]:
        if payloads.is_form(request):
            logger.info("slack: form-encoded request (interactivity or a slash command) acknowledged, not handled")
            return []
        payload = payloads.json_body(request)
        kind = payload.get("type")
        if kind == "url_verification":
            if not isinstance(payload.get("challenge"), str):
                raise MalformedRequest("url_verification without a challenge")
            return []
        if kind != "event_callback":
            logger.info("slack: %r request acknowledged, not handled", kind)
            return []
        retry = request.headers.get("x-slack-retry-num")
        if retry:
            logger.info("slack: event %s delivered again (retry %s: %s)", payload.get("event_id"), retry,
                        request.headers.get("x-slack-retry-reason", ""))
        return events.from_event_callback(payload, account.config)

    def respond(self, account: AccountInfo, request: InboundRequest, outcomes: Sequence[Outcome]) -> WebhookReply:
        if not payloads.is_form(request):
            try:
                payload = payloads.json_body(request)
            except MalformedRequest:
                payload = {}
            challenge = payload.get("challenge")
            if payload.get("type") == "url_verification" and isinstance(challenge, str):
                return WebhookReply(body=challenge.encode())
        return WebhookReply(body=b"")

    def fetch_media(self, account: AccountInfo, url: str, max_bytes: int) -> FetchedMedia:
        return files.fetch(account.config, url, max_bytes)

    # --- outbound: chat.postMessage into the customer's thread -----------------------------------------------

    def send(self, account: AccountInfo, message: OutboundMessage) -> SendResult:
        if message.attachments:
            raise PermanentFailure("Slack replies cannot carry files yet: send the text without attachments.")
        target = threads.reply_target(message.thread_keys, message.to)
        if target is None:
            raise PermanentFailure("This conversation has no Slack thread or Slack user to reply to.")
        channel, ts = web_api.post_message(account.config, target, mrkdwn.escape(message.text))
        # "<channel>:<ts>" like inbound ids: Slack's echo of this post, should one get past the bot filter,
        # is then recognised as this very message.
        return SendResult(provider_message_id=threads.provider_id(channel, ts or f"hub-{message.message_id}"))
