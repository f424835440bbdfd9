"""The supervisor's live wallboard, `/supervisor/`: a server-rendered shell plus one ES module
(web/static/web/wallboard.js) that reads GET /api/v1/metrics/wallboard/ and refetches it when the agent
websocket (/ws/agent/) reports a change. Figures and formulas: docs/metrics.md."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language, gettext, pgettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from hub.access import sees_everything


def script_strings() -> dict[str, Any]:
    """Every text wallboard.js shows, in the request's language; `{name}` placeholders are filled in by
    the script."""
    return {
        "connection": {
            "open": gettext("Live"),
            "connecting": gettext("Connecting…"),
            "closed": gettext("Disconnected: figures refresh every 10 seconds"),
        },
        "updated": gettext("Updated {time}"),
        "load_failed": gettext("The figures could not be loaded (error {status})."),
        "network": gettext("The hub cannot be reached. Retrying…"),
        "signed_out": gettext("Your session has ended."),
        "sign_in": gettext("Sign in again"),
        "overall": gettext("All queues"),
        "inactive": gettext("(inactive)"),
        "no_agents": gettext("No agents yet."),
        "no_waiting": gettext("Nobody is waiting."),
        "no_conversations": gettext("No conversations"),
        "threshold": gettext("target {target} within {seconds} s"),
        "force_assign": gettext("Assign a waiting conversation"),
        "reassign": gettext("Reassign"),
        "choose_conversation": gettext("Conversation"),
        "choose_agent": gettext("To agent"),
        "assign": gettext("Assign"),
        "cancel": gettext("Cancel"),
        "assigned": gettext("Conversation #{id} assigned to {agent}."),
        "assign_failed": gettext("Assignment failed: {reason}"),
        "waiting_item": gettext("#{id} {customer} · {channel} · waiting {wait}"),
        "held_item": gettext("#{id} {customer} · {channel}"),
        "no_name": gettext("(no name)"),
        "offered_to": gettext("ringing"),
        "chart_title": gettext("Today by hour: conversations arrived (bars) and service level (line)"),
        "chart_offered": gettext("arrived"),
        "chart_answered": gettext("answered"),
        "chart_sl": gettext("service level"),
        "chart_empty": gettext("No conversations today yet."),
        "presence": {
            "available": pgettext("presence", "available"),
            "away": pgettext("presence", "away"),
            "busy": pgettext("presence", "busy"),
            "offline": pgettext("presence", "offline"),
        },
        "presence_reason": {
            "missed_offers": pgettext("presence reason", "offers unanswered"),
            "disconnected": pgettext("presence reason", "inbox closed"),
            "signed_out": pgettext("presence reason", "signed out"),
        },
        "role": {
            "agent": pgettext("role", "agent"),
            "supervisor": pgettext("role", "supervisor"),
            "admin": pgettext("role", "administrator"),
        },
    }


@require_safe
@never_cache  # per user and per language: no shared cache may keep it
@login_required  # anonymous: to settings.LOGIN_URL and back
def wallboard(request: HttpRequest) -> HttpResponse:
    if not (request.user.is_active and sees_everything(request.user)):
        return render(request, "web/wallboard.html", {"forbidden": True}, status=403)
    config = {
        "api": reverse("api-metrics-wallboard"),
        "assign": reverse("api-assign", args=[0]).replace("/0/", "/{id}/"),
        "ws": "/ws/agent/",
        "login": settings.LOGIN_URL,
        "lang": get_language(),
        "refresh_seconds": 10,
        "min_interval_seconds": 1,
    }
    return render(request, "web/wallboard.html", {"strings": script_strings(), "config": config})
