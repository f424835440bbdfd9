"""The hub's own web pages (the admin aside). For now: the search page, `/supervisor/search`.

The page is a server-rendered shell plus one ES module (web/static/web/search.js) that calls the search API
(`GET /api/v1/search/`, docs/search.md) with the browser's session. The API applies the permissions, so the
page shows each user only what they may open; the page itself only decides who may load it at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language, gettext, ngettext, pgettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

SORTS = ("relevance", "newest", "oldest")
MODES = ("conversations", "messages")
# Results per request; "Load more" asks for the next page with the API's cursor.
PAGE_SIZE = 20


def may_search(user: Any) -> bool:
    """The API's own rule (hub/api/permissions.py IsAgent): an agent profile, or a superuser who needs
    none. Loading a page whose every request the API would refuse helps nobody."""
    return bool(user.is_authenticated and user.is_active
                and (user.is_superuser or getattr(user, "agent", None) is not None))


def _plural(count_text: Callable[[int], str]) -> dict[str, str]:
    """A count's text in its two English forms, for the script to choose from with Intl.PluralRules (a
    language with one form, such as Chinese, gets the same text twice). `count_text` calls ngettext with
    literal strings, so that makemessages finds them."""
    return {"one": count_text(1), "other": count_text(2)}


def script_strings() -> dict[str, Any]:
    """Every text search.js shows, in the request's language (called while it is active). `{name}`
    placeholders are filled in by the script."""
    return {
        "searching": gettext("Searching…"),
        "loading_more": gettext("Loading…"),
        "conversations_found": _plural(lambda n: ngettext("{n} conversation", "{n} conversations", n)),
        "messages_found": _plural(lambda n: ngettext("{n} message", "{n} messages", n)),
        "shown": gettext("showing {shown}"),
        "no_results": gettext("Nothing matches this search."),
        "sort_fallback": gettext("No words to rank by relevance: newest first."),
        "query_error": gettext("This query cannot be run:"),
        "query_error_here": gettext("The problem is here:"),
        "unavailable": gettext("Search is unavailable for a moment (the search engine cannot be reached). "
                               "Nothing is lost: try again shortly."),
        "retry": gettext("Try again"),
        "signed_out": gettext("Your session has ended."),
        "sign_in": gettext("Sign in again"),
        "not_allowed": gettext("This account may not search."),
        "throttled": gettext("Too many searches at once: wait a moment and try again."),
        "cursor_error": gettext("These results have changed since they were loaded: search again."),
        "failed": gettext("The search failed (error {status}). Try again."),
        "network": gettext("The hub cannot be reached. Check the connection and try again."),
        "no_subject": gettext("(no subject)"),
        "no_name": gettext("(no name)"),
        "team": gettext("Team: {team}"),
        "assignee": gettext("Assignee: {assignee}"),
        "no_team": gettext("no team"),
        "unassigned": gettext("unassigned"),
        "note": pgettext("badge of an internal note", "note"),
        "note_title": gettext("Internal note: only agents see it"),
        "public": pgettext("badge of a public post", "public"),
        "public_title": gettext("Public post or comment: anyone can see it on the channel"),
        "direction_in": gettext("from the customer"),
        "direction_out": gettext("to the customer"),
        "open_conversation": gettext("Open the conversation"),
        "add_filter": gettext("Add {filter} to the query"),
        "cannot_filter": gettext("This value cannot be written as a filter"),
        "status": {
            "open": pgettext("conversation status", "open"),
            "pending": pgettext("conversation status", "pending"),
            "snoozed": pgettext("conversation status", "snoozed"),
            "resolved": pgettext("conversation status", "resolved"),
        },
        "channel": {
            "email": pgettext("channel", "Email"),
            "sms": pgettext("channel", "SMS"),
            "webchat": pgettext("channel", "Web chat"),
            "social": pgettext("channel", "Social"),
            "voice": pgettext("channel", "Voice"),
            "slack": pgettext("channel", "Slack"),
        },
    }


def _choice(value: str | None, choices: tuple[str, ...]) -> str:
    return value if value in choices else choices[0]


@require_safe
@never_cache  # per user and per language: no shared cache may keep it
@login_required  # anonymous: to settings.LOGIN_URL (the admin's login page) and back
def search(request: HttpRequest) -> HttpResponse:
    """The search page; the query, sort and mode live in the URL so that a search can be shared."""
    if not may_search(request.user):
        return render(request, "web/search.html", {"forbidden": True}, status=403)
    q = request.GET.get("q", "")
    config = {
        "api": reverse("api-search"),
        "export": reverse("api-search-export"),
        "login": settings.LOGIN_URL,
        "lang": get_language(),
        "page_size": PAGE_SIZE,
    }
    return render(request, "web/search.html", {
        "q": q,
        "sort": _choice(request.GET.get("sort"), SORTS),
        "mode": _choice(request.GET.get("mode"), MODES),
        "strings": script_strings(),
        "config": config,
    })
