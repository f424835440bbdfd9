from __future__ import annotations

from django.urls import URLPattern, URLResolver, path
from django.views.generic import RedirectView

from web import wallboard_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("supervisor/", wallboard_views.wallboard, name="supervisor-wallboard"),
    path("supervisor", RedirectView.as_view(pattern_name="supervisor-wallboard", query_string=True)),
]
