"""Weibo-style social channel: the fan-service platform's push (private messages, mentions, follows) and
comment push in, the platform's reply APIs out.

Account config: {"app_key": "...", "app_secret": "...", "access_token": "...", "api_base": "https://api.weibo.com"}
(optionally "messages_api_base", "upload_api_base", "timeout_seconds"). The account's address is its uid.
See docs/_drafts/weibo.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

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
from connectors.weibo import api, events, signature, threads

logger = logging.getLogger(__name__)

# The platform's limits, counted its way: a CJK character is one, two ASCII characters are one.
COMMENT_MAX_CHARS = 140
PRIVATE_MAX_CHARS = 300


def weibo_length(text: str) -> int:
    halves = sum(1 if ord(ch) < 128 else 2 for ch in text)
    return (halves + 1) // 2


class WeiboConnector(Connector):
    id = "social"
    name = "Weibo"
    identity_kind = "social"
    capabilities = frozenset({Capability.TEXT})
    # One push URL for the platform; the second names the account, for accounts other than the default one
    # (the echostr handshake carries no body to tell them apart).
    webhooks = {"weibo": "push", "weibo/<str:account>": "push"}
    default_account_env = {
        "app_key": "HUB_WEIBO_APP_KEY",
        "app_secret": "HUB_WEIBO_APP_SECRET",
        "access_token": "HUB_WEIBO_ACCESS_TOKEN",
        "api_base": "HUB_WEIBO_API_BASE",
    }

    def is_configured(self, account: AccountInfo) -> bool:
        return bool(account.config.get("access_token"))

    # --- inbound -------------------------------------------------------------------------------------

    def account_address(self, request: InboundRequest) -> str | None:
        if request.params.get("account"):
            return request.params["account"]
        if request.method == "GET":
            return None  # the handshake has no body: the default account (or the one its URL names)
        return events.receiver(events.load(request.body))

    def verify(self, account: AccountInfo, request: InboundRequest) -> bool:
        if request.method not in ("GET", "POST"):
            raise RejectedRequest(f"{request.method} is not used by the platform (GET handshake, POST push)")
        signature.check_signature(str(account.config.get("app_secret") or ""), request.query)
        if request.method == "POST":
            signature.check_timestamp(request.query["timestamp"])
        return True

    def delivery_key(self, account: AccountInfo, request: InboundRequest) -> DeliveryKey | None:
        if request.method != "POST":
            return None  # a repeated handshake only echoes, it stores nothing
        # The signature covers timestamp and nonce, not the body: the same pair with another body is a replay.
        return DeliveryKey(key=f"{request.query['timestamp']}:{request.query['nonce']}", replay_protected=True)

    def parse(self, account: AccountInfo, request: InboundRequest) -> Sequence[InboundEvent]:
        if request.method == "GET":
            if not request.query.get("echostr"):
                raise MalformedRequest("the handshake has no echostr")
            return []
        payload = events.load(request.body)
        uid, receiver = account_uid(account), events.receiver(payload)
        if uid and receiver and receiver != uid:
            # A push URL naming one account, for another: storing it there would answer from the wrong account.
            raise MalformedRequest(f"the push is for account {receiver}, not {uid}")
        return events.parse(payload, account_uid=uid, media_base=api.Endpoints(account.config).upload)

    def respond(self, account: AccountInfo, request: InboundRequest, outcomes: Sequence[Outcome]) -> WebhookReply:
        if request.method == "GET":
            return WebhookReply(body=request.query.get("echostr", "").encode())
        # An empty answer: no passive reply, and the platform does not retry.
        return WebhookReply(body=b"")

    def fetch_media(self, account: AccountInfo, url: str, max_bytes: int) -> FetchedMedia:
        return api.download(api.Endpoints(account.config), url, max_bytes)

    # --- outbound ------------------------------------------------------------------------------------

    def send(self, account: AccountInfo, message: OutboundMessage) -> SendResult:
        endpoints = api.Endpoints(account.config)
        if not endpoints.token:
            raise PermanentFailure("this social account has no access token configured")
        if message.attachments:
            raise PermanentFailure("Weibo replies carry text only: send the file as a link instead")
        text = message.text.strip()
        if not text:
            raise PermanentFailure("an empty reply cannot be sent")
        target = threads.reply_target(message.thread_keys, message.metadata)
        if target.public:
            return self._send_public(endpoints, target, text)
        return self._send_private(endpoints, message, text)

    def _send_public(self, endpoints: api.Endpoints, target: threads.ReplyTarget, text: str) -> SendResult:
        if weibo_length(text) > COMMENT_MAX_CHARS:
            raise PermanentFailure(f"This reply is public (a comment) and Weibo takes at most {COMMENT_MAX_CHARS} "
                                   f"characters there; it has {weibo_length(text)}. Shorten it.")
        if target.kind == "comment":
            post_id = target.post_id or api.post_of_comment(endpoints, target.comment_id)
            answer = api.reply_comment(endpoints, target.comment_id, post_id, text)
        else:
            answer = api.comment_on_post(endpoints, target.post_id, text)
        comment_id = _id_of(answer)
        if not comment_id:
            raise api.failure(api.ApiError(200, None, "no comment id in the answer", transient=True),
                              "the public reply")
        return SendResult(provider_message_id=comment_id)

    def _send_private(self, endpoints: api.Endpoints, message: OutboundMessage, text: str) -> SendResult:
        receiver = message.to.strip()
        if not (receiver.isascii() and receiver.isdigit()):
            raise PermanentFailure(f"{message.to!r} is not a Weibo user id")
        if weibo_length(text) > PRIVATE_MAX_CHARS:
            raise PermanentFailure(f"Weibo private messages hold at most {PRIVATE_MAX_CHARS} characters; this one "
                                   f"has {weibo_length(text)}. Shorten it or split it.")
        answer = api.reply_private(endpoints, receiver, text)
        if isinstance(answer, Mapping) and answer.get("result") is False:
            raise PermanentFailure("Weibo did not accept the private message (result: false)")
        # The reply API answers without a message id: the hub's own id is unique and stable across retries.
        return SendResult(provider_message_id=_id_of(answer) or f"wbout-{message.message_id}")


def account_uid(account: AccountInfo) -> str:
    """The account's own uid (its address, or `uid` in its config), to recognise its own comments."""
    uid = str(account.config.get("uid") or account.address or "")
    return uid if uid.isdigit() else ""


def _id_of(answer: Any) -> str:
    if isinstance(answer, Mapping):
        for field in ("idstr", "id", "msg_id"):
            value = answer.get(field)
            if value not in (None, "") and str(value).isdigit():
                return str(value)
    return ""
