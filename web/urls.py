from __future__ import annotations

from django.urls import path
from django.views.generic import RedirectView

from web import views

urlpatterns = [
    path("supervisor/search", views.search, name="supervisor-search"),
    # The address is written without a slash; a typed or bookmarked one with it still arrives (query kept).
    path("supervisor/search/", RedirectView.as_view(pattern_name="supervisor-search", query_string=True)),
]
