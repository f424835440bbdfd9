"""The demo's canned responses, in English and Chinese: global ones and a few per team."""

# ruff: noqa: RUF001

from __future__ import annotations

from django.contrib.auth.models import User

from hub.actions.canned import do_create_canned
from hub.models import Team

# (shortcut, title, text, team name or None for everyone's)
CANNED: tuple[tuple[str, str, str, str | None], ...] = (
    ("hello", "Greeting", "Hello {{customer.name}}, this is {{agent.name}}. How can I help you today?", None),
    ("thanks", "Thanks and goodbye", "Thank you for contacting us, {{customer.name}}. Have a great day!", None),
    ("wait", "One moment", "Thanks for your patience, {{customer.name}}: I am checking this for you now.", None),
    ("refund", "Refund timeline", "Your refund has been approved, {{customer.name}}. It reaches your card in "
                                  "3 to 5 working days.", "Billing"),
    ("invoice", "Invoice copy", "I have sent a copy of your invoice to the email address on your account.",
     "Billing"),
    ("vip", "VIP line", "{{customer.name}}, as a VIP customer you can reach me directly on this channel. "
                        "— {{agent.name}}", "VIP"),
    ("nihao", "问候", "{{customer.name}}您好，我是{{agent.name}}，很高兴为您服务。请问有什么可以帮您？", "中文支持"),
    ("xiexie", "感谢与结束", "感谢您的耐心，{{customer.name}}。如还有其他问题，欢迎随时联系我们！", "中文支持"),
    ("tuikuan", "退款说明", "{{customer.name}}您好，您的退款已审核通过，预计3至5个工作日原路退回。", "中文支持"),
)


def create_canned(teams: dict[str, Team], author: User) -> None:
    for shortcut, title, text, team in CANNED:
        do_create_canned(author, {"shortcut": shortcut, "title": title, "text": text,
                                  "team": teams[team] if team else None})
