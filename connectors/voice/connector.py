"""Voice calls through Twilio: the number's incoming-call webhook, the queue, the agent's leg, voicemail and
status callbacks in; TwiML out. Agents answer in the browser with Twilio Client (identity: their username).
Voice carries no text replies.

Account config: {"account_sid": "AC...", "auth_token": "...", "hold_music_url": "https://...",
"max_wait_seconds": 300, "voicemail_prompt": "...", "voicemail_prompt_zh": "...", "voicemail_max_seconds": 120,
"dial_timeout_seconds": 20, "language": "auto", "say_voice": "alice", "queue_name": "hub",
"announce_position": true}. See docs/_drafts/voice.md and connectors/voice/twiml.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from connectors import twilio_webhooks
from connectors.base import (
    AccountInfo,
    CallEvent,
    Capability,
    Connector,
    ContactState,
    InboundEvent,
    InboundRequest,
    MalformedRequest,
    OutboundMessage,
    Outcome,
    PermanentFailure,
    Sender,
    SendResult,
    WebhookReply,
)
from connectors.voice import twiml

CallState = Literal["ringing", "in-progress", "completed", "no-answer", "busy", "failed", "canceled"]

SECONDS = re.compile(r"-?[0-9]{1,7}")
# Who called when the number is withheld ("Anonymous", "client:...", "sip:..."): a customer of their own,
# one per call, since nothing identifies them across calls.
WITHHELD_KIND = "withheld"
CLIENT_PREFIX = "client:"

# Twilio's CallStatus in the hub's words (queued and initiated come before ringing).
CALL_STATES: Mapping[str, CallState] = {
    "queued": "ringing", "initiated": "ringing", "ringing": "ringing", "in-progress": "in-progress",
    "answered": "in-progress", "completed": "completed", "busy": "busy", "no-answer": "no-answer",
    "failed": "failed", "canceled": "canceled",
}
# How a caller left the queue (Enqueue's action): those that leave the call in our hands.
QUEUE_LEFT_TO_US = frozenset({"leave", "queue-full", "error", "system-error"})
# The agent's leg of <Dial>: the agent picked up.
DIAL_ANSWERED = frozenset({"completed", "answered"})

REPLY_REFUSED = "Voice calls cannot carry a text reply; answer on SMS or call the customer back"


def _seconds(fields: Mapping[str, str], name: str) -> int:
    raw = fields.get(name, "").strip()
    if not raw:
        return 0
    if not SECONDS.fullmatch(raw):
        raise MalformedRequest(f"{name} {raw[:20]!r} is not a number of seconds")
    return max(0, int(raw))  # Twilio reports -1 for a recording still in progress


def _maybe_seconds(fields: Mapping[str, str], name: str) -> int | None:
    """Seconds the request reports, None when it does not (so that no stored figure is replaced by 0)."""
    return _seconds(fields, name) if fields.get(name, "").strip() else None


def _url(fields: Mapping[str, str], name: str) -> str:
    value = fields.get(name, "").strip()
    if value and not value.startswith(("https://", "http://")):
        raise MalformedRequest(f"{name} is not an http(s) URL")
    return value[:2000]


def _at(fields: Mapping[str, str]) -> datetime | None:
    try:
        return parsedate_to_datetime(fields["Timestamp"]) if fields.get("Timestamp") else None
    except (TypeError, ValueError, IndexError):
        return None


def _outbound(fields: Mapping[str, str]) -> bool:
    return fields.get("Direction", "").startswith("outbound")


def _caller(fields: Mapping[str, str], call_sid: str) -> Sender:
    """The customer on the line: who called in, or whom an outbound call rang."""
    number = (fields.get("To", "") if _outbound(fields) else fields.get("From", "")).strip()
    if twilio_webhooks.E164.fullmatch(number):
        return Sender(kind="phone", address=number, display_name=fields.get("CallerName", "").strip()[:200])
    return Sender(kind=WITHHELD_KIND, address=call_sid, display_name="Withheld number")


def _contact(outcomes: Sequence[Outcome]) -> ContactState | None:
    return next((o.contact for o in outcomes if o.contact is not None), None)


class VoiceConnector(Connector):
    id = "voice"
    name = "Voice (Twilio)"
    identity_kind = "phone"
    capabilities = frozenset({Capability.VOICE})
    # The TwiML answer depends on whether routing found an agent (Outcome.contact).
    answers_with_contact = True
    webhooks = {
        "twilio/voice": "call",
        "twilio/voice/status": "status",
        "twilio/voice/wait": "wait",
        "twilio/voice/queue-result": "queue_result",
        "twilio/voice/dial-result": "dial_result",
        "twilio/voice/agent-status": "agent_status",
        "twilio/voice/voicemail-done": "voicemail",
        "twilio/voice/recording": "recording",
        "twilio/voice/transcription": "transcription",
    }
    # The TwiML answer depends on whether routing found an agent.
    answers_with_contact = True
    default_account_env = {
        "account_sid": "HUB_TWILIO_ACCOUNT_SID",
        "auth_token": "HUB_TWILIO_AUTH_TOKEN",
        "api_base": "HUB_TWILIO_API_BASE",
    }

    def is_configured(self, account: AccountInfo) -> bool:
        # `send` needs nothing: it always refuses, so the agent sees why rather than a reply "sent" to the log.
        return True

    # --- inbound ------------------------------------------------------------------------------------

    def account_address(self, request: InboundRequest) -> str | None:
        """The number called. Our own callback URLs name it in the query (recording callbacks and the
        agent's leg carry no such number); Twilio's requests about the call itself have it in To (From
        for a call the account placed)."""
        named = request.query.get("account", "").strip()
        if named:
            return named
        fields = twilio_webhooks.fields(request)
        number = (fields.get("From", "") if fields.get("Direction", "") == "outbound-api" else fields.get("To", ""))
        number = number.strip()
        return number if twilio_webhooks.E164.fullmatch(number) else None

    def verify(self, account: AccountInfo, request: InboundRequest) -> bool:
        return twilio_webhooks.verify(account, request)

    def parse(self, account: AccountInfo, request: InboundRequest) -> Sequence[InboundEvent]:
        fields = twilio_webhooks.fields(request)
        endpoint = request.endpoint
        if endpoint == "agent_status":
            return self._agent_leg(request, fields)
        sid = twilio_webhooks.required(fields, "CallSid")
        if endpoint == "call":
            twilio_webhooks.required(fields, "From")
        state = CALL_STATES.get(fields.get("CallStatus", "").strip().lower())
        caller = _caller(fields, sid) if fields.get("From") or fields.get("To") else Sender("phone", "")
        direction: Literal["in", "out"] = "out" if _outbound(fields) else "in"

        def event(status: CallState, **kw: Any) -> list[InboundEvent]:
            return [CallEvent(call_id=sid, caller=caller, status=status, direction=direction, at=_at(fields), **kw)]

        if endpoint == "call":
            details = {key: fields[name].strip()[:100] for key, name in (
                ("caller_city", "CallerCity"), ("caller_state", "CallerState"), ("caller_country", "CallerCountry"),
                ("forwarded_from", "ForwardedFrom")) if fields.get(name, "").strip()}
            return event(state or "ringing", metadata={"answered_by": "", **details})
        if endpoint == "status":
            if state is None:
                return []  # a state this Twilio version added that the hub has no word for
            # Every inbound call goes through the hub's queue: one the hub never saw no agent answered (an
            # agent's answer, recorded before, is never replaced by "").
            unanswered = {"answered_by": ""} if direction == "in" else {}
            return event(state, duration_seconds=_seconds(fields, "CallDuration"), metadata=unanswered)
        if endpoint == "wait":
            _seconds(fields, "QueueTime")
            return event(state or "in-progress")
        if endpoint == "queue_result":
            result = twilio_webhooks.required(fields, "QueueResult").lower()[:40]
            queued = {"queue_result": result, "queue_seconds": _maybe_seconds(fields, "QueueTime")}
            # The caller hung up while waiting: the call is over, whatever CallStatus says yet.
            return event("completed" if result == "hangup" else state or "in-progress", metadata=queued)
        if endpoint == "dial_result":
            outcome = twilio_webhooks.required(fields, "DialCallStatus").lower()[:40]
            if outcome in DIAL_ANSWERED:
                agent = request.query.get("agent", "")[:150]
                # Our answer hangs up once the agent's leg ends: the call is over.
                return event("completed", metadata={"answered_by": agent, "dial_status": outcome,
                                                    "talk_seconds": _maybe_seconds(fields, "DialCallDuration")})
            return event(state or "in-progress", metadata={"dial_status": outcome})
        if endpoint == "voicemail":
            # Our answer to this request hangs up: the call is over.
            return event("completed", recording_url=_url(fields, "RecordingUrl"), metadata={
                "voicemail": True, "recording_sid": fields.get("RecordingSid", "").strip()[:64],
                "recording_duration": _maybe_seconds(fields, "RecordingDuration")})
        if endpoint == "recording":
            return self._recording(fields, event)
        if endpoint == "transcription":
            status = twilio_webhooks.required(fields, "TranscriptionStatus").lower()[:20]
            details = {"transcription_status": status,
                       "transcription_sid": fields.get("TranscriptionSid", "").strip()[:64]}
            text = fields.get("TranscriptionText", "") if status == "completed" else ""
            return event("completed", transcript=text, metadata=details)
        return []

    @staticmethod
    def _recording(fields: Mapping[str, str], event: Callable[..., list[InboundEvent]]) -> list[InboundEvent]:
        url = _url(fields, "RecordingUrl")
        status = (fields.get("RecordingStatus", "").strip() or ("completed" if url else "")).lower()[:20]
        if not status:
            raise MalformedRequest("missing field 'RecordingStatus'")
        if status == "in-progress":
            return []  # the completed callback follows with the file
        details = {"recording_status": status, "recording_sid": fields.get("RecordingSid", "").strip()[:64],
                   "recording_duration": _maybe_seconds(fields, "RecordingDuration")}
        # Recordings are voicemail, which ends the call (see twiml.voicemail).
        return event("completed", recording_url=url if status == "completed" else "", metadata=details)

    def _agent_leg(self, request: InboundRequest, fields: Mapping[str, str]) -> list[InboundEvent]:
        """The <Client> leg's answered callback: the caller's call (ParentCallSid) is now with the agent."""
        parent = twilio_webhooks.required(fields, "ParentCallSid")
        twilio_webhooks.required(fields, "CallSid")
        if CALL_STATES.get(fields.get("CallStatus", "").strip().lower()) != "in-progress":
            return []
        to = fields.get("To", "").strip()
        agent = (to[len(CLIENT_PREFIX):] if to.startswith(CLIENT_PREFIX) else request.query.get("agent", ""))[:150]
        if not agent:
            raise MalformedRequest("no agent in To or the URL")
        # The agent's leg rings the agent from the caller's number: From is the customer.
        number = fields.get("From", "").strip()
        caller = (Sender("phone", number) if twilio_webhooks.E164.fullmatch(number)
                  else Sender(WITHHELD_KIND, parent, "Withheld number"))
        return [CallEvent(call_id=parent, caller=caller, status="in-progress", at=_at(fields),
                          metadata={"answered_by": agent})]

    def respond(self, account: AccountInfo, request: InboundRequest, outcomes: Sequence[Outcome]) -> WebhookReply:
        fields = twilio_webhooks.fields(request)
        cfg = twiml.settings(account, fields)
        contact = _contact(outcomes)
        endpoint = request.endpoint
        if endpoint == "call":
            body = self._place(account, cfg, contact, arriving=True)
        elif endpoint == "wait":
            body = self._waiting(cfg, contact, fields)
        elif endpoint == "queue_result":
            left = fields.get("QueueResult", "").strip().lower()
            body = self._place(account, cfg, contact, arriving=False) if left in QUEUE_LEFT_TO_US else twiml.empty()
        elif endpoint == "dial_result":
            answered = fields.get("DialCallStatus", "").strip().lower() in DIAL_ANSWERED
            body = twiml.hang_up() if answered else twiml.voicemail(account, cfg)
        elif endpoint == "voicemail":
            body = twiml.goodbye(cfg)
        else:
            body = twiml.empty()
        return WebhookReply(body=body.encode(), content_type="text/xml; charset=utf-8")

    @staticmethod
    def _place(account: AccountInfo, cfg: twiml.CallSettings, contact: ContactState | None, *, arriving: bool) -> str:
        """Where the caller goes: to the agent who has the conversation; to voicemail out of hours (or,
        leaving the queue, when nobody took the call); else into the queue."""
        if contact is not None and contact.assignee:
            return twiml.dial(account, cfg, contact.assignee)
        if not arriving or (contact is not None and contact.out_of_hours):
            return twiml.voicemail(account, cfg)
        return twiml.enqueue(account, cfg)

    @staticmethod
    def _waiting(cfg: twiml.CallSettings, contact: ContactState | None, fields: Mapping[str, str]) -> str:
        """Twilio asks this each time the hold music ends: leave the queue once an agent has the
        conversation, the queue closed, or the caller waited longer than `max_wait_seconds`."""
        raw = fields.get("QueueTime", "").strip()
        # Twilio's count is this call's own wait; the conversation may have waited longer (a callback task).
        waited = float(raw) if SECONDS.fullmatch(raw) else (contact.waited_seconds if contact is not None else 0.0)
        if contact is not None and (contact.assignee or contact.out_of_hours):
            return twiml.leave()
        if cfg.max_wait_seconds and waited >= cfg.max_wait_seconds:
            return twiml.leave()
        return twiml.hold(cfg, contact.position if contact is not None else None, waited)

    # --- outbound -----------------------------------------------------------------------------------

    def send(self, account: AccountInfo, message: OutboundMessage) -> SendResult:
        raise PermanentFailure(REPLY_REFUSED)
