"""Twilio's messaging error codes, in words an agent can act on (status callbacks carry only the number)."""

from __future__ import annotations

READABLE: dict[str, str] = {
    "30001": "Twilio's sending queue for this number overflowed; the message was dropped",
    "30002": "the Twilio account is suspended",
    "30003": "the customer's phone is unreachable (switched off or out of coverage)",
    "30004": "the message was blocked (the customer or their carrier blocks messages from this number)",
    "30005": "the number is unknown to its carrier (it may no longer exist)",
    "30006": "the number is a landline or its carrier cannot receive text messages",
    "30007": "the carrier filtered the message as spam or a policy violation",
    "30008": "the carrier reported an unknown delivery error",
    "30032": "the toll-free sending number has not been verified",
    "30034": "the sending number is not registered for A2P 10DLC messaging in the US",
    "21211": "the number is not a valid phone number",
    "21408": "this Twilio account may not send messages to the customer's country",
    "21610": "the customer has unsubscribed from this number (replied STOP)",
    "21612": "the number cannot be reached by text message from this sender",
    "21614": "the number is not a mobile number",
    "21617": "the message is longer than 1600 characters",
}


def describe(code: str, message: str = "") -> str:
    """A failure reason for the agent: the known explanation, else Twilio's own message, with the code."""
    code = code.strip()
    text = READABLE.get(code) or message.strip() or "Twilio reported a delivery failure"
    return f"{text[:1].upper()}{text[1:]} (Twilio error {code})" if code else text
