"""What callers hear, in English and Chinese (Mandarin, simplified). An account's config may replace the
voicemail prompt (`voicemail_prompt`, `voicemail_prompt_zh`)."""

# Chinese text is written with full-width punctuation, which RUF001 takes for look-alikes of ASCII.
# ruff: noqa: RUF001

from __future__ import annotations

from collections.abc import Mapping

PROMPTS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "voicemail": "Sorry, nobody can take your call right now. Please leave a message after the tone, "
                     "and we will call you back.",
        "position": "You are number {n} in line. Thank you for waiting.",
        "thanks": "Thank you for your message. We will call you back. Goodbye.",
        "no_message": "We did not get a message. Goodbye.",
    },
    "zh": {
        "voicemail": "您好，现在没有客服可以接听您的电话。请在提示音后留言，我们会尽快给您回电。",
        "position": "您现在排在第{n}位，感谢您的耐心等待。",
        "thanks": "谢谢您的留言，我们会尽快给您回电。再见。",
        "no_message": "没有收到您的留言。再见。",
    },
}
