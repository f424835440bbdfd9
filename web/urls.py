from __future__ import annotations

from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from web import views

urlpatterns = [
    # Browsers ask for /favicon.ico on every page; without it each page logs a 404 in the console.
    path("favicon.ico", RedirectView.as_view(url=static("web/favicon.svg"), permanent=True)),
    path("supervisor/search", views.search, name="supervisor-search"),
    # The address is written without a slash; a typed or bookmarked one with it still arrives (query kept).
    path("supervisor/search/", RedirectView.as_view(pattern_name="supervisor-search", query_string=True)),
    # The chat widget and its demo page (/widget.js, /demo/, /chat/...).
    path("", include("web.chat_urls")),
    # The agent inbox and sign-in (/inbox/, /login/, /logout/).
    path("", include("web.inbox_urls")),
    # The supervisor's wallboard (/supervisor/).
    path("", include("web.wallboard_urls")),
]
