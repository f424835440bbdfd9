"""The TwiML the voice connector answers Twilio with, and the settings it reads from the account's config.

The call flow (docs/_drafts/voice.md): the caller is enqueued with hold music; Twilio asks the wait URL
again each time the music ends, and that answer is <Leave/> once an agent has the conversation (or the
caller waited too long, or the queue closed); the Enqueue's action URL then dials the agent's Twilio
Client, or offers voicemail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from twilio.twiml.voice_response import Dial, VoiceResponse

from connectors.base import AccountInfo
from connectors.voice.prompts import PROMPTS

DEFAULT_HOLD_MUSIC = "https://demo.twilio.com/docs/classic.mp3"
DEFAULT_MAX_WAIT_SECONDS = 300
# Twilio transcribes recordings of 2 to 120 seconds only.
DEFAULT_VOICEMAIL_SECONDS = 120
# As long as routing lets a voice offer ring (routing/core/model.DEFAULT_OFFER_TIMEOUT).
DEFAULT_DIAL_TIMEOUT = 20
DEFAULT_QUEUE_NAME = "hub"
DEFAULT_SAY_VOICE = "alice"  # the voice Twilio documents for both en-US and zh-CN
# The wait URL announces the caller's place when its request falls in the first seconds of a minute of
# waiting: about once a minute, without state, whatever the length of the hold music.
ANNOUNCE_WINDOW_SECONDS = 10
# Twilio's <Pause> between polls when no hold music is configured.
SILENT_HOLD_SECONDS = 10

def _int(config: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    """A number from the account's config, within bounds; the default when it is missing or unreadable
    (an answer to a caller must never fail on a typo in the config)."""
    try:
        value = int(config.get(key, default))
    except (TypeError, ValueError):
        return default
    return min(max(value, low), high)


@dataclass(frozen=True)
class CallSettings:
    hold_music_url: str
    max_wait_seconds: int  # 0: callers wait until an agent answers or they hang up
    voicemail_prompt: str
    voicemail_seconds: int
    dial_timeout: int
    queue_name: str
    language: str
    voice: str
    announce_position: bool

    @property
    def family(self) -> str:
        return "zh" if self.language.lower().startswith(("zh", "cmn")) else "en"

    def prompt(self, name: str) -> str:
        return PROMPTS[self.family][name]


def settings(account: AccountInfo, fields: Mapping[str, str]) -> CallSettings:
    """The account's call settings for this caller: `language` "auto" (the default) answers callers from a
    Chinese number in Chinese (zh-CN), everyone else in English (en-US)."""
    config = account.config
    language = str(config.get("language") or "auto").strip()
    if language.lower() == "auto":
        outbound = fields.get("Direction", "").startswith("outbound")
        number = fields.get("To", "") if outbound else fields.get("From", "")
        country = fields.get("CallerCountry") or fields.get("FromCountry") or ""
        language = "zh-CN" if number.startswith("+86") or country.upper() == "CN" else "en-US"
    chinese = language.lower().startswith(("zh", "cmn"))
    family = "zh" if chinese else "en"
    prompt = str(config.get("voicemail_prompt_zh" if chinese else "voicemail_prompt") or PROMPTS[family]["voicemail"])
    voice = str(config.get("say_voice_zh" if chinese else "say_voice") or config.get("say_voice") or DEFAULT_SAY_VOICE)
    hold = config.get("hold_music_url", DEFAULT_HOLD_MUSIC)
    return CallSettings(
        hold_music_url=str(hold) if hold is not None else "",
        max_wait_seconds=_int(config, "max_wait_seconds", DEFAULT_MAX_WAIT_SECONDS, 0, 24 * 3600),
        voicemail_prompt=prompt[:1000],
        voicemail_seconds=_int(config, "voicemail_max_seconds", DEFAULT_VOICEMAIL_SECONDS, 2, 3600),
        dial_timeout=_int(config, "dial_timeout_seconds", DEFAULT_DIAL_TIMEOUT, 5, 600),
        queue_name=(str(config.get("queue_name") or DEFAULT_QUEUE_NAME).strip() or DEFAULT_QUEUE_NAME)[:64],
        language=language[:16],
        voice=voice[:64],
        announce_position=bool(config.get("announce_position", True)),
    )


def callback_url(account: AccountInfo, endpoint: str, **extra: str) -> str:
    """Where Twilio reports back for this account. The account's number rides in the query (Twilio signs
    the whole URL), because some callbacks (recordings, the agent's leg) do not carry it."""
    query = urlencode({"account": account.address, **extra})
    return f"{account.public_url.rstrip('/')}/webhooks/twilio/voice/{endpoint}?{query}"


def _xml(response: VoiceResponse) -> str:
    return str(response)


def _say(response: VoiceResponse, cfg: CallSettings, text: str) -> None:
    response.say(text, voice=cfg.voice, language=cfg.language)


def enqueue(account: AccountInfo, cfg: CallSettings) -> str:
    response = VoiceResponse()
    response.enqueue(cfg.queue_name, wait_url=callback_url(account, "wait"), wait_url_method="POST",
                     action=callback_url(account, "queue-result"), method="POST")
    return _xml(response)


def hold(cfg: CallSettings, position: int | None, queue_seconds: float) -> str:
    """One round of waiting: Twilio asks again when it is over, so keep it short (10-20 s of music)."""
    response = VoiceResponse()
    if cfg.announce_position and position and queue_seconds % 60 < ANNOUNCE_WINDOW_SECONDS:
        _say(response, cfg, cfg.prompt("position").format(n=position))
    if cfg.hold_music_url:
        response.play(cfg.hold_music_url)
    else:
        response.pause(length=SILENT_HOLD_SECONDS)
    return _xml(response)


def leave() -> str:
    response = VoiceResponse()
    response.leave()
    return _xml(response)


def dial(account: AccountInfo, cfg: CallSettings, agent: str) -> str:
    """Connect the caller to the agent's Twilio Client (identity: the agent's username). The answered
    callback tells the hub the call was taken; the action reports how the agent's leg ended."""
    response = VoiceResponse()
    connect = Dial(action=callback_url(account, "dial-result", agent=agent), method="POST",
                   timeout=cfg.dial_timeout, answer_on_bridge=True)
    connect.client(agent, status_callback_event="answered",
                   status_callback=callback_url(account, "agent-status", agent=agent), status_callback_method="POST")
    response.append(connect)
    return _xml(response)


def voicemail(account: AccountInfo, cfg: CallSettings) -> str:
    response = VoiceResponse()
    _say(response, cfg, cfg.voicemail_prompt)
    response.record(action=callback_url(account, "voicemail-done"), method="POST", max_length=cfg.voicemail_seconds,
                    play_beep=True, transcribe=True, transcribe_callback=callback_url(account, "transcription"),
                    recording_status_callback=callback_url(account, "recording"),
                    recording_status_callback_method="POST", recording_status_callback_event="completed absent")
    # Reached only when the recording was empty: Twilio then skips the action URL.
    _say(response, cfg, cfg.prompt("no_message"))
    response.hangup()
    return _xml(response)


def goodbye(cfg: CallSettings) -> str:
    response = VoiceResponse()
    _say(response, cfg, cfg.prompt("thanks"))
    response.hangup()
    return _xml(response)


def hang_up() -> str:
    response = VoiceResponse()
    response.hangup()
    return _xml(response)


def empty() -> str:
    return _xml(VoiceResponse())
