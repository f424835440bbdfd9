"""SMS and MMS through Twilio: the number's incoming-message webhook and per-message status callbacks in,
the Messages API out.

Account config: {"account_sid": "AC...", "auth_token": "...", "api_base": "https://api.twilio.com",
"messaging_service_sid": "MG..." (optional), "from_number": "+1..." (optional, default: the account's
address), "help_text": "..." (the answer to HELP)}. See docs/_drafts/sms.md.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from twilio.twiml.messaging_response import MessagingResponse

from connectors import twilio_webhooks
from connectors.base import (
    AccountInfo,
    Capability,
    Connector,
    DeliveryState,
    DeliveryStatus,
    FetchedMedia,
    IdentityEvent,
    InboundAttachment,
    InboundEvent,
    InboundMessage,
    InboundRequest,
    MalformedRequest,
    OutboundMessage,
    Outcome,
    PermanentFailure,
    Sender,
    SendResult,
    WebhookReply,
)
from connectors.sms import keywords, twilio_api
from connectors.sms.error_codes import describe

STATUS_PATH = "/webhooks/twilio/sms/status"
DEFAULT_HELP_TEXT = ("You are texting our customer support team: reply with your question and an agent will "
                     "answer. Reply STOP to stop receiving messages, START to receive them again. Message and "
                     "data rates may apply.")
# Twilio allows 10 media per MMS; the hub stores up to 20 attachments per message.
MAX_MEDIA = 20

# Twilio's MessageStatus in the hub's words. Others (queued, sending, accepted, scheduled, receiving,
# received, partially_delivered) are steps on the way, not outcomes: acknowledged and ignored.
STATUSES: dict[str, DeliveryState] = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
}


class SmsConnector(Connector):
    id = "sms"
    name = "SMS (Twilio)"
    identity_kind = "phone"
    capabilities = frozenset({Capability.TEXT, Capability.DELIVERY_RECEIPTS})
    webhooks = {"twilio/sms": "message", "twilio/sms/status": "status"}
    default_account_env = {
        "account_sid": "HUB_TWILIO_ACCOUNT_SID",
        "auth_token": "HUB_TWILIO_AUTH_TOKEN",
        "from_number": "HUB_TWILIO_FROM_NUMBER",
        "api_base": "HUB_TWILIO_API_BASE",
    }

    def is_configured(self, account: AccountInfo) -> bool:
        return bool(account.config.get("account_sid") and account.config.get("auth_token"))

    # --- inbound ------------------------------------------------------------------------------------

    def account_address(self, request: InboundRequest) -> str | None:
        fields = twilio_webhooks.fields(request)
        if request.endpoint == "status":
            # `account` is set by `send` when a messaging service picks the sender from its pool, so the
            # reporting number (From) may be another one than the account's.
            return request.query.get("account", "").strip() or twilio_webhooks.required(fields, "From")
        return twilio_webhooks.required(fields, "To")

    def verify(self, account: AccountInfo, request: InboundRequest) -> bool:
        return twilio_webhooks.verify(account, request)

    def parse(self, account: AccountInfo, request: InboundRequest) -> Sequence[InboundEvent]:
        fields = twilio_webhooks.fields(request)
        if request.endpoint == "status":
            return self._status(fields)
        return self._message(fields)

    def _message(self, fields: Mapping[str, str]) -> list[InboundEvent]:
        sid = twilio_webhooks.required(fields, "MessageSid")
        number = twilio_webhooks.required(fields, "From")
        if not twilio_webhooks.E164.fullmatch(number):
            raise MalformedRequest(f"From {number[:40]!r} is not an E.164 phone number")
        sender = Sender(kind=self.identity_kind, address=number)
        body = fields.get("Body", "")
        keyword = keywords.classify(body)
        metadata: dict[str, str] = {
            key: fields[name].strip()
            for key, name in (("from_city", "FromCity"), ("from_state", "FromState"), ("from_zip", "FromZip"),
                              ("from_country", "FromCountry"), ("num_segments", "NumSegments"))
            if fields.get(name, "").strip()
        }
        if keyword:
            metadata["keyword"] = keyword[1]
        events: list[InboundEvent] = [InboundMessage(
            provider_message_id=sid, sender=sender, text=body, attachments=self._media(fields, sid),
            metadata=metadata,
        )]
        if keyword and keyword[0] == "opt_out":
            events.append(IdentityEvent(sender=sender, change="opt_out", keyword=keyword[1]))
        elif keyword and keyword[0] == "opt_in":
            events.append(IdentityEvent(sender=sender, change="opt_in", keyword=keyword[1]))
        return events

    def _media(self, fields: Mapping[str, str], sid: str) -> list[InboundAttachment]:
        raw = fields.get("NumMedia", "").strip() or "0"
        if not re.fullmatch(r"[0-9]{1,3}", raw):
            raise MalformedRequest(f"NumMedia {raw[:20]!r} is not a number")
        count = int(raw)
        if count > MAX_MEDIA:
            raise MalformedRequest(f"NumMedia {count} is more than a message can carry ({MAX_MEDIA})")
        media = []
        for index in range(count):
            url = twilio_webhooks.required(fields, f"MediaUrl{index}")
            content_type = fields.get(f"MediaContentType{index}", "").strip()
            extension = (mimetypes.guess_extension(content_type) or "") if content_type else ""
            media.append(InboundAttachment(name=f"{sid}-{index + 1}{extension}", content_type=content_type,
                                           url=url))
        return media

    def _status(self, fields: Mapping[str, str]) -> list[InboundEvent]:
        sid = fields.get("MessageSid", "").strip() or twilio_webhooks.required(fields, "SmsSid")
        status = (fields.get("MessageStatus", "").strip() or twilio_webhooks.required(fields, "SmsStatus")).lower()
        state = STATUSES.get(status)
        if state is None:
            return []
        reason = ""
        if state == "failed":
            if status == "canceled":
                reason = "The message was canceled before Twilio sent it"
            else:
                reason = describe(fields.get("ErrorCode", ""), fields.get("ErrorMessage", ""))
        return [DeliveryStatus(provider_message_id=sid, status=state, reason=reason)]

    def respond(self, account: AccountInfo, request: InboundRequest, outcomes: Sequence[Outcome]) -> WebhookReply:
        twiml = MessagingResponse()
        if request.endpoint == "message":
            keyword = keywords.classify(twilio_webhooks.fields(request).get("Body", ""))
            if keyword and keyword[0] == "help":
                twiml.message(str(account.config.get("help_text") or DEFAULT_HELP_TEXT))
        return WebhookReply(body=str(twiml).encode(), content_type="text/xml; charset=utf-8")

    def fetch_media(self, account: AccountInfo, url: str, max_bytes: int) -> FetchedMedia:
        return twilio_api.fetch_media(self._credentials(account), url, max_bytes)

    # --- outbound -----------------------------------------------------------------------------------

    def send(self, account: AccountInfo, message: OutboundMessage) -> SendResult:
        if message.attachments:
            raise PermanentFailure("SMS replies carry text only: send the attachments by another channel")
        if not message.text.strip():
            raise PermanentFailure("An SMS reply needs some text")
        messaging_service = str(account.config.get("messaging_service_sid") or "")
        callback = ""
        if account.public_url:
            callback = account.public_url.rstrip("/") + STATUS_PATH
            if messaging_service:
                callback += "?account=" + quote(account.address, safe="")
        sid = twilio_api.create_message(
            self._credentials(account), to=message.to, body=message.text,
            from_=str(account.config.get("from_number") or account.address),
            messaging_service_sid=messaging_service, status_callback=callback,
        )
        return SendResult(provider_message_id=sid)

    def _credentials(self, account: AccountInfo) -> twilio_api.Credentials:
        return twilio_api.Credentials(
            account_sid=str(account.config.get("account_sid") or ""),
            auth_token=str(account.config.get("auth_token") or ""),
            api_base=str(account.config.get("api_base") or twilio_api.DEFAULT_API_BASE),
        )
