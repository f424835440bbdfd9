"""The agent's unified inbox (`/inbox/`) and the hub's own sign-in page (`/login/`, `/logout/`).

The inbox is a server-rendered shell plus ES modules (web/static/web/inbox.js, web/static/web/inbox/) that
read the API (`/api/v1/inbox/`, `/timeline/`, `/profile/`...) with the browser's session and follow
`/ws/agent/` (docs/protocol.md). The API applies every permission; this page only decides who may load it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import get_language, gettext, pgettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from hub.access import sees_everything
from hub.events.payloads import user_display_name
from web.views import may_search

LOGIN_URL = "/login/"


class HubLoginView(LoginView):
    """Django's login with the hub's page; after it, ?next= or the inbox."""

    template_name = "web/login.html"
    redirect_authenticated_user = True
    next_page = "/inbox/"


def inbox_strings() -> dict[str, Any]:
    """Every text the inbox scripts show, in the request's language. `{name}` placeholders are filled in
    by the script."""
    return {
        "connection": {"open": gettext("Connected"), "connecting": gettext("Connecting…"),
                       "closed": gettext("Offline: reconnecting")},
        "signed_out": gettext("Your session has ended: sign in again."),
        # Why the hub changed the agent's presence itself (AgentProfile.presence_reason).
        "presence_reason": {
            "missed_offers": gettext("Routing set you away: offers in a row went unanswered. Choose Available when "
                                     "you are back."),
            "disconnected": gettext("You were set offline while your inbox was closed. Choose Available to take "
                                    "work."),
            "signed_out": gettext("You were set offline when you signed out. Choose Available to take work."),
        },
        "no_conversations": gettext("Nothing here."),
        "load_more": gettext("Load more"),
        "no_name": gettext("(no name)"),
        "no_subject": gettext("(no subject)"),
        "waiting": gettext("waiting {time}"),
        "unread": gettext("{n} unread"),
        "priority": {"0": pgettext("priority", "low"), "1": pgettext("priority", "normal"),
                     "2": pgettext("priority", "high"), "3": pgettext("priority", "urgent")},
        "status": {"open": pgettext("conversation status", "open"),
                   "pending": pgettext("conversation status", "pending"),
                   "snoozed": pgettext("conversation status", "snoozed"),
                   "resolved": pgettext("conversation status", "resolved")},
        "delivery": {"queued": pgettext("delivery status", "queued"), "sent": pgettext("delivery status", "sent"),
                     "delivered": pgettext("delivery status", "delivered"),
                     "read": pgettext("delivery status", "read"), "failed": pgettext("delivery status", "failed"),
                     "received": pgettext("delivery status", "received")},
        "channel": {"email": pgettext("channel", "Email"), "sms": pgettext("channel", "SMS"),
                    "webchat": pgettext("channel", "Web chat"), "social": pgettext("channel", "Social"),
                    "voice": pgettext("channel", "Voice"), "slack": pgettext("channel", "Slack")},
        "tier": {"standard": pgettext("value tier", "Standard"), "gold": pgettext("value tier", "Gold"),
                 "vip": pgettext("value tier", "VIP")},
        "conversation_start": gettext("Conversation #{id} · {channel} · {status}"),
        "public": pgettext("badge of a public post", "public"),
        "public_title": gettext("Public post or comment: anyone can see it on the channel"),
        "note": pgettext("badge of an internal note", "note"),
        "note_title": gettext("Internal note: only agents see it"),
        "show_quoted": gettext("Show quoted text"),
        "hide_quoted": gettext("Hide quoted text"),
        "call": gettext("Call · {duration}"),
        "call_status": gettext("call {status}"),
        "recording": gettext("Recording"),
        "transcript": gettext("Transcript"),
        "thread": gettext("in a Slack thread"),
        "attachment": gettext("Attachment: {name}"),
        "older_truncated": gettext("Older messages are not shown here: search finds them."),
        "typing": gettext("{name} is typing…"),
        "someone": gettext("The customer"),
        "reply_placeholder": gettext("Reply… (type / for canned responses)"),
        "note_placeholder": gettext("Internal note: only agents see it"),
        "send_reply": gettext("Send"),
        "send_note": gettext("Add note"),
        "sending_failed": gettext("Not sent: {reason}"),
        "no_canned": gettext("No canned response matches."),
        "offer_title": gettext("New conversation offered"),
        "accept": gettext("Accept"),
        "decline": gettext("Decline"),
        "offer_expires": gettext("{seconds} s"),
        "notify_body": gettext("{customer} on {channel}"),
        "identities": gettext("Addresses"),
        "history": gettext("Conversations"),
        "csat": gettext("Last rating: {score}/5"),
        "no_csat": gettext("No rating yet"),
        "notes": gettext("Notes"),
        "no_notes": gettext("No notes"),
        "no_tags": gettext("No tags"),
        "snooze_until": gettext("Snooze until:"),
        "tags_prompt": gettext("Tags, separated by commas:"),
        "transfer_to": gettext("Transfer to:"),
        "transfer_agent": gettext("Agent: {name}"),
        "transfer_team": gettext("Team queue: {name}"),
        "merge_search": gettext("Find the customer to merge into this one (name, email, phone):"),
        "merge_confirm": gettext("Merge {source} into {target}? This can be undone."),
        "merge_none": gettext("No other customer matches."),
        "undo_merge_confirm": gettext("Undo the merge of {source}?"),
        "only_supervisors": gettext("Only supervisors may do this."),
        "cancel": gettext("Cancel"),
        "ok": gettext("OK"),
        "error": gettext("Something went wrong (error {status})."),
        "network": gettext("The hub cannot be reached."),
        "reply_on": gettext("Reply on {channel}: {name}"),
        "choose": gettext("Choose"),
    }


@require_safe
@never_cache  # per user and per language
@login_required(login_url=LOGIN_URL)
def inbox(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not may_search(user):
        return render(request, "web/inbox.html", {"forbidden": True}, status=403)
    agent = getattr(user, "agent", None)
    config = {
        "user_id": user.pk,
        "name": user_display_name(user),
        "sees_everything": sees_everything(user),
        "presence": agent.presence if agent is not None else "offline",
        "presence_reason": agent.presence_reason if agent is not None else "",
        "teams": list(agent.teams.values_list("id", flat=True)) if agent is not None else [],
        "lang": get_language(),
        "login": LOGIN_URL,
    }
    return render(request, "web/inbox.html", {"strings": inbox_strings(), "config": config})
